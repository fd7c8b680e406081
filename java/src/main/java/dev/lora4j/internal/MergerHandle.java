package dev.lora4j.internal;

import dev.lora4j.NativeException;
import dev.lora4j.bindings.ggml_h;
import dev.lora4j.bindings.ggml_type_traits;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.MemorySegment;

/**
 * The shim's {@code lora4j_lora_merger} (a CPU backend and graph allocator reused across tensors) and its one call,
 * {@code lora4j_lora_merge_tensor}; plus what ggml can dequantise. One merge at a time.
 */
public final class MergerHandle {
    private final NativeHandle handle;

    /** A merger running on {@code threads} CPU threads; {@link NativeException} when ggml cannot make one. */
    public MergerHandle(int threads) {
        Llama.init();
        NativeErrors.clear();
        MemorySegment m = lora4j_h.lora4j_lora_merger_new(threads);
        if (m.equals(MemorySegment.NULL)) {
            throw NativeErrors.error(NativeException::new, "cannot create the merge backend");
        }
        this.handle = new NativeHandle(this, "LoRA merger", m, p -> lora4j_h.lora4j_lora_merger_free(p));
    }

    /** Whether ggml has a {@code to_float} for the ggml type (F32 needs none). */
    public static boolean canDequantize(int type) {
        Llama.init();
        MemorySegment traits = ggml_h.ggml_get_type_traits(type).reinterpret(ggml_type_traits.layout().byteSize());
        return type == ggml_h.GGML_TYPE_F32() || !ggml_type_traits.to_float(traits).equals(MemorySegment.NULL);
    }

    /**
     * Merges the pairs into base tensor {@code name} and writes it as {@code outType} into {@code out}: the arguments of
     * {@code lora4j_lora_merge_tensor} (see lora4j.h). {@link NativeException} when the shim refuses or fails.
     */
    public void mergeTensor(String name, int baseType, MemorySegment base, long ne0, long ne1, int outType, MemorySegment out,
            int nAdapters, MemorySegment aData, MemorySegment aTypes, MemorySegment aNe, MemorySegment bData,
            MemorySegment bTypes, MemorySegment bNe, MemorySegment scales, boolean tokenEmbedding, MemorySegment stats) {
        MemorySegment m = handle.enter();
        try {
            NativeErrors.clear();
            int rc = lora4j_h.lora4j_lora_merge_tensor(m, baseType, base, ne0, ne1, outType, out, nAdapters, aData, aTypes, aNe,
                    bData, bTypes, bNe, scales, tokenEmbedding, stats);
            if (rc != 0) {
                throw NativeErrors.error(NativeException::new, "merging '" + name + "' failed (" + rc + ")");
            }
        } finally {
            handle.exit();
        }
    }

    public void close() {
        handle.close();
    }
}
