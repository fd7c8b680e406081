package dev.lora4j.internal;

import static dev.lora4j.bindings.llama_h.llama_adapter_lora_free;

import dev.lora4j.AdapterLoadException;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/** A {@code llama_adapter_lora}: its load, free and lifetime (it holds a reference to its model while it lives). */
public final class AdapterHandle {
    private final NativeHandle handle;

    private AdapterHandle(NativeOwner modelOwner, MemorySegment ptr) {
        modelOwner.retain();
        this.handle = new NativeHandle(this, "LoRA adapter", ptr, p -> {
            synchronized (modelOwner) { // the model's adapter set (see load)
                llama_adapter_lora_free(p);
            }
            modelOwner.release();
        });
    }

    /** Loads an adapter file (validated by the caller) for the model; {@link AdapterLoadException} with llama.cpp's reason. */
    public static AdapterHandle load(ModelHandle model, Path path) {
        Llama.init();
        NativeOwner owner = model.owner();
        try (Arena arena = Arena.ofConfined()) {
            NativeErrors.clear();
            MemorySegment ptr;
            // llama.cpp adds each adapter to a set in its model and removes it when freed, unsynchronised: loading and
            // freeing (also by the Cleaner's thread) adapters of one model take turns
            synchronized (owner) {
                ptr = lora4j_h.lora4j_adapter_lora_init(model.pointer(), arena.allocateFrom(path.toString()));
            }
            if (ptr.equals(MemorySegment.NULL)) {
                throw NativeErrors.error(m -> new AdapterLoadException(path, m), "llama.cpp could not load the adapter");
            }
            return new AdapterHandle(owner, ptr);
        }
    }

    /** The pointer, for lora4j's own native calls (checks the adapter is open). */
    MemorySegment pointer() {
        return handle.get();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /** Frees the adapter (the caller removes it from contexts first). Idempotent. */
    public void close() {
        handle.close();
    }
}
