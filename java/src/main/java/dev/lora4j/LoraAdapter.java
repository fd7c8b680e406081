package dev.lora4j;

import static dev.lora4j.bindings.llama_h.llama_adapter_lora_free;

import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.internal.Llama;
import dev.lora4j.internal.NativeHandle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
    private final Model model;
    private final LoraAdapterInfo info;
    private final NativeHandle handle;

    private LoraAdapter(Model model, LoraAdapterInfo info, MemorySegment ptr) {
        this.model = model;
        this.info = info;
        dev.lora4j.internal.NativeOwner modelOwner = model.owner();
        modelOwner.retain();
        this.handle = new NativeHandle(this, "LoRA adapter", ptr, p -> {
            synchronized (modelOwner) { // the model's adapter set (see load)
                llama_adapter_lora_free(p);
            }
            modelOwner.release();
        });
    }

    /**
     * Loads an adapter for {@code model}.
     *
     * @throws AdapterMismatchException when the adapter does not fit the model
     * @throws dev.lora4j.gguf.GgufFormatException when the file is not valid GGUF
     * @throws ModelLoadException when llama.cpp refuses it anyway (with its reason)
     */
    public static LoraAdapter load(Model model, Path path) {
        Model.checkRegularFile(path);
        LoraAdapterInfo info = LoraAdapterInfo.read(path); // GgufFile.open validates the file's structure
        try (GgufFile base = GgufFile.open(model.path())) {
            info.checkFits(base);
        }
        Llama.init();
        try (Arena arena = Arena.ofConfined()) {
            Llama.clearLastError();
            MemorySegment ptr;
            // llama.cpp adds each adapter to a set in its model and removes it when freed, unsynchronised: loading and
            // freeing (also by the Cleaner's thread) adapters of one model take turns
            synchronized (model.owner()) {
                ptr = lora4j_h.lora4j_adapter_lora_init(model.pointer(), arena.allocateFrom(path.toString()));
            }
            if (ptr.equals(MemorySegment.NULL)) {
                throw new ModelLoadException(path, "llama.cpp could not load the adapter: " + Llama.reason());
            }
            LoraAdapter a = new LoraAdapter(model, info, ptr);
            model.register(a);
            return a;
        }
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

    MemorySegment pointer() {
        return handle.get();
    }

    /** Removes the adapter from every context of its model, then frees it. Idempotent. */
    @Override
    public void close() {
        if (!handle.isOpen()) {
            return;
        }
        model.detachFromContexts(this);
        handle.close();
        model.unregister(this);
    }

    @Override
    public String toString() {
        return "LoraAdapter[" + info.path().getFileName() + ", r=" + rank() + ", alpha=" + alpha() + ", " + targetModules() + "]";
    }
}
