package dev.lora4j.train;

import java.nio.file.Path;
import java.util.Objects;

/**
 * How to train. Build with {@link #builder()}, or change one with {@link #toBuilder()}; {@link #defaults()} are the
 * builder's initial values, each defined once there (the CLI shows and uses them too). {@link Builder#build()} checks
 * every value, and conflicting values are an error naming both.
 *
 * <pre>{@code
 * TrainConfig cfg = TrainConfig.builder().learningRate(5e-3f).schedule(TrainConfig.Schedule.COSINE).warmupSteps(20)
 *         .epochs(2).contextLength(128).build();
 * }</pre>
 */
public final class TrainConfig {
    public enum Schedule { CONSTANT, COSINE, LINEAR }

    /**
     * Copies of the frozen base weights that make a CPU training step faster, made in the first step and kept while
     * training ({@code enum lora4j_base_copies}).
     * <ul>
     * <li>{@code NONE}: every step converts each quantised or F16 weight to a transposed F32 copy for the backward
     *     pass (an F32 weight is transposed in slices); the forward multiplies the base's own weights. Exact.
     * <li>{@code BACKWARD}: each weight's transpose is made once, in BF16, and the backward pass multiplies the
     *     gradient with it on BF16's GEMM (the gradient rounded to BF16 too, as QLoRA computes in BF16). Costs 2 bytes
     *     per weight; the LoRA gradients move by 0.3-0.4% (relative L2, {@code TrainIT}).
     * <li>{@code ALL} (default): also copies that the forward pass uses instead of the weight. Where the CPU has BF16
     *     dot products (x86's AVX512-BF16), BF16 copies of every weight, whose GEMM is faster there than the Q8_0 and
     *     F16 ones: as mixed-precision training computes, the forward and backward products then use the same BF16
     *     values, and every base type trains at the same speed. Elsewhere, Q8_0 for K-quant weights (which have no
     *     batched GEMM on the CPU), so a Q4_K_M base trains as fast as Q8_0 (each such weight moves by at most 1/254
     *     of its 32-block's largest magnitude, a tenth of a 4-bit base's own step), and BF16 for F32 weights. The
     *     weights' mapped pages then leave the process (the page cache keeps them). The LoRA gradients move by up to
     *     2.4%, about as much as the quantisation of the activations moves them. Costs 2 more bytes per weight (BF16),
     *     or about 1 per K-quant weight (Q8_0). With BF16 dot products, a product that sums over at most 1,536 elements
     *     reads the other copy transposed (ggml's {@code ggml_mul_mat_t_lora4j}, native/patches/0022): the forward of
     *     a weight with n_in &le; 1536 reads its transpose, the backward of one with n_out &le; 1536 its BF16 copy, and
     *     a weight that only the first applies to (the output layer of a large vocabulary) gets no BF16 copy.
     * </ul>
     * The copies may take half the memory available when training starts ({@link #baseCopiesMaxBytes()}): over that,
     * {@code ALL} makes the smaller forward copies (Q8_0 for K-quants, none where the forward reads the transposes)
     * instead of BF16 ones, then the {@code BACKWARD} copies alone, and if these do not fit either, none (llama.cpp's
     * log says which). Training with GPU layers makes none. {@link LoraTrainer#baseCopiesBytes()} tells what they take.
     */
    public enum BaseCopies { NONE, BACKWARD, ALL }

    /** ggml-opt's optimizers ({@code enum ggml_opt_optimizer_type}). */
    public enum Optimizer {
        ADAMW, SGD
    }

    /** The values: a copy of the builder's, never changed. */
    private final Builder v;

    private TrainConfig(Builder v) {
        this.v = v;
        if (!(v.learningRate > 0) || !Float.isFinite(v.learningRate)) {
            throw new IllegalArgumentException("learningRate must be finite and > 0, got " + v.learningRate);
        }
        if (v.warmupSteps < 0) throw new IllegalArgumentException("warmupSteps must be >= 0, got " + v.warmupSteps);
        Objects.requireNonNull(v.schedule, "schedule");
        if (v.epochs < 1) throw new IllegalArgumentException("epochs must be >= 1, got " + v.epochs);
        if (v.maxSteps < 0) throw new IllegalArgumentException("maxSteps must be >= 0, got " + v.maxSteps);
        if (v.contextLength < 8 || v.contextLength > 32768) {
            throw new IllegalArgumentException("contextLength must be in [8, 32768], got " + v.contextLength + " (context too small?)");
        }
        if (v.batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + v.batchSize);
        if (v.gradientAccumulation < 1) throw new IllegalArgumentException("gradientAccumulation must be >= 1, got " + v.gradientAccumulation);
        Objects.requireNonNull(v.optimizer, "optimizer");
        Objects.requireNonNull(v.baseCopies, "baseCopies");
        if (v.baseCopiesMaxBytes < -1) {
            throw new IllegalArgumentException("baseCopiesMaxBytes must be -1 (half the available memory) or >= 0, got " + v.baseCopiesMaxBytes);
        }
        if (!(v.weightDecay >= 0 && v.weightDecay < 1)) throw new IllegalArgumentException("weightDecay must be in [0, 1), got " + v.weightDecay);
        if (!(v.beta1 >= 0 && v.beta1 < 1) || !(v.beta2 >= 0 && v.beta2 < 1)) {
            throw new IllegalArgumentException("beta1 and beta2 must be in [0, 1), got " + v.beta1 + ", " + v.beta2);
        }
        if (!(v.epsilon >= 0) || !Float.isFinite(v.epsilon)) throw new IllegalArgumentException("epsilon must be finite and >= 0, got " + v.epsilon);
        if (!(v.maxGradNorm >= 0) || !Float.isFinite(v.maxGradNorm)) {
            throw new IllegalArgumentException("maxGradNorm must be finite and >= 0, got " + v.maxGradNorm);
        }
        if (!(v.loraPlusRatio > 0) || !Float.isFinite(v.loraPlusRatio)) {
            throw new IllegalArgumentException("loraPlusRatio must be finite and > 0, got " + v.loraPlusRatio);
        }
        if (v.evalSteps < 0) throw new IllegalArgumentException("evalSteps must be >= 0, got " + v.evalSteps);
        if (v.earlyStoppingPatience < 0) throw new IllegalArgumentException("earlyStoppingPatience must be >= 0, got " + v.earlyStoppingPatience);
        if (v.checkpointSteps < 0) throw new IllegalArgumentException("checkpointSteps must be >= 0, got " + v.checkpointSteps);
        if (v.checkpointSteps > 0 && v.checkpointDir == null) {
            throw new IllegalArgumentException("checkpointSteps is " + v.checkpointSteps + " but checkpointDir is not set");
        }
        if (v.keepCheckpoints < 1) throw new IllegalArgumentException("keepCheckpoints must be >= 1, got " + v.keepCheckpoints);
        if (v.threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + v.threads);
        if (v.gpuLayers < -1) throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, got " + v.gpuLayers);
        if (v.device < -1) throw new IllegalArgumentException("device must be -1 (all GPUs) or a GPU index >= 0, got " + v.device);
        if (v.warmupSteps > 0 && v.maxSteps > 0 && v.warmupSteps >= v.maxSteps) {
            throw new IllegalArgumentException("warmupSteps (" + v.warmupSteps + ") must be below maxSteps (" + v.maxSteps + ")");
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** The builder's initial values (PEFT's and ggml-opt's usual ones: AdamW, lr 1e-3, one epoch, ...). */
    public static TrainConfig defaults() {
        return builder().build();
    }

    /** A builder holding this configuration's values. */
    public Builder toBuilder() {
        return v.copy();
    }

    /** Peak learning rate. */
    public float learningRate() {
        return v.learningRate;
    }

    /** Optimizer steps of linear warm-up from 0. */
    public int warmupSteps() {
        return v.warmupSteps;
    }

    /** After warm-up: CONSTANT, COSINE (to 0 at the last step) or LINEAR (to 0). */
    public Schedule schedule() {
        return v.schedule;
    }

    /** Passes over the training samples. */
    public int epochs() {
        return v.epochs;
    }

    /** Stop after this many optimizer steps (0 = no limit). */
    public int maxSteps() {
        return v.maxSteps;
    }

    /** Tokens per sample (every sample has exactly this many). */
    public int contextLength() {
        return v.contextLength;
    }

    /** Samples per optimizer step (their gradients are accumulated). */
    public int batchSize() {
        return v.batchSize;
    }

    /** Further accumulation: an optimizer step every batchSize × gradientAccumulation samples. */
    public int gradientAccumulation() {
        return v.gradientAccumulation;
    }

    /** ADAMW or SGD (ggml-opt's). */
    public Optimizer optimizer() {
        return v.optimizer;
    }

    /** Decoupled weight decay (0 = off), in [0, 1). */
    public float weightDecay() {
        return v.weightDecay;
    }

    /** AdamW β1. */
    public float beta1() {
        return v.beta1;
    }

    /** AdamW β2. */
    public float beta2() {
        return v.beta2;
    }

    /** AdamW ε. */
    public float epsilon() {
        return v.epsilon;
    }

    /**
     * Gradient clipping: before each optimizer step the gradients are divided by max(1, ‖g‖ / maxGradNorm), ‖g‖ their
     * global norm over all trained tensors (as PyTorch's {@code clip_grad_norm_}; PEFT/TRL's {@code max_grad_norm},
     * whose Trainer default is 1.0). 0 = off.
     */
    public float maxGradNorm() {
        return v.maxGradNorm;
    }

    /** Copies of the frozen base weights for speed ({@link BaseCopies}). */
    public BaseCopies baseCopies() {
        return v.baseCopies;
    }

    /**
     * The most memory the {@link #baseCopies()} may take, in bytes; -1 (default) = half the memory available when
     * training starts (Linux's {@code MemAvailable}; no limit elsewhere). Over it, {@code ALL} makes the
     * {@code BACKWARD} copies, and if these do not fit either, none.
     */
    public long baseCopiesMaxBytes() {
        return v.baseCopiesMaxBytes;
    }

    /** LoRA+: learning rate of B / learning rate of A (1 = plain LoRA). */
    public float loraPlusRatio() {
        return v.loraPlusRatio;
    }

    /** Evaluate on the validation samples every this many optimizer steps (0 = each epoch). */
    public int evalSteps() {
        return v.evalSteps;
    }

    /** Stop after this many evaluations without a better validation loss (0 = off). */
    public int earlyStoppingPatience() {
        return v.earlyStoppingPatience;
    }

    /** Write a checkpoint every this many optimizer steps (0 = only at the end / on stop). */
    public int checkpointSteps() {
        return v.checkpointSteps;
    }

    /** Where checkpoints go (null = no checkpoints). */
    public Path checkpointDir() {
        return v.checkpointDir;
    }

    /** How many of the newest checkpoints to keep. */
    public int keepCheckpoints() {
        return v.keepCheckpoints;
    }

    /** CPU threads (0 = available processors). */
    public int threads() {
        return v.threads;
    }

    /** Seed of the data order. */
    public long seed() {
        return v.seed;
    }

    /** Layers of the base loaded on the GPU (-1 = all, 0 = none: CPU training); ignored by a CPU-only build. With
     * all layers on a CUDA build the whole step runs on the GPU. */
    public int gpuLayers() {
        return v.gpuLayers;
    }

    /** The GPU (an index among {@link dev.lora4j.Devices#gpus()}) that holds the whole offloaded model, as
     * {@link dev.lora4j.ModelParams#withDevice(int)}; -1 = llama.cpp's split over all GPUs. Ignored by a CPU-only build. */
    public int device() {
        return v.device;
    }

    /** Samples per optimizer step. */
    public int samplesPerStep() {
        return v.batchSize * v.gradientAccumulation;
    }

    /** The learning rate of optimizer step {@code step} (0-based) of {@code totalSteps}. */
    public float learningRateAt(long step, long totalSteps) {
        float learningRate = v.learningRate;
        int warmupSteps = v.warmupSteps;
        if (step < warmupSteps) {
            return learningRate * (step + 1) / (warmupSteps + 1);
        }
        long span = Math.max(1, totalSteps - warmupSteps);
        double progress = Math.min(1.0, (double) (step - warmupSteps) / span);
        return switch (v.schedule) {
            case CONSTANT -> learningRate;
            case COSINE -> (float) (learningRate * 0.5 * (1 + Math.cos(Math.PI * progress)));
            case LINEAR -> (float) (learningRate * (1 - progress));
        };
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TrainConfig c && ConfigFields.equal(v, c.v);
    }

    @Override
    public int hashCode() {
        return ConfigFields.hash(v);
    }

    @Override
    public String toString() {
        return ConfigFields.string("TrainConfig", v);
    }

    /** The values of a {@link TrainConfig}; its fields' initial values are the defaults. Each setter is documented at the getter of its name. */
    public static final class Builder implements Cloneable {
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
        private float maxGradNorm;
        private BaseCopies baseCopies = BaseCopies.ALL;
        private long baseCopiesMaxBytes = -1;
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

        public Builder learningRate(float value) { learningRate = value; return this; }
        public Builder warmupSteps(int value) { warmupSteps = value; return this; }
        public Builder schedule(Schedule value) { schedule = value; return this; }
        public Builder epochs(int value) { epochs = value; return this; }
        public Builder maxSteps(int value) { maxSteps = value; return this; }
        public Builder contextLength(int value) { contextLength = value; return this; }
        public Builder batchSize(int value) { batchSize = value; return this; }
        public Builder gradientAccumulation(int value) { gradientAccumulation = value; return this; }
        public Builder optimizer(Optimizer value) { optimizer = value; return this; }
        public Builder weightDecay(float value) { weightDecay = value; return this; }
        public Builder beta1(float value) { beta1 = value; return this; }
        public Builder beta2(float value) { beta2 = value; return this; }
        public Builder epsilon(float value) { epsilon = value; return this; }
        public Builder maxGradNorm(float value) { maxGradNorm = value; return this; }
        public Builder baseCopies(BaseCopies value) { baseCopies = value; return this; }
        public Builder baseCopiesMaxBytes(long value) { baseCopiesMaxBytes = value; return this; }
        public Builder loraPlusRatio(float value) { loraPlusRatio = value; return this; }
        public Builder evalSteps(int value) { evalSteps = value; return this; }
        public Builder earlyStoppingPatience(int value) { earlyStoppingPatience = value; return this; }
        public Builder checkpointSteps(int value) { checkpointSteps = value; return this; }
        public Builder checkpointDir(Path value) { checkpointDir = value; return this; }
        public Builder keepCheckpoints(int value) { keepCheckpoints = value; return this; }
        public Builder threads(int value) { threads = value; return this; }
        public Builder seed(long value) { seed = value; return this; }
        public Builder gpuLayers(int value) { gpuLayers = value; return this; }
        public Builder device(int value) { device = value; return this; }

        /** The configuration, checked. */
        public TrainConfig build() {
            return new TrainConfig(copy());
        }

        private Builder copy() {
            try {
                return (Builder) clone(); // every field is immutable
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }
    }
}
