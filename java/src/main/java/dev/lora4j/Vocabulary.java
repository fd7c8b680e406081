package dev.lora4j;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.internal.Llama;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The model's tokenizer: text ↔ token ids, special tokens. Valid while its {@link Model} is open. */
public final class Vocabulary {
    private static final int ATTR_UNKNOWN = 1; // LLAMA_TOKEN_ATTR_UNKNOWN
    private final Model model;
    private final MemorySegment vocab;
    private final int size;

    Vocabulary(Model model, MemorySegment vocab) {
        this.model = model;
        this.vocab = vocab;
        this.size = llama_vocab_n_tokens(vocab);
    }

    private MemorySegment vocab() {
        model.pointer(); // throws if the model is closed
        return vocab;
    }

    public int size() {
        return size;
    }

    /** Tokenizer kind: SPM, BPE, WPM, UGM, RWKV, PLAMO2 or NONE. */
    public String type() {
        return switch (llama_vocab_type(vocab())) {
            case 1 -> "SPM";
            case 2 -> "BPE";
            case 3 -> "WPM";
            case 4 -> "UGM";
            case 5 -> "RWKV";
            case 6 -> "PLAMO2";
            case 7 -> "TEST";
            default -> "NONE";
        };
    }

    public int bos() {
        return llama_vocab_bos(vocab());
    }

    public int eos() {
        return llama_vocab_eos(vocab());
    }

    public int eot() {
        return llama_vocab_eot(vocab());
    }

    public boolean addsBos() {
        return llama_vocab_get_add_bos(vocab());
    }

    /** Whether the token ends generation (EOS, EOT, …). */
    public boolean isEndOfGeneration(int token) {
        checkToken(token);
        return llama_vocab_is_eog(vocab(), token);
    }

    public boolean isControl(int token) {
        checkToken(token);
        return llama_vocab_is_control(vocab(), token);
    }

    /** The token's text as stored in the vocabulary (SPM pieces keep their ▁). */
    public String tokenText(int token) {
        checkToken(token);
        return llama_vocab_get_text(vocab(), token).getString(0);
    }

    /**
     * Encodes text; fails on text the vocabulary cannot represent (a character that becomes the unknown token,
     * or a string that is not valid Unicode).
     *
     * @param addSpecial   add BOS/EOS as the model wants
     * @param parseSpecial treat special-token text (e.g. {@code <s>}) as the special token
     */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        return tokenize(text, addSpecial, parseSpecial, false);
    }

    /** As {@link #tokenize(String, boolean, boolean)}, but {@code allowUnknown} keeps unknown tokens instead of failing. */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial, boolean allowUnknown) {
        byte[] utf8 = strictUtf8(text);
        MemorySegment v = vocab();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(Math.max(1, utf8.length));
            MemorySegment.copy(utf8, 0, bytes, ValueLayout.JAVA_BYTE, 0, utf8.length);
            int cap = utf8.length + 8;
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT, cap);
            Llama.clearLastError();
            int n = lora4j_h.lora4j_tokenize(v, bytes, utf8.length, out, cap, addSpecial, parseSpecial);
            if (n == Integer.MIN_VALUE) {
                String reason = Llama.reason();
                String what = text.codePointCount(0, text.length()) <= 1 ? "'" + text + "'" : describeUnknown(text);
                throw new TokenizationException("the vocabulary (" + type() + ", " + size + " tokens) cannot encode "
                        + what + " (llama.cpp: " + reason + ")");
            }
            if (n < 0) {
                cap = -n;
                out = arena.allocate(ValueLayout.JAVA_INT, cap);
                n = lora4j_h.lora4j_tokenize(v, bytes, utf8.length, out, cap, addSpecial, parseSpecial);
                if (n < 0) {
                    throw new TokenizationException("tokenization failed: " + Llama.reason());
                }
            }
            int[] tokens = out.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT);
            if (!allowUnknown) {
                for (int i = 0; i < tokens.length; i++) {
                    if (isUnknown(v, tokens[i])) {
                        throw new TokenizationException("the vocabulary (" + type() + ", " + size + " tokens) cannot encode "
                                + describeUnknown(text) + "; it became the unknown token " + tokens[i] + " at position " + i);
                    }
                }
            }
            return tokens;
        }
    }

    /**
     * Whether a token llama.cpp produced is the unknown token. A vocabulary without an unknown token makes
     * llama.cpp emit -1 for what it cannot encode; llama_vocab_get_attr would throw through the FFM frame on it.
     */
    private boolean isUnknown(MemorySegment v, int token) {
        return token < 0 || token >= size || (llama_vocab_get_attr(v, token) & ATTR_UNKNOWN) != 0;
    }

    /** Names the first character that, on its own, fails to tokenize or becomes the unknown token. */
    private String describeUnknown(String text) {
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            String s = new String(Character.toChars(cp));
            boolean bad;
            try {
                bad = false;
                for (int tok : tokenize(s, false, false, true)) {
                    bad |= isUnknown(vocab, tok);
                }
            } catch (TokenizationException e) {
                bad = true;
            }
            if (bad) {
                return String.format("the character '%s' (U+%04X) at index %d", s, cp, i);
            }
            i += Character.charCount(cp);
        }
        return "the text";
    }

    private static byte[] strictUtf8(String text) {
        try {
            ByteBuffer b = StandardCharsets.UTF_8.newEncoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .encode(CharBuffer.wrap(text));
            byte[] out = new byte[b.remaining()];
            b.get(out);
            return out;
        } catch (CharacterCodingException e) {
            throw new TokenizationException("the text is not valid Unicode (an unpaired surrogate?): " + e.getMessage());
        }
    }

    /** The bytes one token stands for (may be part of a multi-byte character). */
    public byte[] tokenBytes(int token, boolean special) {
        MemorySegment v = vocab();
        try (Arena arena = Arena.ofConfined()) {
            int cap = 64;
            MemorySegment buf = arena.allocate(cap);
            Llama.clearLastError();
            int n = lora4j_h.lora4j_token_to_piece(v, token, buf, cap, 0, special);
            if (n == Integer.MIN_VALUE) {
                throw new TokenizationException(Llama.reason());
            }
            if (n < 0) {
                cap = -n;
                buf = arena.allocate(cap);
                n = lora4j_h.lora4j_token_to_piece(v, token, buf, cap, 0, special);
            }
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Decodes tokens to text (invalid UTF-8 at the edges becomes U+FFFD). */
    public String detokenize(int[] tokens, boolean removeSpecial, boolean unparseSpecial) {
        MemorySegment v = vocab();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_INT, tokens);
            int cap = tokens.length * 8 + 16;
            MemorySegment buf = arena.allocate(cap);
            Llama.clearLastError();
            int n = lora4j_h.lora4j_detokenize(v, in, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            if (n == Integer.MIN_VALUE) {
                throw new TokenizationException(Llama.reason());
            }
            if (n < 0) {
                cap = -n;
                buf = arena.allocate(cap);
                n = lora4j_h.lora4j_detokenize(v, in, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            }
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    private void checkToken(int token) {
        if (token < 0 || token >= size) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + size + ")");
        }
    }
}
