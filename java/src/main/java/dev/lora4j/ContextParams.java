package dev.lora4j;

/**
 * How to create a context (llama.cpp's {@code llama_context_params}, the parts users set).
 *
 * @param contextSize  tokens the context holds (0 = the model's training context)
 * @param batchSize    most tokens one decode call takes (prompts are split into batches of this size)
 * @param ubatchSize   physical batch size (0 = batchSize)
 * @param sequences    most sequences (parallel streams) at once
 * @param threads      threads for single-token decoding (0 = available processors)
 * @param threadsBatch threads for prompt processing (0 = threads)
 * @param embeddings   also compute embeddings
 * @param flashAttention flash attention: AUTO (llama.cpp's default: on where the backend supports it), ON or OFF
 * @param kvCacheType  type of the K and V cache (null = llama.cpp's default, F16); training needs F32
 */
public record ContextParams(int contextSize, int batchSize, int ubatchSize, int sequences, int threads, int threadsBatch,
                            boolean embeddings, FlashAttention flashAttention, dev.lora4j.gguf.GgmlType kvCacheType) {
    public ContextParams {
        if (contextSize < 0) throw new IllegalArgumentException("contextSize must be >= 0, got " + contextSize);
        if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        if (ubatchSize < 0) throw new IllegalArgumentException("ubatchSize must be >= 0, got " + ubatchSize);
        if (ubatchSize > batchSize) throw new IllegalArgumentException("ubatchSize (" + ubatchSize + ") must not exceed batchSize (" + batchSize + ")");
        if (sequences < 1) throw new IllegalArgumentException("sequences must be >= 1, got " + sequences);
        if (threads < 0 || threadsBatch < 0) throw new IllegalArgumentException("threads must be >= 0");
        java.util.Objects.requireNonNull(flashAttention, "flashAttention");
    }

    public static ContextParams defaults() {
        return new ContextParams(0, 512, 0, 1, 0, 0, false, FlashAttention.AUTO, null);
    }

    public ContextParams withContextSize(int n) {
        return new ContextParams(n, batchSize, ubatchSize, sequences, threads, threadsBatch, embeddings, flashAttention, kvCacheType);
    }

    public ContextParams withBatchSize(int n) {
        return new ContextParams(contextSize, n, ubatchSize > n ? n : ubatchSize, sequences, threads, threadsBatch, embeddings, flashAttention, kvCacheType);
    }

    public ContextParams withUbatchSize(int n) {
        return new ContextParams(contextSize, batchSize, n, sequences, threads, threadsBatch, embeddings, flashAttention, kvCacheType);
    }

    public ContextParams withSequences(int n) {
        return new ContextParams(contextSize, batchSize, ubatchSize, n, threads, threadsBatch, embeddings, flashAttention, kvCacheType);
    }

    public ContextParams withThreads(int n) {
        return new ContextParams(contextSize, batchSize, ubatchSize, sequences, n, threadsBatch, embeddings, flashAttention, kvCacheType);
    }

    public ContextParams withThreadsBatch(int n) {
        return new ContextParams(contextSize, batchSize, ubatchSize, sequences, threads, n, embeddings, flashAttention, kvCacheType);
    }

    public ContextParams withEmbeddings(boolean on) {
        return new ContextParams(contextSize, batchSize, ubatchSize, sequences, threads, threadsBatch, on, flashAttention, kvCacheType);
    }

    public ContextParams withFlashAttention(FlashAttention on) {
        return new ContextParams(contextSize, batchSize, ubatchSize, sequences, threads, threadsBatch, embeddings, on, kvCacheType);
    }

    public ContextParams withKvCacheType(dev.lora4j.gguf.GgmlType type) {
        if (type != null && type != dev.lora4j.gguf.GgmlType.F32 && type != dev.lora4j.gguf.GgmlType.F16
                && type != dev.lora4j.gguf.GgmlType.BF16 && type != dev.lora4j.gguf.GgmlType.Q8_0 && type != dev.lora4j.gguf.GgmlType.Q4_0) {
            throw new IllegalArgumentException("KV cache type must be F32, F16, BF16, Q8_0 or Q4_0, got " + type);
        }
        return new ContextParams(contextSize, batchSize, ubatchSize, sequences, threads, threadsBatch, embeddings, flashAttention, type);
    }

    /** {@code enum llama_flash_attn_type}. */
    public enum FlashAttention {
        AUTO(-1), OFF(0), ON(1);

        private final int id;

        FlashAttention(int id) {
            this.id = id;
        }

        public int id() {
            return id;
        }
    }

    /** {@link #threads()}, or the number of processors when 0. */
    public int effectiveThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }

    /** {@link #threadsBatch()}, or {@link #effectiveThreads()} when 0. */
    public int effectiveThreadsBatch() {
        return threadsBatch > 0 ? threadsBatch : effectiveThreads();
    }
}
