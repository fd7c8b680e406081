package dev.lora4j.it;

import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainerTestAccess;
import dev.lora4j.train.TrainingSample;

/**
 * One element's gradient found two ways: the change an SGD step with learning rate 1 made to it (parameter −=
 * gradient), and central finite differences (h = 1e-3 unless given) of the trainer's loss on the same sample. The
 * element is the one of the target's A (or B) that the step moved most; both values are signed as that step (the step's
 * size, and the finite difference along its direction). The loss is a float: a difference resolves
 * about 2.4e-4 / (h / 1e-3) of gradient at a loss near 6, so small gradients need a larger h, or {@link #largestSteps}.
 */
record GradientProbe(int index, double step, double finiteDifference) {
    /**
     * The directional derivative along the signs of the k elements the step moved most (each moved by ±h at once):
     * analytically the sum of their |gradient|, against central finite differences. It resolves k times smaller
     * gradients than one element for the same h, and an error in any of the k elements (its sign or its size) shows.
     * {@code index} is that of the largest.
     */
    static GradientProbe largestSteps(LoraTrainer t, TrainingSample sample, String target, boolean isB, float[] before, float[] after,
                                      float h, int k) {
        Integer[] order = new Integer[before.length];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (x, y) -> Float.compare(Math.abs(before[y] - after[y]), Math.abs(before[x] - after[x])));
        int n = Math.min(k, order.length);
        double analytic = 0;
        for (int j = 0; j < n; j++) {
            analytic += Math.abs(before[order[j]] - after[order[j]]);
        }
        double[] loss = new double[2];
        for (int side = 0; side < 2; side++) {
            for (int j = 0; j < n; j++) {
                int i = order[j];
                float sign = Math.signum(before[i] - after[i]);
                TrainerTestAccess.setParameter(t, target, isB, i, before[i] + (side == 0 ? h : -h) * sign);
            }
            loss[side] = TrainerTestAccess.loss(t, sample);
        }
        for (int j = 0; j < n; j++) {
            TrainerTestAccess.setParameter(t, target, isB, order[j], before[order[j]]);
        }
        return new GradientProbe(order[0], analytic, (loss[0] - loss[1]) / (2 * h));
    }

    /**
     * The number of elements, at least {@code k}, whose largest steps add up to {@code minimum} (all elements if they
     * do not): the directional derivative that {@link #largestSteps} then probes is at least {@code minimum}, so the
     * float loss resolves it (one ulp of a loss near 10, 1e-6, is 0.25% of a difference of 2h × 0.02 at h = 1e-2).
     */
    static int elementsToResolve(float[] before, float[] after, int k, double minimum) {
        float[] steps = new float[before.length];
        for (int i = 0; i < steps.length; i++) {
            steps[i] = Math.abs(before[i] - after[i]);
        }
        java.util.Arrays.sort(steps);
        double sum = 0;
        int n = 0;
        for (int i = steps.length - 1; i >= 0 && (n < k || sum < minimum); i--, n++) {
            sum += steps[i];
        }
        return n;
    }

    /** {@code before} and {@code after}: the target's A (or B) before and after the step; the trainer holds {@code before}. */
    static GradientProbe largestStep(LoraTrainer t, TrainingSample sample, String target, boolean isB, float[] before, float[] after) {
        return largestStep(t, sample, target, isB, before, after, 1e-3f);
    }

    static GradientProbe largestStep(LoraTrainer t, TrainingSample sample, String target, boolean isB, float[] before, float[] after,
                                     float h) {
        return largestSteps(t, sample, target, isB, before, after, h, 1);
    }
}
