package dev.lora4j.train;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How to train. Build with {@link #builder()}; every value is checked, and conflicting values are an error naming
 * both.
 *
 * @param learningRate        peak learning rate
 * @param warmupSteps         optimizer steps of linear warm-up from 0
 * @param schedule            after warm-up: CONSTANT, COSINE (to 0 at the last step) or LINEAR (to 0)
 * @param epochs              passes over the training samples
 * @param maxSteps            stop after this many optimizer steps (0 = no limit)
 * @param contextLength       tokens per sample (every sample has exactly this many)
 * @param batchSize           samples per optimizer step (their gradients are accumulated)
 * @param gradientAccumulation further accumulation: an optimizer step every batchSize × gradientAccumulation samples
 * @param optimizer           ADAMW or SGD (ggml-opt's)
 * @param weightDecay         decoupled weight decay (0 = off), in [0, 1)
 * @param beta1               AdamW β1
 * @param beta2               AdamW β2
 * @param epsilon             AdamW ε
 * @param loraPlusRatio       LoRA+: learning rate of B / learning rate of A (1 = plain LoRA)
 * @param evalSteps           evaluate on the validation samples every this many optimizer steps (0 = each epoch)
 * @param earlyStoppingPatience stop after this many evaluations without a better validation loss (0 = off)
 * @param checkpointSteps     write a checkpoint every this many optimizer steps (0 = only at the end / on stop)
 * @param checkpointDir       where checkpoints go (null = no checkpoints)
 * @param keepCheckpoints     how many of the newest checkpoints to keep
 * @param threads             CPU threads (0 = available processors)
 * @param seed                data order
 * @param gpuLayers           layers of the base loaded on the GPU (-1 = all, 0 = none: CPU training); ignored by a
 *                            CPU-only build. With all layers on a CUDA build the whole step runs on the GPU.
 * @param device              the GPU (an index among {@link dev.lora4j.Devices#gpus()}) that holds the whole offloaded
 *                            model, as {@link dev.lora4j.ModelParams#withDevice(int)}; -1 = llama.cpp's split over all
 *                            GPUs. Ignored by a CPU-only build.
 */
public record TrainConfig(float learningRate, int warmupSteps, Schedule schedule, int epochs, int maxSteps, int contextLength,
                          int batchSize, int gradientAccumulation, Optimizer optimizer, float weightDecay, float beta1,
                          float beta2, float epsilon, float loraPlusRatio, int evalSteps, int earlyStoppingPatience,
                          int checkpointSteps, Path checkpointDir, int keepCheckpoints, int threads, long seed,
                          int gpuLayers, int device) {
    public enum Schedule { CONSTANT, COSINE, LINEAR }

    /** ggml-opt's optimizers ({@code enum ggml_opt_optimizer_type}). */
    public enum Optimizer {
        ADAMW(0), SGD(1);

        final int id;

        Optimizer(int id) {
            this.id = id;
        }
    }

    public TrainConfig {
        if (!(learningRate > 0) || !Float.isFinite(learningRate)) {
            throw new IllegalArgumentException("learningRate must be finite and > 0, got " + learningRate);
        }
        if (warmupSteps < 0) throw new IllegalArgumentException("warmupSteps must be >= 0, got " + warmupSteps);
        Objects.requireNonNull(schedule, "schedule");
        if (epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        if (maxSteps < 0) throw new IllegalArgumentException("maxSteps must be >= 0, got " + maxSteps);
        if (contextLength < 8 || contextLength > 32768) {
            throw new IllegalArgumentException("contextLength must be in [8, 32768], got " + contextLength + " (context too small?)");
        }
        if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        if (gradientAccumulation < 1) throw new IllegalArgumentException("gradientAccumulation must be >= 1, got " + gradientAccumulation);
        Objects.requireNonNull(optimizer, "optimizer");
        if (!(weightDecay >= 0 && weightDecay < 1)) throw new IllegalArgumentException("weightDecay must be in [0, 1), got " + weightDecay);
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("beta1 and beta2 must be in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(epsilon >= 0) || !Float.isFinite(epsilon)) throw new IllegalArgumentException("epsilon must be finite and >= 0, got " + epsilon);
        if (!(loraPlusRatio > 0) || !Float.isFinite(loraPlusRatio)) {
            throw new IllegalArgumentException("loraPlusRatio must be finite and > 0, got " + loraPlusRatio);
        }
        if (evalSteps < 0) throw new IllegalArgumentException("evalSteps must be >= 0, got " + evalSteps);
        if (earlyStoppingPatience < 0) throw new IllegalArgumentException("earlyStoppingPatience must be >= 0, got " + earlyStoppingPatience);
        if (checkpointSteps < 0) throw new IllegalArgumentException("checkpointSteps must be >= 0, got " + checkpointSteps);
        if (checkpointSteps > 0 && checkpointDir == null) {
            throw new IllegalArgumentException("checkpointSteps is " + checkpointSteps + " but checkpointDir is not set");
        }
        if (keepCheckpoints < 1) throw new IllegalArgumentException("keepCheckpoints must be >= 1, got " + keepCheckpoints);
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        if (gpuLayers < -1) throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, got " + gpuLayers);
        if (device < -1) throw new IllegalArgumentException("device must be -1 (all GPUs) or a GPU index >= 0, got " + device);
        if (warmupSteps > 0 && maxSteps > 0 && warmupSteps >= maxSteps) {
            throw new IllegalArgumentException("warmupSteps (" + warmupSteps + ") must be below maxSteps (" + maxSteps + ")");
        }
    }

    /** Samples per optimizer step. */
    public int samplesPerStep() {
        return batchSize * gradientAccumulation;
    }

    /** The learning rate of optimizer step {@code step} (0-based) of {@code totalSteps}. */
    public float learningRateAt(long step, long totalSteps) {
        if (step < warmupSteps) {
            return learningRate * (step + 1) / (warmupSteps + 1);
        }
        long span = Math.max(1, totalSteps - warmupSteps);
        double progress = Math.min(1.0, (double) (step - warmupSteps) / span);
        return switch (schedule) {
            case CONSTANT -> learningRate;
            case COSINE -> (float) (learningRate * 0.5 * (1 + Math.cos(Math.PI * progress)));
            case LINEAR -> (float) (learningRate * (1 - progress));
        };
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.learningRate = learningRate;
        b.warmupSteps = warmupSteps;
        b.schedule = schedule;
        b.epochs = epochs;
        b.maxSteps = maxSteps;
        b.contextLength = contextLength;
        b.batchSize = batchSize;
        b.gradientAccumulation = gradientAccumulation;
        b.optimizer = optimizer;
        b.weightDecay = weightDecay;
        b.beta1 = beta1;
        b.beta2 = beta2;
        b.epsilon = epsilon;
        b.loraPlusRatio = loraPlusRatio;
        b.evalSteps = evalSteps;
        b.earlyStoppingPatience = earlyStoppingPatience;
        b.checkpointSteps = checkpointSteps;
        b.checkpointDir = checkpointDir;
        b.keepCheckpoints = keepCheckpoints;
        b.threads = threads;
        b.seed = seed;
        b.gpuLayers = gpuLayers;
        b.device = device;
        return b;
    }

    /** Defaults: lr 1e-3, no warm-up, constant, 1 epoch, context 128, batch 1, AdamW (0.9, 0.999, 1e-8), no decay. */
    public static final class Builder {
        private float learningRate = 1e-3f;
        private int warmupSteps;
        private Schedule schedule = Schedule.CONSTANT;
        private int epochs = 1;
        private int maxSteps;
        private int contextLength = 128;
        private int batchSize = 1;
        private int gradientAccumulation = 1;
        private Optimizer optimizer = Optimizer.ADAMW;
        private float weightDecay;
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float epsilon = 1e-8f;
        private float loraPlusRatio = 1f;
        private int evalSteps;
        private int earlyStoppingPatience;
        private int checkpointSteps;
        private Path checkpointDir;
        private int keepCheckpoints = 2;
        private int threads;
        private long seed = 42;
        private int gpuLayers;
        private int device = -1;

        public Builder learningRate(float v) { learningRate = v; return this; }
        public Builder warmupSteps(int v) { warmupSteps = v; return this; }
        public Builder schedule(Schedule v) { schedule = v; return this; }
        public Builder epochs(int v) { epochs = v; return this; }
        public Builder maxSteps(int v) { maxSteps = v; return this; }
        public Builder contextLength(int v) { contextLength = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder gradientAccumulation(int v) { gradientAccumulation = v; return this; }
        public Builder optimizer(Optimizer v) { optimizer = v; return this; }
        public Builder weightDecay(float v) { weightDecay = v; return this; }
        public Builder beta1(float v) { beta1 = v; return this; }
        public Builder beta2(float v) { beta2 = v; return this; }
        public Builder epsilon(float v) { epsilon = v; return this; }
        public Builder loraPlusRatio(float v) { loraPlusRatio = v; return this; }
        public Builder evalSteps(int v) { evalSteps = v; return this; }
        public Builder earlyStoppingPatience(int v) { earlyStoppingPatience = v; return this; }
        public Builder checkpointSteps(int v) { checkpointSteps = v; return this; }
        public Builder checkpointDir(Path v) { checkpointDir = v; return this; }
        public Builder keepCheckpoints(int v) { keepCheckpoints = v; return this; }
        public Builder threads(int v) { threads = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder gpuLayers(int v) { gpuLayers = v; return this; }
        public Builder device(int v) { device = v; return this; }

        public TrainConfig build() {
            return new TrainConfig(learningRate, warmupSteps, schedule, epochs, maxSteps, contextLength, batchSize, gradientAccumulation,
                    optimizer, weightDecay, beta1, beta2, epsilon, loraPlusRatio, evalSteps, earlyStoppingPatience, checkpointSteps,
                    checkpointDir, keepCheckpoints, threads, seed, gpuLayers, device);
        }
    }
}
