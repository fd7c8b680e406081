package dev.lora4j.internal;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.lora4j.NativeException;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The shim's {@code lora4j_lora_merger} (a CPU backend and graph allocator reused across tensors) and its one call,
 * {@code lora4j_lora_merge_tensor}. One merge at a time.
 */
public final class MergerHandle {
    /** A 2-D tensor's bytes (mapped GGUF data may be read-only), ggml type id and shape [ne0, ne1] in ggml order. */
    public record Tensor(MemorySegment data, int type, long ne0, long ne1) {
    }

    /** One adapter's lora_a / lora_b for the tensor being merged, and its effective scale (scale * alpha / r). */
    public record Pair(Tensor a, Tensor b, float scale) {
    }

    private final NativeHandle handle;
    private final MemorySegment stats = Arena.ofAuto().allocate(JAVA_DOUBLE, 5);

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

    /**
     * Merges the pairs into base tensor {@code name} and writes it as ggml type {@code outType} into {@code out}
     * (see {@code lora4j_lora_merge_tensor} in lora4j.h). Returns the 5 error sums of the written tensor when
     * {@code measure}, else null. {@link NativeException} when the shim refuses or fails.
     */
    public double[] mergeTensor(String name, Tensor base, int outType, MemorySegment out, List<Pair> pairs,
            boolean tokenEmbedding, boolean measure) {
        int k = pairs.size();
        MemorySegment m = handle.enter();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment aData = a.allocate(ADDRESS, k);
            MemorySegment bData = a.allocate(ADDRESS, k);
            MemorySegment aTypes = a.allocate(JAVA_INT, k);
            MemorySegment bTypes = a.allocate(JAVA_INT, k);
            MemorySegment aNe = a.allocate(JAVA_LONG, 2L * k);
            MemorySegment bNe = a.allocate(JAVA_LONG, 2L * k);
            MemorySegment scales = a.allocate(JAVA_FLOAT, k);
            for (int i = 0; i < k; i++) {
                Pair p = pairs.get(i);
                aData.setAtIndex(ADDRESS, i, writable(p.a().data()));
                bData.setAtIndex(ADDRESS, i, writable(p.b().data()));
                aTypes.setAtIndex(JAVA_INT, i, p.a().type());
                bTypes.setAtIndex(JAVA_INT, i, p.b().type());
                aNe.setAtIndex(JAVA_LONG, 2L * i, p.a().ne0());
                aNe.setAtIndex(JAVA_LONG, 2L * i + 1, p.a().ne1());
                bNe.setAtIndex(JAVA_LONG, 2L * i, p.b().ne0());
                bNe.setAtIndex(JAVA_LONG, 2L * i + 1, p.b().ne1());
                scales.setAtIndex(JAVA_FLOAT, i, p.scale());
            }
            NativeErrors.clear();
            int rc = lora4j_h.lora4j_lora_merge_tensor(m, base.type(), writable(base.data()), base.ne0(), base.ne1(), outType,
                    out, k, aData, aTypes, aNe, bData, bTypes, bNe, scales, tokenEmbedding, measure ? stats : MemorySegment.NULL);
            if (rc != 0) {
                throw NativeErrors.error(NativeException::new, "merging '" + name + "' failed (" + rc + ")");
            }
            return measure ? stats.toArray(JAVA_DOUBLE) : null;
        } finally {
            handle.exit();
        }
    }

    /** A writable view of a (read-only, mapped) segment, to pass its address to native code that only reads it. */
    private static MemorySegment writable(MemorySegment s) {
        return s.isReadOnly() ? MemorySegment.ofAddress(s.address()).reinterpret(s.byteSize()) : s;
    }

    public void close() {
        handle.close();
    }
}
