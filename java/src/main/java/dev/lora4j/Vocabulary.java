package dev.lora4j;

import dev.lora4j.internal.ModelHandle;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The model's tokenizer: text ↔ token ids, special tokens. Valid while its {@link Model} is open. */
public final class Vocabulary {
    private static final int ATTR_UNKNOWN = 1; // LLAMA_TOKEN_ATTR_UNKNOWN
    private final ModelHandle model;
    private final int size;

    Vocabulary(ModelHandle model) {
        this.model = model;
        this.size = model.vocabSize();
    }

    public int size() {
        return size;
    }

    /** Tokenizer kind: SPM, BPE, WPM, UGM, RWKV, PLAMO2 or NONE. */
    public String type() {
        return switch (model.vocabType()) {
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
        return model.bos();
    }

    public int eos() {
        return model.eos();
    }

    public int eot() {
        return model.eot();
    }

    public boolean addsBos() {
        return model.addsBos();
    }

    /** Whether the token ends generation (EOS, EOT, …). */
    public boolean isEndOfGeneration(int token) {
        checkToken(token);
        return model.isEndOfGeneration(token);
    }

    public boolean isControl(int token) {
        checkToken(token);
        return model.isControl(token);
    }

    /** The token's text as stored in the vocabulary (SPM pieces keep their ▁). */
    public String tokenText(int token) {
        checkToken(token);
        return model.tokenText(token);
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
        int[] tokens;
        try {
            tokens = model.tokenize(utf8, addSpecial, parseSpecial);
        } catch (TokenizationException e) {
            String what = text.codePointCount(0, text.length()) <= 1 ? "'" + text + "'" : describeUnknown(text);
            throw new TokenizationException("the vocabulary (" + type() + ", " + size + " tokens) cannot encode "
                    + what + " (llama.cpp: " + e.getMessage() + ")");
        }
        if (!allowUnknown) {
            for (int i = 0; i < tokens.length; i++) {
                if (isUnknown(tokens[i])) {
                    throw new TokenizationException("the vocabulary (" + type() + ", " + size + " tokens) cannot encode "
                            + describeUnknown(text) + "; it became the unknown token " + tokens[i] + " at position " + i);
                }
            }
        }
        return tokens;
    }

    /**
     * Whether a token llama.cpp produced is the unknown token. A vocabulary without an unknown token makes
     * llama.cpp emit -1 for what it cannot encode; llama_vocab_get_attr would throw through the FFM frame on it.
     */
    private boolean isUnknown(int token) {
        return token < 0 || token >= size || (model.tokenAttributes(token) & ATTR_UNKNOWN) != 0;
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
                    bad |= isUnknown(tok);
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
        return model.tokenBytes(token, special);
    }

    /** Decodes tokens to text (invalid UTF-8 at the edges becomes U+FFFD). */
    public String detokenize(int[] tokens, boolean removeSpecial, boolean unparseSpecial) {
        return new String(model.detokenize(tokens, removeSpecial, unparseSpecial), StandardCharsets.UTF_8);
    }

    private void checkToken(int token) {
        if (token < 0 || token >= size) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary [0, " + size + ")");
        }
    }
}
