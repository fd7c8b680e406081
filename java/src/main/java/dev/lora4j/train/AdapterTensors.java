package dev.lora4j.train;

import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.internal.TrainingHandle;
import dev.lora4j.internal.TrainingHandle.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The A and B tensors of the adapter being trained, where llama.cpp holds them. LoRA+ is a reparametrisation: the
 * stored (trained) tensor is B / ratio, applied with the adapter scale × ratio, so AdamW moves B ratio times faster
 * than A; {@link #storedB} and {@link #trueB} convert, and everything outside this class sees the true B.
 */
final class AdapterTensors {
    /** One target's A ({@code [nIn, r]}) and B ({@code [r, nOut]}) tensors; {@code [.., experts]} for stacked experts. */
    record Pair(String target, Tensor a, Tensor b, int nIn, int r, int nOut, int experts) {
        /** The adapter file's entry of this pair with the values {@code a} and {@code b}. */
        LoraAdapterWriter.Weights weights(float[] a, float[] b) {
            return new LoraAdapterWriter.Weights(target, r, nIn, nOut, experts, a, b);
        }
    }

    private final List<Pair> pairs;
    private final float loraPlusRatio;
    private final long parameterCount;

    AdapterTensors(LoraAdapter adapter, float loraPlusRatio) {
        this.pairs = TrainingHandle.pairs(adapter.handle()).stream().map(AdapterTensors::pair).toList();
        this.loraPlusRatio = loraPlusRatio;
        this.parameterCount = pairs.stream().mapToLong(p -> ((long) p.nIn() * p.r() + (long) p.r() * p.nOut()) * p.experts()).sum();
    }

    private static Pair pair(TrainingHandle.LoraPair p) {
        long[] a = p.a().shape();
        return new Pair(p.target(), p.a(), p.b(), (int) a[0], (int) a[1], (int) p.b().shape()[1], a.length > 2 ? (int) a[2] : 1);
    }

    List<Pair> pairs() {
        return pairs;
    }

    /** The trainable parameters: the elements of every A and B. */
    long parameterCount() {
        return parameterCount;
    }

    /** The current A (PEFT layout, r × n_in, expert after expert) of every target. */
    Map<String, float[]> a() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Pair p : pairs) {
            out.put(p.target(), p.a().read());
        }
        return out;
    }

    /** The current true B (PEFT layout, n_out × r, expert after expert) of every target. */
    Map<String, float[]> trueB() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Pair p : pairs) {
            out.put(p.target(), trueB(p.b().read(), loraPlusRatio));
        }
        return out;
    }

    /** Overwrites A and true B of the given targets. */
    void set(Map<String, float[]> a, Map<String, float[]> trueB) {
        for (Pair p : pairs) {
            float[] av = a.get(p.target());
            float[] bv = trueB.get(p.target());
            if (av != null) {
                p.a().write(av);
            }
            if (bv != null) {
                p.b().write(storedB(bv, loraPlusRatio));
            }
        }
    }

    /** Overwrites one value of A or of the stored B (B / ratio). */
    void setStored(String target, boolean isB, int index, float value) {
        Pair p = pairs.stream().filter(x -> x.target().equals(target)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no target " + target));
        Tensor t = isB ? p.b() : p.a();
        float[] v = t.read();
        v[index] = value;
        t.write(v);
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
}
