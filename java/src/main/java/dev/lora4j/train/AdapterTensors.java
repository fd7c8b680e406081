package dev.lora4j.train;

import static dev.lora4j.bindings.ggml_backend_h.ggml_backend_tensor_get;
import static dev.lora4j.bindings.ggml_backend_h.ggml_backend_tensor_set;
import static dev.lora4j.bindings.ggml_h.ggml_nelements;

import dev.lora4j.bindings.ggml_tensor;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The A and B tensors of the adapter being trained, where llama.cpp holds them. LoRA+ is a reparametrisation: the
 * stored (trained) tensor is B / ratio, applied with the adapter scale × ratio, so AdamW moves B ratio times faster
 * than A; {@link #storedB} and {@link #trueB} convert, and everything outside this class sees the true B.
 */
final class AdapterTensors {
    /** One target's A ({@code [nIn, r]}) and B ({@code [r, nOut]}) tensors. */
    record Pair(String target, MemorySegment a, MemorySegment b, int nIn, int r, int nOut) {}

    private final List<Pair> pairs;
    private final float loraPlusRatio;
    private final long parameterCount;

    /** {@code adapter}: the native adapter ({@code llama_adapter_lora *}). */
    AdapterTensors(MemorySegment adapter, float loraPlusRatio) {
        this.pairs = readPairs(adapter);
        this.loraPlusRatio = loraPlusRatio;
        this.parameterCount = pairs.stream().mapToLong(p -> (long) p.nIn() * p.r() + (long) p.r() * p.nOut()).sum();
    }

    List<Pair> pairs() {
        return pairs;
    }

    /** The trainable parameters: the elements of every A and B. */
    long parameterCount() {
        return parameterCount;
    }

    /** The current A (PEFT layout, r × n_in) of every target. */
    Map<String, float[]> a() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Pair p : pairs) {
            out.put(p.target(), readTensor(p.a()));
        }
        return out;
    }

    /** The current true B (PEFT layout, n_out × r) of every target. */
    Map<String, float[]> trueB() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Pair p : pairs) {
            out.put(p.target(), trueB(readTensor(p.b()), loraPlusRatio));
        }
        return out;
    }

    /** Overwrites A and true B of the given targets. */
    void set(Map<String, float[]> a, Map<String, float[]> trueB) {
        for (Pair p : pairs) {
            float[] av = a.get(p.target());
            float[] bv = trueB.get(p.target());
            if (av != null) {
                writeTensor(p.a(), av);
            }
            if (bv != null) {
                writeTensor(p.b(), storedB(bv, loraPlusRatio));
            }
        }
    }

    /** Overwrites one value of A or of the stored B (B / ratio). */
    void setStored(String target, boolean isB, int index, float value) {
        Pair p = pairs.stream().filter(x -> x.target().equals(target)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no target " + target));
        MemorySegment t = isB ? p.b() : p.a();
        float[] v = readTensor(t);
        v[index] = value;
        writeTensor(t, v);
    }

    /** The stored (trained) form of a true B: B / ratio. */
    static float[] storedB(float[] trueB, float loraPlusRatio) {
        return rescale(trueB, loraPlusRatio, true);
    }

    /** The true B of a stored one: stored × ratio. */
    static float[] trueB(float[] storedB, float loraPlusRatio) {
        return rescale(storedB, loraPlusRatio, false);
    }

    private static float[] rescale(float[] b, float ratio, boolean divide) {
        if (ratio == 1f) {
            return b;
        }
        float[] out = new float[b.length];
        for (int i = 0; i < b.length; i++) {
            out[i] = divide ? b[i] / ratio : b[i] * ratio;
        }
        return out;
    }

    private static List<Pair> readPairs(MemorySegment ap) {
        List<Pair> pairs = new ArrayList<>();
        int nPairs = lora4j_h.lora4j_adapter_n_pairs(ap);
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment name = tmp.allocate(ValueLayout.ADDRESS);
            MemorySegment a = tmp.allocate(ValueLayout.ADDRESS);
            MemorySegment b = tmp.allocate(ValueLayout.ADDRESS);
            for (int i = 0; i < nPairs; i++) {
                TrainingSession.check(lora4j_h.lora4j_adapter_pair(ap, i, name, a, b), "reading the adapter's tensors");
                MemorySegment ta = a.get(ValueLayout.ADDRESS, 0).reinterpret(ggml_tensor.sizeof());
                MemorySegment tb = b.get(ValueLayout.ADDRESS, 0).reinterpret(ggml_tensor.sizeof());
                Pair p = new Pair(name.get(ValueLayout.ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0), ta, tb,
                        (int) ggml_tensor.ne(ta, 0), (int) ggml_tensor.ne(ta, 1), (int) ggml_tensor.ne(tb, 1));
                pairs.add(p);
            }
        }
        return pairs;
    }

    /** A tensor's values (F32), from wherever the backend holds it. */
    static float[] readTensor(MemorySegment tensor) {
        long n = ggml_nelements(tensor);
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment buf = tmp.allocate(ValueLayout.JAVA_FLOAT, n);
            ggml_backend_tensor_get(tensor, buf, 0, n * Float.BYTES);
            return buf.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private static void writeTensor(MemorySegment tensor, float[] data) {
        if (data.length != ggml_nelements(tensor)) {
            throw new IllegalArgumentException("size mismatch");
        }
        try (Arena tmp = Arena.ofConfined()) {
            ggml_backend_tensor_set(tensor, tmp.allocateFrom(ValueLayout.JAVA_FLOAT, data), 0, (long) data.length * Float.BYTES);
        }
    }
}
