package dev.lora4j.train;

/**
 * The summary of a training run.
 *
 * @param steps              optimizer steps done in total (a resumed run counts the earlier ones)
 * @param epochs             fractional epochs done
 * @param tokens             tokens processed in this run
 * @param seconds            wall time of this run
 * @param firstTrainLoss     loss of the first optimizer step of this run
 * @param lastTrainLoss      loss of the last optimizer step
 * @param initialValidationLoss validation loss before training (NaN without validation samples)
 * @param bestValidationLoss best validation loss seen (NaN without validation samples)
 * @param finalValidationLoss validation loss at the end
 * @param trainableParameters parameters of the LoRA tensors
 * @param modelParameters    parameters of the base model
 * @param peakRssBytes       peak resident memory of the process (Linux; -1 elsewhere)
 * @param stopReason         why it stopped
 */
public record TrainResult(long steps, double epochs, long tokens, double seconds, double firstTrainLoss, double lastTrainLoss,
                          double initialValidationLoss, double bestValidationLoss, double finalValidationLoss,
                          long trainableParameters, long modelParameters, long peakRssBytes, StopReason stopReason) {
    public enum StopReason { COMPLETED, MAX_STEPS, EARLY_STOPPING, STOP_REQUESTED }

    public double tokensPerSecond() {
        return seconds > 0 ? tokens / seconds : 0;
    }

    /** Trainable parameters as a share of the model's, in percent. */
    public double trainablePercent() {
        return modelParameters > 0 ? 100.0 * trainableParameters / modelParameters : 0;
    }
}
