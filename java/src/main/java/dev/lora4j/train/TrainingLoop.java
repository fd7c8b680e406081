package dev.lora4j.train;

import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.internal.SystemMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * The training loop of {@link LoraTrainer} and {@link FullFineTuner}: epochs over the samples in a seeded order,
 * an optimizer step every {@link TrainConfig#samplesPerStep()} samples at the learning rate of the schedule,
 * evaluations, early stopping, checkpoints and stop requests.
 *
 * <p>Every epoch ends with a complete step: ggml-opt steps every {@code samplesPerStep} samples, so an incomplete
 * last step is filled up with samples from the start of the epoch's order. Steps never span epochs, so a position
 * (epoch, sample in epoch) is where a checkpoint resumes, and {@link #plannedSteps} is exact.
 */
final class TrainingLoop {
    /** Where training stands: what a checkpoint saves and a resume restores. */
    static final class Position {
        long steps;
        int epoch;
        int sampleInEpoch;
        long tokens;
    }

    /** Writes a checkpoint after the current step that resumes at ({@code epoch}, {@code sampleInEpoch}). */
    interface Checkpoints {
        Path save(int epoch, int sampleInEpoch);
    }

    private final TrainingSession session;
    private final TrainConfig config;
    private final Model model;
    private final Position at;
    private final Checkpoints checkpoints;
    private volatile boolean stopRequested;

    /** {@code checkpoints}: null for none. */
    TrainingLoop(TrainingSession session, TrainConfig config, Model model, Position at, Checkpoints checkpoints) {
        this.session = session;
        this.config = config;
        this.model = model;
        this.at = at;
        this.checkpoints = checkpoints;
    }

    /** Optimizer steps a full run over {@code nTrain} samples takes. */
    static long plannedSteps(TrainConfig config, int nTrain) {
        long perEpoch = (nTrain + config.samplesPerStep() - 1) / config.samplesPerStep();
        long total = perEpoch * config.epochs();
        return config.maxSteps() > 0 ? Math.min(total, config.maxSteps()) : total;
    }

    /** Asks a running {@link #run} to stop after the current optimizer step (thread-safe). */
    void requestStop() {
        stopRequested = true;
    }

    /** Trains from the position on; {@code trainableParameters} is reported in the result. */
    TrainResult run(List<TrainingSample> train, List<TrainingSample> validation, TrainListener listener, long trainableParameters) {
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no training samples");
        }
        for (TrainingSample s : train) {
            session.checkSample(s);
        }
        for (TrainingSample s : validation) {
            session.checkSample(s);
        }
        stopRequested = false;
        long totalSteps = plannedSteps(config, train.size());
        int perStep = config.samplesPerStep();
        long t0 = System.nanoTime();
        long tokensAtStart = at.tokens;
        double initialVal = validation.isEmpty() ? Double.NaN : session.evaluate(validation);
        double bestVal = initialVal;
        double lastVal = initialVal;
        long lastValStep = at.steps; // the step lastVal was measured at
        int evalsWithoutBetter = 0;
        double firstLoss = Double.NaN;
        double lastLoss = Double.NaN;
        TrainResult.StopReason reason = TrainResult.StopReason.COMPLETED;
        double stepLossSum = 0;
        long stepCounted = 0;
        int inStep = 0;
        float lr = config.learningRateAt(at.steps, totalSteps);
        training:
        for (; at.epoch < config.epochs(); at.epoch++, at.sampleInEpoch = 0) {
            List<TrainingSample> order = new ArrayList<>(train);
            Collections.shuffle(order, new Random(config.seed() * 31 + at.epoch));
            for (; at.sampleInEpoch < order.size(); ) {
                if (config.maxSteps() > 0 && at.steps >= config.maxSteps()) {
                    reason = TrainResult.StopReason.MAX_STEPS;
                    break training;
                }
                if (inStep == 0) {
                    lr = config.learningRateAt(at.steps, totalSteps);
                    session.setOptimizerParams(lr);
                }
                TrainingSample s = order.get(at.sampleInEpoch);
                double[] lc = session.step(s, true);
                at.sampleInEpoch++;
                at.tokens += s.tokens().length;
                stepLossSum += lc[0] * lc[1];
                stepCounted += (long) lc[1];
                inStep++;
                double elapsed = (System.nanoTime() - t0) / 1e9;
                double epochF = at.epoch + (double) at.sampleInEpoch / order.size();
                listener.onSample(new TrainListener.Progress(at.steps, totalSteps, epochF, lc[0], lr, at.tokens,
                        (at.tokens - tokensAtStart) / Math.max(elapsed, 1e-9), elapsed));
                boolean endOfEpoch = at.sampleInEpoch == order.size();
                if (inStep == perStep || endOfEpoch) {
                    if (inStep < perStep) {
                        // an incomplete last step of the epoch: ggml-opt steps every perStep samples, so fill it up
                        // with samples from the start of the epoch order (counted in the loss, not in the position)
                        for (int k = 0; inStep < perStep; k++, inStep++) {
                            double[] extra = session.step(order.get(k % order.size()), true);
                            at.tokens += order.get(k % order.size()).tokens().length;
                            stepLossSum += extra[0] * extra[1];
                            stepCounted += (long) extra[1];
                        }
                    }
                    at.steps++;
                    lastLoss = stepLossSum / Math.max(1, stepCounted);
                    if (Double.isNaN(firstLoss)) {
                        firstLoss = lastLoss;
                    }
                    if (!Double.isFinite(lastLoss)) {
                        throw new Lora4jException("the training loss became " + lastLoss + " at step " + at.steps
                                + " (learning rate " + lr + " too high?)");
                    }
                    stepLossSum = 0;
                    stepCounted = 0;
                    inStep = 0;
                    elapsed = (System.nanoTime() - t0) / 1e9;
                    TrainListener.Progress p = new TrainListener.Progress(at.steps, totalSteps, epochF, lastLoss, lr, at.tokens,
                            (at.tokens - tokensAtStart) / Math.max(elapsed, 1e-9), elapsed);
                    listener.onStep(p);
                    boolean evalNow = !validation.isEmpty()
                            && (config.evalSteps() > 0 ? at.steps % config.evalSteps() == 0 : endOfEpoch);
                    if (evalNow) {
                        lastVal = session.evaluate(validation);
                        lastValStep = at.steps;
                        listener.onEvaluation(p, lastVal);
                        if (lastVal < bestVal - 1e-6 || Double.isNaN(bestVal)) {
                            bestVal = lastVal;
                            evalsWithoutBetter = 0;
                        } else if (config.earlyStoppingPatience() > 0 && ++evalsWithoutBetter >= config.earlyStoppingPatience()) {
                            reason = TrainResult.StopReason.EARLY_STOPPING;
                            if (endOfEpoch) {
                                at.epoch++;
                                at.sampleInEpoch = 0;
                            }
                            break training;
                        }
                    }
                    if (checkpoints != null && config.checkpointSteps() > 0 && at.steps % config.checkpointSteps() == 0) {
                        int ep = endOfEpoch ? at.epoch + 1 : at.epoch;
                        int pos = endOfEpoch ? 0 : at.sampleInEpoch;
                        listener.onCheckpoint(checkpoints.save(ep, pos));
                    }
                    if (stopRequested) {
                        reason = TrainResult.StopReason.STOP_REQUESTED;
                        if (endOfEpoch) {
                            at.epoch++;
                            at.sampleInEpoch = 0;
                        }
                        break training;
                    }
                }
            }
        }
        if (checkpoints != null) {
            listener.onCheckpoint(checkpoints.save(at.epoch, at.sampleInEpoch));
        }
        // the weights have not changed since an evaluation at this step: no need to run it again
        double finalVal = validation.isEmpty() ? Double.NaN : lastValStep == at.steps ? lastVal : session.evaluate(validation);
        if (!validation.isEmpty() && (finalVal < bestVal || Double.isNaN(bestVal))) {
            bestVal = finalVal;
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double epochs = at.epoch + (double) at.sampleInEpoch / train.size();
        return new TrainResult(at.steps, epochs, at.tokens - tokensAtStart, seconds, firstLoss, lastLoss, initialVal, bestVal,
                finalVal, trainableParameters, model.parameterCount(), SystemMemory.peakRss(), reason);
    }
}
