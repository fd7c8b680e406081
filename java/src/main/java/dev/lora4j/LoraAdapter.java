package dev.lora4j;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.internal.AdapterHandle;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A GGUF LoRA adapter loaded for one base {@link Model}. Apply it to contexts with
 * {@link Context#setAdapters(Map)} (several at once, each with a scale; switch between requests without
 * reloading anything). The file is checked against the base in Java before llama.cpp sees it: architecture,
 * every target tensor present, shapes and ranks; a mismatch is an {@link AdapterMismatchException} naming it.
 * Closing the adapter removes it from the contexts that use it; closing the model closes its adapters.
 */
public final class LoraAdapter implements AutoCloseable {
    private volatile boolean closing;
    private final Model model;
    private final LoraAdapterInfo info;
    private final AdapterHandle handle;

    private LoraAdapter(Model model, LoraAdapterInfo info, AdapterHandle handle) {
        this.model = model;
        this.info = info;
        this.handle = handle;
    }

    /**
     * Loads an adapter for {@code model}.
     *
     * @throws AdapterMismatchException when the adapter does not fit the model
     * @throws dev.lora4j.gguf.GgufFormatException when the file is not valid GGUF
     * @throws AdapterLoadException when the file is missing, or llama.cpp refuses it anyway (with its reason)
     */
    public static LoraAdapter load(Model model, Path path) {
        Model.checkRegularFile(path, AdapterLoadException::new);
        LoraAdapterInfo info = LoraAdapterInfo.read(path); // GgufFile.open validates the file's structure
        try (GgufFile base = GgufFile.open(model.path())) {
            info.checkFits(base);
        }
        LoraAdapter a = new LoraAdapter(model, info, AdapterHandle.load(model.handle(), path));
        model.register(a);
        return a;
    }

    public Model model() {
        return model;
    }

    public Path path() {
        return info.path();
    }

    /** Everything read from the file: alpha, pairs, ranks, metadata. */
    public LoraAdapterInfo info() {
        return info;
    }

    public float alpha() {
        return info.alpha();
    }

    /** The rank of the first target (adapters usually have one rank). */
    public long rank() {
        return info.pairs().values().iterator().next().rank();
    }

    public Map<String, Long> ranks() {
        return info.ranks();
    }

    /** Adapted modules, e.g. [attn_q, attn_v]. */
    public List<String> targetModules() {
        return info.targetModules();
    }

    public Optional<String> taskName() {
        return info.taskName();
    }

    public Optional<String> promptPrefix() {
        return info.promptPrefix();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /**
     * The native adapter, for lora4j's own packages (training reads and writes its tensors). Not API: its type is in
     * the module's non-exported {@code dev.lora4j.internal} package.
     */
    public AdapterHandle handle() {
        return handle;
    }

    /**
     * False from the moment {@link #close()} begins: a context refuses it then (checked under the context's lock, which
     * close() takes after setting this, so no context can start using an adapter that is being freed).
     */
    boolean usable() {
        return !closing && handle.isOpen();
    }

    /** Removes the adapter from every context of its model, then frees it. Idempotent. */
    @Override
    public void close() {
        if (!handle.isOpen()) {
            return;
        }
        closing = true;
        model.detachFromContexts(this);
        handle.close();
        model.unregister(this);
    }

    @Override
    public String toString() {
        return "LoraAdapter[" + info.path().getFileName() + ", r=" + rank() + ", alpha=" + alpha() + ", " + targetModules() + "]";
    }
}
