package dev.lora4j.train;

import dev.lora4j.Context;

/**
 * The tests' way to {@link LoraTrainer}'s test hooks, which are package-private (not part of the API): this class is
 * in the trainer's package but in the tests module (the tests run on the class path), so it never ships.
 */
public final class TrainerTestAccess {
    private TrainerTestAccess() {}

    /** Loss of one sample without training (for gradient checks). */
    public static double loss(LoraTrainer t, TrainingSample s) {
        return t.loss(s);
    }

    /** Trains on one sample at the configured learning rate (an optimizer step when it completes a step); its loss. */
    public static double trainOn(LoraTrainer t, TrainingSample s) {
        return t.trainOn(s);
    }

    /** The trainer's own context, on which its steps run. */
    public static Context context(LoraTrainer t) {
        return t.context();
    }

    /** Overwrites one value of A or B (B as stored, i.e. divided by the LoRA+ ratio). */
    public static void setParameter(LoraTrainer t, String target, boolean isB, int index, float value) {
        t.setParameter(target, isB, index, value);
    }
}
