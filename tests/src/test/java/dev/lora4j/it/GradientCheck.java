package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainerTestAccess;
import dev.lora4j.train.TrainingSample;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Gradients of a LoRA adapter from one SGD step (learning rate 1, so parameter -= gradient) on an adapter whose A
 * and B are both random (so that both have gradients), against central finite differences or against another base.
 */
final class GradientCheck {
    private GradientCheck() {}

    /** Every target's A and B before and after one SGD step (lr 1: the difference is the gradient). */
    private record Step(Map<String, float[]> a0, Map<String, float[]> b0, Map<String, float[]> a1, Map<String, float[]> b1) {
        static Step take(LoraTrainer t, TrainingSample sample) {
            Map<String, float[]> a0 = t.loraA();
            Map<String, float[]> b0 = t.loraB();
            TrainerTestAccess.trainOn(t, sample);
            return new Step(a0, b0, t.loraA(), t.loraB());
        }
    }

    /** The result of {@link #againstFiniteDifferences}: gradients checked and the worst relative error. */
    record Result(int checked, double worst) {}

    /** Every projection a block has: all-linear, and the experts of a mixture of experts (none elsewhere). */
    static final List<String> TARGETS = List.of("all-linear", "experts");

    /** The smallest directional derivative a k > 1 probe checks: more elements are moved together until it is reached. */
    static final double MIN_DIRECTIONAL = 0.02;

    /** An adapter of rank r on {@link #TARGETS} with random A and B, written beside {@code base} in {@code dir}. */
    static Path randomAdapter(Path dir, Path base, int r) {
        Path init = dir.resolve("init-" + base.getFileName());
        try (GgufFile b = GgufFile.open(base)) {
            LoraAdapterWriter.random(b, TARGETS, r, r, 0.1f, 0.1f, 11).write(init);
        }
        return init;
    }

    /**
     * The base copies of the checks that compare a step with finite differences, with inference logits or with a
     * computation in Java: none. With copies the forward of an F32 base runs on BF16 copies, which also round the
     * activations (as mixed-precision training does), and the loss is then not smooth at the scale those checks
     * resolve ({@code TrainIT.quantisedBaseGradientsFollowTheirF32Copy} checks the copies).
     */
    static final TrainConfig.BaseCopies EXACT = TrainConfig.BaseCopies.NONE;

    static TrainConfig sgd(int ctx, TrainConfig.BaseCopies copies) {
        return TrainConfig.builder().contextLength(ctx).optimizer(TrainConfig.Optimizer.SGD).learningRate(1f).threads(2)
                .baseCopies(copies).build();
    }

    static LoraConfig loraConfig(int r) {
        return LoraConfig.defaults().withR(r).withAlpha(r).withTargetModules(TARGETS).withSeed(1);
    }

    /** The gradient of every target's A and B ({A, B} per target name) from one SGD step on the sample. */
    static Map<String, float[][]> sgdStep(Path dir, Path base, TrainingSample sample, int r) {
        return sgdStep(dir, base, sample, r, TrainConfig.defaults().baseCopies());
    }

    /** As {@link #sgdStep(Path, Path, TrainingSample, int)} with the given copies of the base weights. */
    static Map<String, float[][]> sgdStep(Path dir, Path base, TrainingSample sample, int r, TrainConfig.BaseCopies copies) {
        try (LoraTrainer t = LoraTrainer.createFrom(base, randomAdapter(dir, base, r), loraConfig(r), sgd(sample.tokens().length, copies))) {
            Step st = Step.take(t, sample);
            Map<String, float[][]> grads = new TreeMap<>();
            for (String target : st.a0().keySet()) {
                grads.put(target, new float[][] {difference(st.a0().get(target), st.a1().get(target)),
                        difference(st.b0().get(target), st.b1().get(target))});
            }
            return grads;
        }
    }

    /** Euclidean norm, summed in double. */
    static double norm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    /** Cosine of the angle between a and b, summed in double. */
    static double cosine(float[] a, float[] b) {
        double dot = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
        }
        return dot / (norm(a) * norm(b));
    }

    private static double largestStep(float[] before, float[] after) {
        double m = 0;
        for (int i = 0; i < before.length; i++) {
            m = Math.max(m, Math.abs(before[i] - after[i]));
        }
        return m;
    }

    private static float[] difference(float[] before, float[] after) {
        float[] d = new float[before.length];
        for (int i = 0; i < d.length; i++) {
            d[i] = before[i] - after[i];
        }
        return d;
    }

    /**
     * The analytic gradient of every target in the given layers ({@link #TARGETS}: q, k, v, o, gate, up, down, or
     * fused ones, and the experts) agrees with central finite differences (step h) within {@code tolerance}
     * (relative), for the element of A and of B that one SGD step moved most; none is zero.
     */
    static Result againstFiniteDifferences(Path dir, Path base, TrainingSample sample, int r, int[] layers, float h, double tolerance) {
        return againstFiniteDifferences(dir, base, sample, r, layers, h, 1, tolerance);
    }

    /**
     * As above; with {@code k} > 1 each probe whose largest gradient is below 0.1 is the directional derivative along
     * the signs of the k elements that the step moved most, or of more until their gradients add up to
     * {@link #MIN_DIRECTIONAL} ({@link GradientProbe#largestSteps}), for bases whose gradients are too small for one
     * element's finite difference of a float loss (random weights); larger ones are probed on their largest element
     * with h = 1e-3.
     */
    static Result againstFiniteDifferences(Path dir, Path base, TrainingSample sample, int r, int[] layers, float h, int k,
                                           double tolerance) {
        try (LoraTrainer t = LoraTrainer.createFrom(base, randomAdapter(dir, base, r), loraConfig(r), sgd(sample.tokens().length, EXACT))) {
            Step st = Step.take(t, sample);
            Map<String, float[]> a0 = st.a0(), b0 = st.b0(), a1 = st.a1(), b1 = st.b1();
            t.setWeights(a0, b0);
            int checked = 0;
            double worst = 0;
            List<String> failures = new ArrayList<>();
            for (int layer : layers) {
                List<String> targets = a0.keySet().stream().filter(n -> n.startsWith("blk." + layer + ".")).sorted().toList();
                assertTrue(!targets.isEmpty(), "no targets in layer " + layer);
                for (String target : targets) {
                    for (boolean isB : new boolean[] {false, true}) {
                        float[] before = isB ? b0.get(target) : a0.get(target);
                        float[] after = isB ? b1.get(target) : a1.get(target);
                        // a gradient of 0.1 or more resolves on one element with h = 1e-3 (0.5% at a loss near 10), where curvature adds least
                        boolean large = k > 1 && largestStep(before, after) >= 0.1;
                        GradientProbe g = GradientProbe.largestSteps(t, sample, target, isB, before, after, large ? 1e-3f : h,
                                large || k == 1 ? 1 : GradientProbe.elementsToResolve(before, after, k, MIN_DIRECTIONAL));
                        double analytic = g.step();
                        double numeric = g.finiteDifference();
                        double rel = Math.abs(numeric - analytic) / Math.max(Math.abs(numeric), Math.abs(analytic));
                        System.out.printf(Locale.ROOT, "grad %s %-28s %s[%d]: analytic %+.6e, finite differences %+.6e, rel. error %.3f%%%n",
                                base.getFileName(), target, isB ? "B" : "A", g.index(), analytic, numeric, 100 * rel);
                        if (Math.abs(analytic) <= 1e-6) {
                            failures.add(target + (isB ? " B" : " A") + ": no gradient reached it");
                        } else if (!(rel < tolerance)) {
                            failures.add(target + (isB ? " B" : " A") + ": analytic " + analytic + " vs finite differences " + numeric);
                        }
                        worst = Math.max(worst, rel);
                        checked++;
                    }
                }
            }
            System.out.printf(Locale.ROOT, "grad %s: %d gradients checked, worst relative error %.3f%%%n", base.getFileName(), checked, 100 * worst);
            assertTrue(failures.isEmpty(), base.getFileName() + ":\n" + String.join("\n", failures));
            return new Result(checked, worst);
        }
    }
}
