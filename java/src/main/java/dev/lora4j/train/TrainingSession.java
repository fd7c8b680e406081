package dev.lora4j.train;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Model;
import dev.lora4j.bindings.ggml_opt_optimizer_params;
import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.internal.NativeErrors;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Function;

/**
 * The native side of a training run, shared by {@link LoraTrainer} and {@link FullFineTuner}: a context made for
 * training (sample-sized batch, F32 KV cache, no flash attention), ggml-opt's optimizer parameters (updated between
 * steps for schedules) and one step on one sample through the shim.
 */
final class TrainingSession implements AutoCloseable {
    private final Context context;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment optParams;
    private final TrainConfig config;
    private boolean closed;

    TrainingSession(Model model, TrainConfig config) {
        checkTrainable(model);
        this.config = config;
        int n = config.contextLength();
        this.context = model.newContext(ContextParams.defaults().withContextSize(n).withBatchSize(n).withUbatchSize(n)
                .withThreads(config.threads()).withFlashAttention(ContextParams.FlashAttention.OFF).withKvCacheType(GgmlType.F32));
        this.optParams = ggml_opt_optimizer_params.allocate(arena);
        setOptimizerParams(config.learningRate());
    }

    Context context() {
        return context;
    }

    /** Initialises ggml-opt on the context: {@code init} gets the context pointer and the optimizer parameters. */
    void init(java.util.function.BiFunction<MemorySegment, MemorySegment, Integer> init, String what) {
        withContext(ctx -> {
            NativeErrors.clear();
            check(init.apply(ctx, optParams), what);
            return null;
        });
    }

    <T> T withContext(Function<MemorySegment, T> f) {
        MemorySegment ctx = context.handle().enter();
        try {
            return f.apply(ctx);
        } finally {
            context.handle().exit();
        }
    }

    /** Sets every optimizer parameter of the next steps: {@code lr} and the configuration's betas, epsilon and weight decay. */
    void setOptimizerParams(float lr) {
        MemorySegment adamw = ggml_opt_optimizer_params.adamw(optParams);
        ggml_opt_optimizer_params.adamw.alpha(adamw, lr);
        ggml_opt_optimizer_params.adamw.beta1(adamw, config.beta1());
        ggml_opt_optimizer_params.adamw.beta2(adamw, config.beta2());
        ggml_opt_optimizer_params.adamw.eps(adamw, config.epsilon());
        ggml_opt_optimizer_params.adamw.wd(adamw, config.weightDecay());
        MemorySegment sgd = ggml_opt_optimizer_params.sgd(optParams);
        ggml_opt_optimizer_params.sgd.alpha(sgd, lr);
        ggml_opt_optimizer_params.sgd.wd(sgd, config.weightDecay());
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
        return withContext(ctx -> {
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment tokens = tmp.allocateFrom(ValueLayout.JAVA_INT, s.tokens());
                MemorySegment labels = tmp.allocateFrom(ValueLayout.JAVA_INT, s.labels());
                MemorySegment loss = tmp.allocate(ValueLayout.JAVA_DOUBLE);
                MemorySegment counted = tmp.allocate(ValueLayout.JAVA_INT);
                NativeErrors.clear();
                check(lora4j_h.lora4j_train_step(ctx, tokens, labels, s.tokens().length, train, loss, counted),
                        train ? "training step" : "evaluation");
                return new double[] {loss.get(ValueLayout.JAVA_DOUBLE, 0), counted.get(ValueLayout.JAVA_INT, 0)};
            }
        });
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
     * The training graph must have a backward pass for every op: ggml aborts the process on one without (a
     * mixture-of-experts layer's MUL_MAT_ID, and the ops of architectures other than llama).
     */
    static void checkTrainable(Model model) {
        String arch = model.metadata("general.architecture").orElse("?");
        if (!arch.equals("llama")) {
            throw new dev.lora4j.Lora4jException("cannot train a '" + arch + "' model: lora4j trains llama-architecture models");
        }
        long experts = model.metadata("llama.expert_count").map(Long::parseLong).orElse(0L);
        if (experts > 0) {
            throw new dev.lora4j.Lora4jException("cannot train a mixture-of-experts model (" + experts
                    + " experts): ggml has no backward pass for MUL_MAT_ID");
        }
    }

    static void check(int rc, String what) {
        NativeErrors.check(rc, what);
    }

    /** Forgets the training state and frees the context. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (context.isOpen()) {
                withContext(ctx -> {
                    lora4j_h.lora4j_train_free(ctx);
                    return null;
                });
            }
            context.close();
        } finally {
            arena.close();
        }
    }
}
