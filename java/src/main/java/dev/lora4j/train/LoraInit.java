package dev.lora4j.train;

import dev.lora4j.Lora4jException;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.LoraTargets;
import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.internal.Gaussian;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The adapter a training run starts from, written as a file for llama.cpp to load: A initialised as PEFT does
 * ({@link LoraConfig.Init}; each expert's A on its own for stacked experts) and B = 0, or A and B from an adapter or
 * checkpoint file. B is written in its stored form ({@link AdapterTensors#storedB}: B / the LoRA+ ratio).
 */
final class LoraInit {
    private LoraInit() {}

    /**
     * Writes the initial adapter of {@code lora}'s targets in {@code base} to {@code out}; {@code from}: an adapter
     * or checkpoint file holding A and B, or null for new weights.
     */
    static void write(Path base, LoraConfig lora, Path from, float loraPlusRatio, Path out) {
        try (GgufFile baseFile = GgufFile.open(base)) {
            String arch = baseFile.architecture().orElse("llama");
            LoraAdapterWriter w = new LoraAdapterWriter(arch, lora.fileAlpha()).name("lora4j training");
            List<GgufTensorInfo> targets = LoraTargets.tensors(baseFile, lora.targetModules());
            try (GgufFile init = from == null ? null : GgufFile.open(from)) {
                SplittableRandom root = new SplittableRandom(lora.seed());
                for (GgufTensorInfo t : targets) {
                    int nIn = Math.toIntExact(t.ne(0));
                    int nOut = Math.toIntExact(t.ne(1));
                    int experts = Math.toIntExact(t.ne(2));
                    int r = lora.r();
                    SplittableRandom rnd = root.split();
                    float[] a;
                    float[] b;
                    if (init != null) {
                        float[][] ab = read(init, t, lora, r, nIn, nOut, experts);
                        a = ab[0];
                        b = ab[1];
                    } else {
                        a = initA(lora.init(), rnd, r, nIn, experts);
                        b = new float[Math.toIntExact((long) r * nOut * experts)];
                    }
                    w.add(t.name(), r, nIn, nOut, experts, a, AdapterTensors.storedB(b, loraPlusRatio));
                }
            }
            w.write(out);
        }
    }

    /** {A, B} of target {@code t} from an adapter or checkpoint file, checked against the configuration. */
    private static float[][] read(GgufFile f, GgufTensorInfo t, LoraConfig lora, int r, int nIn, int nOut, int experts) {
        String an = t.name() + ".lora_a";
        String bn = t.name() + ".lora_b";
        GgufTensorInfo ai = f.tensor(an).orElseThrow(() -> new Lora4jException(f.path() + " has no " + an
                + " (its targets differ from the LoRA configuration " + lora.targetModules() + ")"));
        GgufTensorInfo bi = f.tensor(bn).orElseThrow(() -> new Lora4jException(f.path() + " has no " + bn));
        if (ai.ne(0) != nIn || ai.ne(1) != r || bi.ne(0) != r || bi.ne(1) != nOut || ai.ne(2) != experts || bi.ne(2) != experts
                || ai.nDims() > 3 || bi.nDims() > 3) {
            throw new Lora4jException(f.path() + ": " + t.name() + " has rank " + ai.ne(1) + " / shape " + Arrays.toString(ai.shape())
                    + ", expected r=" + r + " and n_in=" + nIn + (experts > 1 ? " and " + experts + " experts" : ""));
        }
        for (GgufTensorInfo ti : List.of(ai, bi)) {
            if (!GgmlQuant.canDequantize(ti.type())) {
                throw new Lora4jException(f.path() + ": " + ti.name() + " is " + ti.type()
                        + ", not a type of LoRA weights (F32, F16, BF16, Q8_0, Q4_0)");
            }
        }
        return new float[][] {f.tensorFloats(an), f.tensorFloats(bn)};
    }

    /**
     * A ({@code r × nIn} per expert): kaiming-uniform with a = √5 as PEFT (U(-1/√nIn, 1/√nIn)), or N(0, 1/r²); the
     * experts one after the other from {@code rnd}, each as PEFT initialises one A.
     */
    static float[] initA(LoraConfig.Init init, SplittableRandom rnd, int r, int nIn, int experts) {
        int n = Math.toIntExact((long) r * nIn * experts);
        if (init == LoraConfig.Init.GAUSSIAN) {
            return Gaussian.sample(rnd, n, 1.0 / r);
        }
        float[] a = new float[n];
        double bound = 1.0 / Math.sqrt(nIn); // kaiming_uniform_(a=sqrt(5)) as PEFT does
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
        return a;
    }
}
