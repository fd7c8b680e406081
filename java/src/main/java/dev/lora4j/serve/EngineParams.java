package dev.lora4j.serve;

import dev.lora4j.ContextParams;
import java.util.Objects;

/**
 * How a {@link BatchEngine} is set up.
 *
 * @param sequences     requests decoded at once, one context sequence each
 * @param sequenceSize  token positions of each sequence, prompt and generated tokens together (0 = the model's
 *                      training context; llama.cpp rounds it up to a multiple of 256)
 * @param queueCapacity requests that may wait for a free sequence; more are refused ({@link QueueFullException})
 * @param context       the context's other settings (batch size, threads, KV cache type, …); its {@code contextSize}
 *                      and {@code sequences} are replaced by {@code sequences × sequenceSize} and {@code sequences}
 */
public record EngineParams(int sequences, int sequenceSize, int queueCapacity, ContextParams context) {
    public EngineParams {
        if (sequences < 1) throw new IllegalArgumentException("sequences must be >= 1, got " + sequences);
        if (sequenceSize < 0) throw new IllegalArgumentException("sequenceSize must be >= 0, got " + sequenceSize);
        if (queueCapacity < 1) throw new IllegalArgumentException("queueCapacity must be >= 1, got " + queueCapacity);
        Objects.requireNonNull(context, "context");
        if (context.batchSize() < sequences) {
            throw new IllegalArgumentException("the context's batchSize (" + context.batchSize() + ") must be at least sequences ("
                    + sequences + "): every running sequence decodes one token per step");
        }
        if (context.embeddings()) {
            throw new IllegalArgumentException("a BatchEngine generates text; its context cannot have embeddings on");
        }
    }

    /** 8 sequences of the model's training context, a queue of 256, {@link ContextParams#defaults()}. */
    public static EngineParams defaults() {
        return new EngineParams(8, 0, 256, ContextParams.defaults());
    }

    public EngineParams withSequences(int n) {
        return new EngineParams(n, sequenceSize, queueCapacity, context);
    }

    public EngineParams withSequenceSize(int n) {
        return new EngineParams(sequences, n, queueCapacity, context);
    }

    public EngineParams withQueueCapacity(int n) {
        return new EngineParams(sequences, sequenceSize, n, context);
    }

    public EngineParams withContext(ContextParams p) {
        return new EngineParams(sequences, sequenceSize, queueCapacity, p);
    }
}
