package dev.lora4j.internal;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.ChatMessage;
import dev.lora4j.Lora4jException;
import dev.lora4j.ModelLoadException;
import dev.lora4j.ModelParams;
import dev.lora4j.QuantizationException;
import dev.lora4j.TokenizationException;
import dev.lora4j.bindings.llama_chat_message;
import dev.lora4j.bindings.llama_model_params;
import dev.lora4j.bindings.llama_model_quantize_params;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A {@code llama_model} and its {@code llama_vocab}: every downcall on them, and their lifetime. The model is freed
 * when this handle and every context and adapter made from it ({@link #owner()}) have been released, in any order.
 * Reads need no exclusive use (llama.cpp's model is read-only once loaded).
 */
public final class ModelHandle {
    private final NativeHandle handle;
    private final NativeOwner owner;
    private final MemorySegment vocab;
    private final int nVocab;

    private ModelHandle(MemorySegment ptr, Rpc.Servers rpc) {
        NativeOwner o = new NativeOwner(ptr, p -> {
            llama_model_free(p);
            if (rpc != null) {
                rpc.release();
            }
        });
        this.owner = o;
        this.handle = new NativeHandle(this, "model", ptr, p -> o.release());
        this.vocab = llama_model_get_vocab(ptr);
        this.nVocab = llama_vocab_n_tokens(vocab);
    }

    /**
     * Loads a GGUF file llama.cpp can read (validated by the caller); {@link ModelLoadException} with llama.cpp's reason,
     * or naming an RPC server that does not answer.
     */
    public static ModelHandle load(Path path, ModelParams params) {
        Llama.init();
        if (!params.rpcServers().isEmpty() && params.gpuLayers() == 0) {
            throw new IllegalArgumentException("rpcServers " + params.rpcServers() + " with gpuLayers 0: llama.cpp places"
                    + " only offloaded layers on RPC servers; set gpuLayers (-1 = all)");
        }
        Rpc.Servers rpc = params.rpcServers().isEmpty() ? null : Rpc.connect(path, params.rpcServers());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mp = llama_model_default_params(arena);
            llama_model_params.n_gpu_layers(mp, params.gpuLayers() < 0 ? Integer.MAX_VALUE : params.gpuLayers());
            llama_model_params.main_gpu(mp, params.mainGpu());
            if (rpc != null) {
                llama_model_params.devices(mp, rpc.deviceList(arena));
            }
            llama_model_params.split_mode(mp, params.splitMode().id());
            llama_model_params.vocab_only(mp, params.vocabOnly());
            llama_model_params.check_tensors(mp, params.checkTensors());
            llama_model_params.use_extra_bufts(mp, params.useExtraBufts());
            // enum llama_load_mode: mmap and/or mlock, or plain reads (NONE)
            llama_model_params.load_mode(mp, params.useMmap()
                    ? (params.useMlock() ? LLAMA_LOAD_MODE_MMAP_MLOCK() : LLAMA_LOAD_MODE_MMAP())
                    : (params.useMlock() ? LLAMA_LOAD_MODE_MLOCK() : LLAMA_LOAD_MODE_NONE()));
            NativeErrors.clear();
            MemorySegment ptr = lora4j_h.lora4j_model_load(arena.allocateFrom(path.toString()), mp);
            if (ptr.equals(MemorySegment.NULL)) {
                throw NativeErrors.error(m -> new ModelLoadException(path, m), "llama.cpp could not load the model");
            }
            return new ModelHandle(ptr, rpc);
        } catch (RuntimeException e) {
            if (rpc != null) {
                rpc.release();
            }
            throw e;
        }
    }

    /** {@code llama_model_quantize} from {@code input} to {@code output}; {@link QuantizationException} with llama.cpp's reason. */
    public static void quantize(Path input, Path output, int fileType, String typeName, int threads, boolean allowRequantize) {
        Llama.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment qp = llama_model_quantize_default_params(arena);
            llama_model_quantize_params.ftype(qp, fileType);
            llama_model_quantize_params.nthread(qp, threads);
            llama_model_quantize_params.allow_requantize(qp, allowRequantize);
            NativeErrors.clear();
            if (lora4j_h.lora4j_model_quantize(arena.allocateFrom(input.toString()), arena.allocateFrom(output.toString()), qp) != 0) {
                throw NativeErrors.error(m -> new QuantizationException(input, m), "quantisation to " + typeName + " failed");
            }
        }
    }

    /** The pointer, for lora4j's own native calls (checks the model is open). */
    MemorySegment pointer() {
        return handle.get();
    }

    /** The reference count a context or adapter retains while it lives (checks the model is open). */
    NativeOwner owner() {
        handle.get();
        return owner;
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /** Releases this handle's reference: the model is freed once its contexts and adapters are gone too. Idempotent. */
    public void close() {
        handle.close();
    }

    // ---- the model ----

    public String description() {
        MemorySegment p = handle.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            int n = llama_model_desc(p, buf, 256);
            return n < 0 ? "" : buf.getString(0);
        }
    }

    /** Every metadata key and its value as llama.cpp renders it. */
    public Map<String, String> metadata() {
        MemorySegment p = handle.get();
        Map<String, String> out = new LinkedHashMap<>();
        try (Arena arena = Arena.ofConfined()) {
            int n = llama_model_meta_count(p);
            for (int i = 0; i < n; i++) {
                int index = i;
                out.put(readString(arena, 256, (buf, size) -> llama_model_meta_key_by_index(p, index, buf, size)),
                        readString(arena, 4096, (buf, size) -> llama_model_meta_val_str_by_index(p, index, buf, size)));
            }
        }
        return out;
    }

    public Optional<String> metadata(String key) {
        MemorySegment p = handle.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment k = arena.allocateFrom(key);
            MemorySegment probe = arena.allocate(1);
            if (llama_model_meta_val_str(p, k, probe, 1) < 0) {
                return Optional.empty();
            }
            return Optional.of(readString(arena, 4096, (buf, size) -> llama_model_meta_val_str(p, k, buf, size)));
        }
    }

    @FunctionalInterface
    private interface StringCall {
        int call(MemorySegment buf, long size);
    }

    private static String readString(Arena arena, int initial, StringCall call) {
        MemorySegment buf = arena.allocate(initial);
        int n = call.call(buf, initial);
        if (n >= initial) {
            buf = arena.allocate(n + 1L);
            n = call.call(buf, n + 1L);
        }
        return n < 0 ? "" : buf.getString(0, StandardCharsets.UTF_8);
    }

    public Optional<String> chatTemplate() {
        MemorySegment t = llama_model_chat_template(handle.get(), MemorySegment.NULL);
        return t.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(t.getString(0));
    }

    /** {@code llama_chat_apply_template} (needs no model: the template is given). */
    public static String applyChatTemplate(String template, List<ChatMessage> messages, boolean addAssistantPrompt) {
        Llama.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment msgs = llama_chat_message.allocateArray(messages.size(), arena);
            long chars = 0;
            for (int i = 0; i < messages.size(); i++) {
                MemorySegment m = llama_chat_message.asSlice(msgs, i);
                llama_chat_message.role(m, arena.allocateFrom(messages.get(i).role()));
                llama_chat_message.content(m, arena.allocateFrom(messages.get(i).content()));
                chars += messages.get(i).content().length() + messages.get(i).role().length();
            }
            MemorySegment t = arena.allocateFrom(template);
            int cap = (int) Math.min(Integer.MAX_VALUE - 8, 2 * chars + 1024);
            MemorySegment buf = arena.allocate(cap);
            NativeErrors.clear();
            int n = lora4j_h.lora4j_chat_apply_template(t, msgs, messages.size(), addAssistantPrompt, buf, cap);
            if (n > cap) {
                buf = arena.allocate(n);
                n = lora4j_h.lora4j_chat_apply_template(t, msgs, messages.size(), addAssistantPrompt, buf, n);
            }
            if (n < 0) {
                String shown = template.length() > 80 ? template.substring(0, 77) + "..." : template;
                throw NativeErrors.error(Lora4jException::new, "cannot apply the chat template " + shown);
            }
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    public long parameterCount() {
        return llama_model_n_params(handle.get());
    }

    public long sizeBytes() {
        return llama_model_size(handle.get());
    }

    public int contextLengthTrain() {
        return llama_model_n_ctx_train(handle.get());
    }

    public int embeddingLength() {
        return llama_model_n_embd(handle.get());
    }

    /** Width of the model's output (the pooled embedding's length). */
    int outputEmbeddingLength() {
        return llama_model_n_embd_out(handle.get());
    }

    public int layerCount() {
        return llama_model_n_layer(handle.get());
    }

    public int headCount() {
        return llama_model_n_head(handle.get());
    }

    public int headCountKv() {
        return llama_model_n_head_kv(handle.get());
    }

    /** enum llama_ftype of the weights. */
    public int fileType() {
        return llama_model_ftype(handle.get());
    }

    // ---- the vocabulary (valid while the model is open) ----

    private MemorySegment vocab() {
        handle.get(); // throws if the model is closed
        return vocab;
    }

    public int vocabSize() {
        return nVocab;
    }

    /** enum llama_vocab_type. */
    public int vocabType() {
        return llama_vocab_type(vocab());
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

    public boolean isEndOfGeneration(int token) {
        return llama_vocab_is_eog(vocab(), token);
    }

    public boolean isControl(int token) {
        return llama_vocab_is_control(vocab(), token);
    }

    public String tokenText(int token) {
        return llama_vocab_get_text(vocab(), token).getString(0);
    }

    /** enum llama_token_attr bits of a token in [0, vocabSize). */
    public int tokenAttributes(int token) {
        return llama_vocab_get_attr(vocab(), token);
    }

    /** {@code llama_tokenize} of UTF-8 bytes; {@link TokenizationException} with the reason alone as its message. */
    public int[] tokenize(byte[] utf8, boolean addSpecial, boolean parseSpecial) {
        MemorySegment v = vocab();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment bytes = arena.allocate(Math.max(1, utf8.length));
            MemorySegment.copy(utf8, 0, bytes, ValueLayout.JAVA_BYTE, 0, utf8.length);
            int cap = utf8.length + 8;
            MemorySegment out = arena.allocate(ValueLayout.JAVA_INT, cap);
            NativeErrors.clear();
            int n = lora4j_h.lora4j_tokenize(v, bytes, utf8.length, out, cap, addSpecial, parseSpecial);
            if (n > cap) {
                cap = n;
                out = arena.allocate(ValueLayout.JAVA_INT, cap);
                n = lora4j_h.lora4j_tokenize(v, bytes, utf8.length, out, cap, addSpecial, parseSpecial);
            }
            if (n < 0) {
                throw new TokenizationException(NativeErrors.reason());
            }
            return out.asSlice(0, (long) n * Integer.BYTES).toArray(ValueLayout.JAVA_INT);
        }
    }

    /** The bytes of one token ({@code llama_token_to_piece}). */
    public byte[] tokenBytes(int token, boolean special) {
        MemorySegment v = vocab();
        try (Arena arena = Arena.ofConfined()) {
            int cap = 64;
            MemorySegment buf = arena.allocate(cap);
            NativeErrors.clear();
            int n = lora4j_h.lora4j_token_to_piece(v, token, buf, cap, 0, special);
            if (n > cap) {
                cap = n;
                buf = arena.allocate(cap);
                n = lora4j_h.lora4j_token_to_piece(v, token, buf, cap, 0, special);
            }
            if (n < 0) {
                throw new TokenizationException(NativeErrors.reason());
            }
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** The UTF-8 bytes of tokens ({@code llama_detokenize}). */
    public byte[] detokenize(int[] tokens, boolean removeSpecial, boolean unparseSpecial) {
        MemorySegment v = vocab();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocateFrom(ValueLayout.JAVA_INT, tokens);
            int cap = tokens.length * 8 + 16;
            MemorySegment buf = arena.allocate(cap);
            NativeErrors.clear();
            int n = lora4j_h.lora4j_detokenize(v, in, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            if (n > cap) {
                cap = n;
                buf = arena.allocate(cap);
                n = lora4j_h.lora4j_detokenize(v, in, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            }
            if (n < 0) {
                throw new TokenizationException(NativeErrors.reason());
            }
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }
}
