package dev.lora4j.gguf;

import java.util.Objects;

/**
 * Hyper-parameters of a llama-architecture model, as {@link LlamaModelBuilder} writes it.
 *
 * @param name            {@code general.name}
 * @param nVocab          vocabulary size; must match the vocabulary source's {@code tokenizer.ggml.tokens}
 * @param nEmbd           embedding width
 * @param nLayer          number of blocks
 * @param nHead           attention heads
 * @param nHeadKv         key/value heads (grouped-query attention when below {@code nHead})
 * @param nFf             feed-forward width
 * @param nCtxTrain       {@code llama.context_length}
 * @param ropeFreqBase    {@code llama.rope.freq_base}
 * @param rmsNormEps      {@code llama.attention.layer_norm_rms_epsilon}
 * @param tiedEmbeddings  true to write no {@code output.weight} (llama.cpp then reuses {@code token_embd.weight})
 */
public record LlamaModelSpec(String name, int nVocab, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf,
                             int nCtxTrain, float ropeFreqBase, float rmsNormEps, boolean tiedEmbeddings) {
    /** The training context of {@link #of} and {@link #ofParameters}. */
    public static final int DEFAULT_CONTEXT = 2048;

    public LlamaModelSpec {
        Objects.requireNonNull(name, "name");
        positive(nVocab, "nVocab");
        positive(nEmbd, "nEmbd");
        positive(nLayer, "nLayer");
        positive(nHead, "nHead");
        positive(nHeadKv, "nHeadKv");
        positive(nFf, "nFf");
        positive(nCtxTrain, "nCtxTrain");
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("nEmbd " + nEmbd + " is not a multiple of nHead " + nHead);
        }
        if (nHead % nHeadKv != 0) {
            throw new IllegalArgumentException("nHead " + nHead + " is not a multiple of nHeadKv " + nHeadKv);
        }
        if ((nEmbd / nHead) % 2 != 0) {
            throw new IllegalArgumentException("head dim " + nEmbd / nHead + " must be even (RoPE rotates pairs)");
        }
        if (!(ropeFreqBase > 0) || Float.isInfinite(ropeFreqBase)) {
            throw new IllegalArgumentException("ropeFreqBase must be positive and finite, got " + ropeFreqBase);
        }
        if (!(rmsNormEps > 0) || Float.isInfinite(rmsNormEps)) {
            throw new IllegalArgumentException("rmsNormEps must be positive and finite, got " + rmsNormEps);
        }
    }

    private static void positive(int v, String what) {
        if (v <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }

    /** Width of one head ({@code llama.rope.dimension_count}). */
    public int headDim() {
        return nEmbd / nHead;
    }

    /** Width of the K and V projections. */
    public int nEmbdKv() {
        return headDim() * nHeadKv;
    }

    /** Parameters of one block (norms included). */
    public long parametersPerLayer() {
        long e = nEmbd;
        return 2 * e                       // attn_norm, ffn_norm
                + 2 * e * e                // attn_q, attn_output
                + 2 * e * nEmbdKv()        // attn_k, attn_v
                + 3 * e * nFf;             // ffn_gate, ffn_up, ffn_down
    }

    /** Total parameter count, embeddings and output included. */
    public long parameterCount() {
        long e = nEmbd;
        return (long) nVocab * e * (tiedEmbeddings ? 1 : 2) + e + nLayer * parametersPerLayer();
    }

    public LlamaModelSpec withName(String newName) {
        return new LlamaModelSpec(newName, nVocab, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtxTrain, ropeFreqBase, rmsNormEps, tiedEmbeddings);
    }

    public LlamaModelSpec withVocab(int newNVocab) {
        return new LlamaModelSpec(name, newNVocab, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtxTrain, ropeFreqBase, rmsNormEps, tiedEmbeddings);
    }

    public LlamaModelSpec withLayers(int newNLayer) {
        return new LlamaModelSpec(name, nVocab, nEmbd, newNLayer, nHead, nHeadKv, nFf, nCtxTrain, ropeFreqBase, rmsNormEps, tiedEmbeddings);
    }

    public LlamaModelSpec withContext(int newNCtxTrain) {
        return new LlamaModelSpec(name, nVocab, nEmbd, nLayer, nHead, nHeadKv, nFf, newNCtxTrain, ropeFreqBase, rmsNormEps, tiedEmbeddings);
    }

    public LlamaModelSpec withTiedEmbeddings(boolean tied) {
        return new LlamaModelSpec(name, nVocab, nEmbd, nLayer, nHead, nHeadKv, nFf, nCtxTrain, ropeFreqBase, rmsNormEps, tied);
    }

    /** A small spec with the usual defaults (context {@value #DEFAULT_CONTEXT}, RoPE base 10000, eps 1e-5, untied). */
    public static LlamaModelSpec of(int nVocab, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf) {
        return new LlamaModelSpec("lora4j-random-llama", nVocab, nEmbd, nLayer, nHead, nHeadKv, nFf, DEFAULT_CONTEXT, 10000f, 1e-5f, false);
    }

    // width, heads, kv heads, ff width, typical depth
    private static final int[][] WIDTHS = {
        {64, 4, 2, 192, 4},
        {128, 4, 2, 352, 4},
        {256, 4, 2, 704, 6},
        {384, 6, 2, 1024, 6},
        {512, 8, 2, 1536, 8},
        {768, 12, 4, 2048, 12},
        {1024, 16, 4, 2816, 16},
        {1536, 24, 8, 4096, 16},
        {2048, 32, 8, 5632, 16},
        {3072, 24, 8, 8192, 28},
        {4096, 32, 8, 11008, 32},
    };

    /**
     * A plausible shape with about {@code approxParameters} parameters (e.g. 1M, 10M, 100M, 300M, 1B) for a
     * vocabulary of {@code nVocab}: picks a width from a table of llama-like shapes (head dim 16..128, GQA,
     * feed-forward about 8/3 of the width and a multiple of 32) and the depth that comes closest, preferring
     * depths near the width's usual one. Rows are multiples of 32, so every supported weight type applies.
     * When the embeddings alone exceed the target (a large vocabulary with a tiny target) the smallest
     * shape is returned.
     */
    public static LlamaModelSpec ofParameters(long approxParameters, int nVocab) {
        if (approxParameters <= 0) {
            throw new IllegalArgumentException("parameter count must be positive");
        }
        LlamaModelSpec best = null;
        double bestScore = Double.MAX_VALUE;
        for (int[] w : WIDTHS) {
            LlamaModelSpec one = of(nVocab, w[0], 1, w[1], w[2], w[3]);
            long fixed = one.parameterCount() - one.parametersPerLayer();
            long layers = Math.round((double) (approxParameters - fixed) / one.parametersPerLayer());
            layers = Math.max(1, Math.min(layers, 3L * w[4]));
            LlamaModelSpec s = one.withLayers((int) layers);
            double score = Math.abs(Math.log((double) s.parameterCount() / approxParameters))
                    + 0.25 * Math.abs(Math.log((double) layers / w[4]));
            if (score < bestScore) {
                bestScore = score;
                best = s;
            }
        }
        String label = approxParameters >= 1_000_000_000 ? approxParameters / 1_000_000_000 + "B"
                : approxParameters >= 1_000_000 ? approxParameters / 1_000_000 + "M" : approxParameters / 1000 + "K";
        return best.withName("lora4j-random-llama-" + label);
    }
}
