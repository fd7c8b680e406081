package dev.lora4j.train;

/** What a {@link LoraTrainer} reports while it runs (all methods optional; called on the training thread). */
public interface TrainListener {
    /** After every sample: the optimizer step it belongs to, and the loss on it. */
    default void onSample(Progress p) {}

    /** After every optimizer step. */
    default void onStep(Progress p) {}

    /** After every evaluation on the validation samples. */
    default void onEvaluation(Progress p, double validationLoss) {}

    /** After a checkpoint was written. */
    default void onCheckpoint(java.nio.file.Path checkpoint) {}

    /**
     * Where training stands.
     *
     * @param step       optimizer steps done
     * @param totalSteps optimizer steps planned
     * @param epoch      fractional epoch
     * @param trainLoss  loss of the last optimizer step (mean over its samples' counted tokens)
     * @param learningRate learning rate of the last step
     * @param tokens     tokens processed so far (all positions of all samples)
     * @param tokensPerSecond over this run
     * @param elapsedSeconds of this run
     */
    record Progress(long step, long totalSteps, double epoch, double trainLoss, double learningRate, long tokens,
                    double tokensPerSecond, double elapsedSeconds) {}
}
