package dev.lora4j.it;

import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainerTestAccess;
import dev.lora4j.train.TrainingSample;

/**
 * One element's gradient found two ways: the change an SGD step with learning rate 1 made to it (parameter −=
 * gradient), and central finite differences (h = 1e-3 unless given) of the trainer's loss on the same sample. The
 * element is the one of the target's A (or B) that the step moved most. The loss is a float: a difference resolves
 * about 2.4e-4 / (h / 1e-3) of gradient at a loss near 6, so small gradients need a larger h.
 */
record GradientProbe(int index, double step, double finiteDifference) {
    /** {@code before} and {@code after}: the target's A (or B) before and after the step; the trainer holds {@code before}. */
    static GradientProbe largestStep(LoraTrainer t, TrainingSample sample, String target, boolean isB, float[] before, float[] after) {
        return largestStep(t, sample, target, isB, before, after, 1e-3f);
    }

    static GradientProbe largestStep(LoraTrainer t, TrainingSample sample, String target, boolean isB, float[] before, float[] after,
                                     float h) {
        int idx = 0;
        for (int i = 1; i < before.length; i++) {
            if (Math.abs(before[i] - after[i]) > Math.abs(before[idx] - after[idx])) {
                idx = i;
            }
        }
        float x = before[idx];
        TrainerTestAccess.setParameter(t, target, isB, idx, x + h);
        double up = TrainerTestAccess.loss(t, sample);
        TrainerTestAccess.setParameter(t, target, isB, idx, x - h);
        double down = TrainerTestAccess.loss(t, sample);
        TrainerTestAccess.setParameter(t, target, isB, idx, x);
        return new GradientProbe(idx, before[idx] - after[idx], (up - down) / (2 * h));
    }
}
