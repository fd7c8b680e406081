package dev.lora4j;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.bindings.llama_chat_message;
import dev.lora4j.bindings.llama_model_params;
import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.internal.Llama;
import dev.lora4j.internal.NativeHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * A loaded GGUF model (weights + vocabulary). Thread-safe for reads; each thread that generates needs its own
 * {@link Context}. Closing the model closes its contexts first.
 *
 * <pre>{@code
 * try (Model model = Model.load(Path.of("model.gguf"));
 *      Context ctx = model.newContext(ContextParams.defaults())) {
 *     System.out.println(ctx.generate("Once upon a time", 32, SamplerParams.greedy(), null).text());
 * }
 * }</pre>
 */
public final class Model implements AutoCloseable {
    private final Path path;
    private final NativeHandle handle;
    private final Vocabulary vocabulary;
    // contexts and adapters: weakly held, so that one a user forgot can be freed by its Cleaner while the model lives
    private final Set<AutoCloseable> children = java.util.Collections.synchronizedSet(
            java.util.Collections.newSetFromMap(new java.util.WeakHashMap<>()));
    // llama_model_free runs when the model's handle and every context and adapter have been released, in any order
    private final dev.lora4j.internal.NativeOwner owner;

    private Model(Path path, MemorySegment ptr) {
        this.path = path;
        dev.lora4j.internal.NativeOwner o = new dev.lora4j.internal.NativeOwner(ptr, p -> llama_model_free(p));
        this.owner = o;
        this.handle = new NativeHandle(this, "model", ptr, p -> o.release());
        this.vocabulary = new Vocabulary(this, llama_model_get_vocab(ptr));
    }

    /** Loads a model with {@link ModelParams#defaults()}. */
    public static Model load(Path path) {
        return load(path, ModelParams.defaults());
    }

    /**
     * Loads a GGUF model. The file is validated in Java first (structure, bounds, tensor extents), so a
     * truncated or corrupt file gives a {@link dev.lora4j.gguf.GgufFormatException} and never reaches llama.cpp;
     * hyper-parameters and vocabularies llama.cpp would abort the process on are refused too, as are architectures
     * other than llama unless {@link ModelParams#withAnyArchitecture(boolean)} says the file is trusted.
     *
     * @throws ModelLoadException when the file is missing, refused, or llama.cpp refuses it (with llama.cpp's reason)
     */
    public static Model load(Path path, ModelParams params) {
        validateFile(path, params);
        Llama.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment mp = llama_model_default_params(arena);
            llama_model_params.n_gpu_layers(mp, params.gpuLayers() < 0 ? Integer.MAX_VALUE : params.gpuLayers());
            llama_model_params.main_gpu(mp, params.mainGpu());
            llama_model_params.split_mode(mp, params.splitMode().id());
            llama_model_params.vocab_only(mp, params.vocabOnly());
            llama_model_params.check_tensors(mp, params.checkTensors());
            llama_model_params.use_extra_bufts(mp, params.useExtraBufts());
            setLoadMode(mp, params);
            Llama.clearLastError();
            MemorySegment ptr = lora4j_h.lora4j_model_load(arena.allocateFrom(path.toString()), mp);
            if (ptr.equals(MemorySegment.NULL)) {
                throw new ModelLoadException(path, "llama.cpp could not load the model: " + Llama.reason());
            }
            return new Model(path, ptr);
        }
    }

    private static void setLoadMode(MemorySegment mp, ModelParams params) {
        // enum llama_load_mode: mmap and/or mlock, or plain reads (NONE)
        int mode = params.useMmap()
                ? (params.useMlock() ? LLAMA_LOAD_MODE_MMAP_MLOCK() : LLAMA_LOAD_MODE_MMAP())
                : (params.useMlock() ? LLAMA_LOAD_MODE_MLOCK() : LLAMA_LOAD_MODE_NONE());
        llama_model_params.load_mode(mp, mode);
    }

    static void validateFile(Path path, ModelParams params) {
        checkRegularFile(path);
        try (GgufFile f = GgufFile.open(path)) {
            // open() validates header, metadata, tensor infos and data extents; ModelCheck what llama.cpp would abort on
            ModelCheck.check(path, f, params.vocabOnly(), params.anyArchitecture());
        }
    }

    /** A clear error for a path that is missing or not a file (before anything opens it). */
    static void checkRegularFile(Path path) {
        if (!Files.exists(path)) {
            throw new ModelLoadException(path, "no such file");
        }
        if (!Files.isRegularFile(path)) {
            throw new ModelLoadException(path, "not a regular file");
        }
    }

    /** Quantises (or converts) a model file, like {@code llama-quantize}; the output is written atomically. */
    public static void quantize(Path input, Path output, FileType type, int threads) {
        quantize(input, output, type, threads, false);
    }

    /**
     * As {@link #quantize(Path, Path, FileType, int)}; {@code allowRequantize} also converts weights that are already
     * quantised (e.g. Q8_0 to F32, or Q8_0 to Q4_0: lossy twice), which llama.cpp refuses by default.
     */
    public static void quantize(Path input, Path output, FileType type, int threads, boolean allowRequantize) {
        validateFile(input, ModelParams.defaults());
        Llama.init();
        Path tmp = dev.lora4j.gguf.GgufWriter.temporaryFileFor(output);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment qp = llama_model_quantize_default_params(arena);
            dev.lora4j.bindings.llama_model_quantize_params.ftype(qp, type.id());
            dev.lora4j.bindings.llama_model_quantize_params.nthread(qp, threads > 0 ? threads : Runtime.getRuntime().availableProcessors());
            dev.lora4j.bindings.llama_model_quantize_params.allow_requantize(qp, allowRequantize);
            Llama.clearLastError();
            int rc = lora4j_h.lora4j_model_quantize(arena.allocateFrom(input.toString()), arena.allocateFrom(tmp.toString()), qp);
            if (rc != 0) {
                throw new ModelLoadException(input, "quantisation to " + type + " failed: " + Llama.reason());
            }
            Files.move(tmp, output, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + output, e);
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } catch (IOException ignored) {
                // nothing more to do
            }
        }
    }

    /** Creates a context (KV cache, compute buffers) for this model. */
    public Context newContext(ContextParams params) {
        Context c = new Context(this, params);
        children.add(c);
        return c;
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    public Path path() {
        return path;
    }

    /** llama.cpp's one-line description, e.g. {@code llama ?B Q8_0}. */
    public String description() {
        MemorySegment p = handle.get();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(256);
            int n = llama_model_desc(p, buf, 256);
            return n < 0 ? "" : buf.getString(0);
        }
    }

    /** Every metadata key and its value as llama.cpp renders it (arrays are summarised). */
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

    /** The value of one metadata key, if present. */
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

    /** The model's chat template (tokenizer.chat_template), if it has one. */
    public Optional<String> chatTemplate() {
        MemorySegment t = llama_model_chat_template(handle.get(), MemorySegment.NULL);
        return t.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(t.getString(0));
    }

    /**
     * Formats a chat with the model's template (or {@code template}, a template name or Jinja-like text llama.cpp
     * knows). Only llama.cpp's built-in template formats are supported, as in {@code llama_chat_apply_template}.
     *
     * @throws Lora4jException when the model has no template and none is given, or llama.cpp does not know it
     */
    public String applyChatTemplate(List<ChatMessage> messages, boolean addAssistantPrompt, String template) {
        String tmpl = template != null ? template : chatTemplate().orElseThrow(
                () -> new Lora4jException("the model has no chat template (tokenizer.chat_template); pass one explicitly"));
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment msgs = llama_chat_message.allocateArray(messages.size(), arena);
            long chars = 0;
            for (int i = 0; i < messages.size(); i++) {
                MemorySegment m = llama_chat_message.asSlice(msgs, i);
                llama_chat_message.role(m, arena.allocateFrom(messages.get(i).role()));
                llama_chat_message.content(m, arena.allocateFrom(messages.get(i).content()));
                chars += messages.get(i).content().length() + messages.get(i).role().length();
            }
            MemorySegment t = arena.allocateFrom(tmpl);
            int cap = (int) Math.min(Integer.MAX_VALUE - 8, 2 * chars + 1024);
            MemorySegment buf = arena.allocate(cap);
            int n = lora4j_h.lora4j_chat_apply_template(t, msgs, messages.size(), addAssistantPrompt, buf, cap);
            if (n > cap) {
                buf = arena.allocate(n);
                n = lora4j_h.lora4j_chat_apply_template(t, msgs, messages.size(), addAssistantPrompt, buf, n);
            }
            if (n < 0) {
                throw new Lora4jException("llama.cpp does not support this chat template: " + abbreviate(tmpl));
            }
            return new String(buf.asSlice(0, n).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }

    public long parameterCount() {
        return llama_model_n_params(handle.get());
    }

    /** Bytes of all weights. */
    public long sizeBytes() {
        return llama_model_size(handle.get());
    }

    public int contextLengthTrain() {
        return llama_model_n_ctx_train(handle.get());
    }

    public int embeddingLength() {
        return llama_model_n_embd(handle.get());
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

    public Optional<FileType> fileType() {
        return FileType.fromIdOptional(llama_model_ftype(handle.get()));
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /** The native pointer, for lora4j's own packages (checks the model is open). */
    MemorySegment pointer() {
        return handle.get();
    }

    void register(AutoCloseable child) {
        children.add(child);
    }

    /** The native model's reference count: a context or adapter retains it while it lives. */
    dev.lora4j.internal.NativeOwner owner() {
        handle.get(); // throws if the model is closed
        return owner;
    }

    void unregister(AutoCloseable child) {
        children.remove(child);
    }

    void detachFromContexts(LoraAdapter adapter) {
        List<AutoCloseable> live;
        synchronized (children) {
            live = List.copyOf(children);
        }
        for (AutoCloseable c : live) {
            if (c instanceof Context ctx && ctx.isOpen()) {
                ctx.detach(adapter);
            }
        }
    }

    /** Closes the contexts and adapters of this model (contexts first), then frees it. Idempotent. */
    @Override
    public void close() {
        List<AutoCloseable> ordered;
        synchronized (children) {
            ordered = new java.util.ArrayList<>(children);
        }
        ordered.sort(java.util.Comparator.comparing(c -> c instanceof Context ? 0 : 1));
        for (AutoCloseable c : ordered) {
            try {
                c.close();
            } catch (Exception ignored) {
                // close() of our handles does not throw
            }
        }
        children.clear();
        handle.close();
    }

    @Override
    public String toString() {
        return handle.isOpen() ? "Model[" + path + ", " + description() + "]" : "Model[" + path + ", closed]";
    }
}
