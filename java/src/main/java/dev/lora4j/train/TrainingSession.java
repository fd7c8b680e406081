package dev.lora4j.train;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.internal.TrainingHandle;

/**
 * The native side of a training run, shared by {@link LoraTrainer} and {@link FullFineTuner}: a context made for
 * training (sample-sized batch, F32 KV cache, no flash attention), ggml-opt's optimizer parameters (updated between
 * steps for schedules) and one step on one sample through the shim.
 */
final class TrainingSession implements AutoCloseable {
    private final Context context;
    private final TrainingHandle training;
    private final TrainConfig config;
    private boolean closed;

    TrainingSession(Model model, TrainConfig config) {
        checkTrainable(model);
        this.config = config;
        int n = config.contextLength();
        this.context = model.newContext(ContextParams.defaults().withContextSize(n).withBatchSize(n).withUbatchSize(n)
                .withThreads(config.threads()).withFlashAttention(ContextParams.FlashAttention.OFF).withKvCacheType(GgmlType.F32));
        this.training = new TrainingHandle(context.handle());
        setOptimizerParams(config.learningRate());
    }

    Context context() {
        return context;
    }

    TrainingHandle training() {
        return training;
    }

    /** Initialises ggml-opt to train the adapter's tensors (set on the context). */
    void initLora(LoraAdapter adapter) {
        training.initLora(adapter.handle(), config);
    }

    /** Initialises ggml-opt to train the model's own F32 weights. */
    void initFull() {
        training.initFull(config);
    }

    /** Sets every optimizer parameter of the next steps: {@code lr} and the configuration's betas, epsilon and weight decay. */
    void setOptimizerParams(float lr) {
        training.setOptimizer(lr, config);
    }

    void checkSample(TrainingSample s) {
        if (s.tokens().length != config.contextLength() || s.labels().length != config.contextLength()) {
            throw new IllegalArgumentException("every sample must have contextLength = " + config.contextLength() + " tokens, got "
                    + s.tokens().length + " (prepare the data with the same context length)");
        }
    }

    /** One sample: {loss per counted token, counted tokens}. */
    double[] step(TrainingSample s, boolean train) {
        checkSample(s);
        return training.step(s.tokens(), s.labels(), train);
    }

    /** Mean loss per counted token over the samples (no training). */
    double evaluate(java.util.List<TrainingSample> samples) {
        double sum = 0;
        long counted = 0;
        for (TrainingSample s : samples) {
            double[] lc = step(s, false);
            sum += lc[0] * lc[1];
            counted += (long) lc[1];
        }
        return counted == 0 ? Double.NaN : sum / counted;
    }

    /**
     * The training graph must have a backward pass for every op: ggml aborts the process on one without
     * ({@link dev.lora4j.Architectures#trainingRefusal}).
     */
    static void checkTrainable(Model model) {
        String arch = model.metadata("general.architecture").orElse("?");
        long experts = model.metadata(arch + ".expert_count").map(Long::parseLong).orElse(0L);
        dev.lora4j.Architectures.trainingRefusal(arch, experts).ifPresent(why -> {
            throw new dev.lora4j.Lora4jException(why);
        });
    }

    /** Forgets the training state and frees the context. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            training.close();
        } finally {
            context.close();
        }
    }
}
