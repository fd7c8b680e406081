package dev.lora4j;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.internal.ModelHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.BiFunction;

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
    private final ModelHandle handle;
    private final Vocabulary vocabulary;
    // contexts and adapters: weakly held, so that one a user forgot can be freed by its Cleaner while the model lives
    private final Set<AutoCloseable> children = java.util.Collections.synchronizedSet(
            java.util.Collections.newSetFromMap(new java.util.WeakHashMap<>()));

    private Model(Path path, ModelHandle handle) {
        this.path = path;
        this.handle = handle;
        this.vocabulary = new Vocabulary(handle);
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
        return new Model(path, ModelHandle.load(path, params));
    }

    static void validateFile(Path path, ModelParams params) {
        checkRegularFile(path, ModelLoadException::new);
        try (GgufFile f = GgufFile.open(path)) {
            // open() validates header, metadata, tensor infos and data extents; ModelCheck what llama.cpp would abort on
            ModelCheck.check(path, f, params.vocabOnly(), params.anyArchitecture());
        }
    }

    /** A clear error for a path that is missing or not a file (before anything opens it). */
    static void checkRegularFile(Path path, BiFunction<Path, String, ? extends Lora4jException> error) {
        if (!Files.exists(path)) {
            throw error.apply(path, "no such file");
        }
        if (!Files.isRegularFile(path)) {
            throw error.apply(path, "not a regular file");
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
        Path tmp = dev.lora4j.gguf.GgufWriter.temporaryFileFor(output);
        try {
            ModelHandle.quantize(input, tmp, type.id(), type.toString(),
                    threads > 0 ? threads : Runtime.getRuntime().availableProcessors(), allowRequantize);
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
        return handle.description();
    }

    /** Every metadata key and its value as llama.cpp renders it (arrays are summarised). */
    public Map<String, String> metadata() {
        return handle.metadata();
    }

    /** The value of one metadata key, if present. */
    public Optional<String> metadata(String key) {
        return handle.metadata(key);
    }

    /** The model's chat template (tokenizer.chat_template), if it has one. */
    public Optional<String> chatTemplate() {
        return handle.chatTemplate();
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
        return ModelHandle.applyChatTemplate(tmpl, messages, addAssistantPrompt);
    }

    public long parameterCount() {
        return handle.parameterCount();
    }

    /** Bytes of all weights. */
    public long sizeBytes() {
        return handle.sizeBytes();
    }

    public int contextLengthTrain() {
        return handle.contextLengthTrain();
    }

    public int embeddingLength() {
        return handle.embeddingLength();
    }

    public int layerCount() {
        return handle.layerCount();
    }

    public int headCount() {
        return handle.headCount();
    }

    public int headCountKv() {
        return handle.headCountKv();
    }

    public Optional<FileType> fileType() {
        return FileType.fromIdOptional(handle.fileType());
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /**
     * The native model, for lora4j's own packages (training reads its weights). Not API: its type is in the
     * module's non-exported {@code dev.lora4j.internal} package.
     */
    public ModelHandle handle() {
        return handle;
    }

    void register(AutoCloseable child) {
        children.add(child);
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
