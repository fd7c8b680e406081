package dev.lora4j.gguf;

import java.util.Locale;
import java.util.Objects;

/**
 * Hyper-parameters of a model that {@link ModelBuilder} writes: the architecture and the shape.
 *
 * <p>The architectures ({@link Arch}) are the llama.cpp ones people fine-tune; each writes the keys and tensors that
 * llama.cpp's {@code convert_hf_to_gguf.py} writes for it (see {@link ModelBuilder} for the tensor lists). The
 * fields that only some architectures use are zero elsewhere: {@code nExpert}, {@code nExpertUsed} and
 * {@code nFfExpert} (only the mixtures of experts, {@link Arch#QWEN3MOE} and {@link Arch#MIXTRAL}, where all three are
 * positive) and {@code slidingWindow} (only
 * {@link Arch#GEMMA3}; 0 there turns sliding-window attention off).
 *
 * @param arch            the architecture
 * @param name            {@code general.name}
 * @param nVocab          vocabulary size; must match the vocabulary source's {@code tokenizer.ggml.tokens}
 * @param nEmbd           embedding width
 * @param nLayer          number of blocks
 * @param nHead           attention heads
 * @param nHeadKv         key/value heads (grouped-query attention when below {@code nHead})
 * @param headDim         width of one head ({@code attention.key_length}, written when it is not
 *                        {@code nEmbd / nHead} or when the architecture's converter always writes it); even, the
 *                        RoPE dimension count. {@link Arch#QWEN2} and {@link Arch#PHI3} need {@code nEmbd / nHead}
 * @param nFf             feed-forward width ({@code feed_forward_length}; for {@link Arch#PHI3} the width of each
 *                        half of the fused gate+up projection; for {@link Arch#QWEN3MOE} written but unused by the
 *                        tensors, which use {@code nFfExpert}; for {@link Arch#MIXTRAL} the width of each expert, as
 *                        llama.cpp's llama loader reads it, so {@code nFfExpert} must equal it)
 * @param nCtxTrain       {@code context_length}
 * @param ropeFreqBase    {@code rope.freq_base} (of the full-attention layers for {@link Arch#GEMMA3})
 * @param rmsNormEps      {@code attention.layer_norm_rms_epsilon}
 * @param tiedEmbeddings  true to write no {@code output.weight} (llama.cpp then reuses {@code token_embd.weight})
 * @param nExpert         experts per layer ({@code expert_count}), mixtures of experts only
 * @param nExpertUsed     experts routed per token ({@code expert_used_count}), mixtures of experts only
 * @param nFfExpert       feed-forward width of one expert ({@code expert_feed_forward_length} of
 *                        {@link Arch#QWEN3MOE}), mixtures of experts only
 * @param slidingWindow   {@code attention.sliding_window} of the sliding-window layers, {@link Arch#GEMMA3} only
 */
public record ModelSpec(Arch arch, String name, int nVocab, int nEmbd, int nLayer, int nHead, int nHeadKv, int headDim,
                        int nFf, int nCtxTrain, float ropeFreqBase, float rmsNormEps, boolean tiedEmbeddings,
                        int nExpert, int nExpertUsed, int nFfExpert, int slidingWindow) {
    /** The training context of {@link #of} and {@link #ofParameters}. */
    public static final int DEFAULT_CONTEXT = 2048;
    /** RoPE base of Gemma 3's sliding-window layers ({@code gemma3.rope.freq_base_swa}). */
    public static final float GEMMA3_ROPE_FREQ_BASE_SWA = 10000f;
    /** llama.cpp's Gemma 3 layer pattern: of every {@value} layers the first five use the sliding window, the last one full attention. */
    public static final int GEMMA3_SWA_PATTERN = 6;

    /**
     * An architecture {@link ModelBuilder} writes, with its {@code general.architecture}, its default vocabulary
     * (a file of llama.cpp's {@code models/} folder) and what it adds to the llama layout.
     */
    public enum Arch {
        /** Llama 1/2 style: SPM vocabulary, RoPE base 10000. */
        LLAMA("llama", "llama", "ggml-vocab-llama-spm.gguf", 10000f, 1e-5f),
        /**
         * Llama 3.1/3.2 style, written as {@code llama}: the Llama 3 BPE vocabulary (128256 tokens), RoPE base 500000
         * and Llama 3 RoPE scaling as the {@code rope_freqs.weight} factors (factor 32, low/high frequency factors
         * 1/4, original context 8192, as Llama 3.2) that the converter writes and llama.cpp applies.
         */
        LLAMA3("llama3", "llama", "ggml-vocab-llama-bpe.gguf", 500000f, 1e-5f),
        /** Qwen2/2.5: biases on the Q, K and V projections; the Qwen2 BPE vocabulary, RoPE base 1e6, eps 1e-6. */
        QWEN2("qwen2", "qwen2", "ggml-vocab-qwen2.gguf", 1e6f, 1e-6f),
        /** Qwen3: per-head RMS norms of Q and K ({@code attn_q_norm}, {@code attn_k_norm}), no biases; Qwen2 vocabulary. */
        QWEN3("qwen3", "qwen3", "ggml-vocab-qwen2.gguf", 1e6f, 1e-6f),
        /**
         * Qwen3-MoE: Qwen3 attention, and a mixture of experts instead of the dense feed-forward (router
         * {@code ffn_gate_inp}, 3-D {@code ffn_gate_exps}/{@code ffn_up_exps}/{@code ffn_down_exps}); Qwen2 vocabulary.
         */
        QWEN3MOE("qwen3moe", "qwen3moe", "ggml-vocab-qwen2.gguf", 1e6f, 1e-6f),
        /**
         * Mistral Small 3.x / Ministral 3 ({@code mistral3}, a distinct llama.cpp architecture with the llama layout,
         * RoPE base 1e9 and an explicit head width). Mistral's Tekken vocabulary is not in llama.cpp's
         * {@code models/}, so the default is the LLaMA SPM vocabulary (that of Mistral 7B v0.1).
         */
        MISTRAL3("mistral3", "mistral3", "ggml-vocab-llama-spm.gguf", 1e9f, 1e-5f),
        /**
         * Mixtral: the llama layout with a mixture of experts instead of the dense feed-forward (router
         * {@code ffn_gate_inp}, 3-D {@code ffn_gate_exps}/{@code ffn_up_exps}/{@code ffn_down_exps}), written as
         * {@code llama} with {@code expert_count}, the experts {@code feed_forward_length} wide; RoPE base 1e6, the
         * LLaMA SPM vocabulary (Mixtral's has the same 32000 tokens).
         */
        MIXTRAL("mixtral", "llama", "ggml-vocab-llama-spm.gguf", 1e6f, 1e-5f),
        /** Phi-3: fused {@code attn_qkv}, fused gate+up in {@code ffn_up} (2·n_ff rows); the Phi-3 vocabulary. */
        PHI3("phi3", "phi3", "ggml-vocab-phi-3.gguf", 10000f, 1e-5f),
        /**
         * Gemma 3: interleaved sliding-window attention (five sliding-window layers, then one full-attention layer,
         * llama.cpp's pattern), GELU-gated feed-forward, Q/K norms, post-attention and post-feed-forward norms,
         * embeddings scaled by sqrt(n_embd) and tied by default; RoPE base 1e6 (10000 on the sliding-window layers),
         * eps 1e-6. Gemma's vocabulary is not in llama.cpp's {@code models/}: the default is the LLaMA SPM vocabulary.
         */
        GEMMA3("gemma3", "gemma3", "ggml-vocab-llama-spm.gguf", 1e6f, 1e-6f);

        private final String id;
        private final String gguf;
        private final String vocab;
        private final float ropeFreqBase;
        private final float rmsNormEps;

        Arch(String id, String gguf, String vocab, float ropeFreqBase, float rmsNormEps) {
            this.id = id;
            this.gguf = gguf;
            this.vocab = vocab;
            this.ropeFreqBase = ropeFreqBase;
            this.rmsNormEps = rmsNormEps;
        }

        /** The name used on the command line ({@code --arch}) and in default model names. */
        public String id() {
            return id;
        }

        /** {@code general.architecture}, and the prefix of the hyper-parameter keys. */
        public String ggufArchitecture() {
            return gguf;
        }

        /** The file name, in llama.cpp's {@code models/}, of the default vocabulary. */
        public String defaultVocabulary() {
            return vocab;
        }

        /** The default {@code rope.freq_base}. */
        public float defaultRopeFreqBase() {
            return ropeFreqBase;
        }

        /** The default {@code attention.layer_norm_rms_epsilon}. */
        public float defaultRmsNormEps() {
            return rmsNormEps;
        }

        /** True for a mixture of experts: experts and a router instead of the dense feed-forward. */
        public boolean hasExperts() {
            return this == QWEN3MOE || this == MIXTRAL;
        }

        /** True when the converter writes {@code attention.key_length}/{@code value_length} even if it is {@code nEmbd / nHead}. */
        boolean alwaysWritesHeadDim() {
            return this == QWEN3 || this == QWEN3MOE || this == MISTRAL3 || this == GEMMA3;
        }

        /** True when llama.cpp sizes the Q projection as {@code [n_embd, n_embd]}, so the head width must be {@code nEmbd / nHead}. */
        boolean needsDerivedHeadDim() {
            return this == QWEN2 || this == PHI3;
        }

        /** The architecture of {@code id} ({@link #id()}, case-insensitive). */
        public static Arch parse(String id) {
            String s = id.strip().toLowerCase(Locale.ROOT);
            for (Arch a : values()) {
                if (a.id.equals(s)) {
                    return a;
                }
            }
            throw new IllegalArgumentException("unknown architecture '" + id + "' (one of " + ids() + ")");
        }

        /** All ids, comma-separated. */
        public static String ids() {
            StringBuilder sb = new StringBuilder();
            for (Arch a : values()) {
                sb.append(sb.isEmpty() ? "" : ", ").append(a.id);
            }
            return sb.toString();
        }
    }

    public ModelSpec {
        Objects.requireNonNull(arch, "arch");
        Objects.requireNonNull(name, "name");
        positive(nVocab, "nVocab");
        positive(nEmbd, "nEmbd");
        positive(nLayer, "nLayer");
        positive(nHead, "nHead");
        positive(nHeadKv, "nHeadKv");
        positive(headDim, "headDim");
        positive(nFf, "nFf");
        positive(nCtxTrain, "nCtxTrain");
        if (nHead % nHeadKv != 0) {
            throw new IllegalArgumentException("nHead " + nHead + " is not a multiple of nHeadKv " + nHeadKv);
        }
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("head dim " + headDim + " must be even (RoPE rotates pairs)");
        }
        if (arch.needsDerivedHeadDim() && (nEmbd % nHead != 0 || headDim != nEmbd / nHead)) {
            throw new IllegalArgumentException(arch.id() + " needs head dim nEmbd / nHead (" + nEmbd + " / " + nHead
                    + "), got " + headDim);
        }
        if (!(ropeFreqBase > 0) || Float.isInfinite(ropeFreqBase)) {
            throw new IllegalArgumentException("ropeFreqBase must be positive and finite, got " + ropeFreqBase);
        }
        if (!(rmsNormEps > 0) || Float.isInfinite(rmsNormEps)) {
            throw new IllegalArgumentException("rmsNormEps must be positive and finite, got " + rmsNormEps);
        }
        if (arch.hasExperts()) {
            positive(nExpert, "nExpert");
            positive(nExpertUsed, "nExpertUsed");
            positive(nFfExpert, "nFfExpert");
            if (nExpertUsed > nExpert) {
                throw new IllegalArgumentException("nExpertUsed " + nExpertUsed + " exceeds nExpert " + nExpert);
            }
            if (nExpert > 512) {
                throw new IllegalArgumentException("nExpert " + nExpert + " exceeds llama.cpp's LLAMA_MAX_EXPERTS (512)");
            }
            if (arch == Arch.MIXTRAL && nFfExpert != nFf) {
                throw new IllegalArgumentException("mixtral's experts are nFf wide (llama.cpp reads feed_forward_length): nFfExpert "
                        + nFfExpert + " must equal nFf " + nFf);
            }
        } else if (nExpert != 0 || nExpertUsed != 0 || nFfExpert != 0) {
            throw new IllegalArgumentException(arch.id() + " has no experts (nExpert, nExpertUsed, nFfExpert must be 0)");
        }
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("slidingWindow must not be negative, got " + slidingWindow);
        }
        if (slidingWindow != 0 && arch != Arch.GEMMA3) {
            throw new IllegalArgumentException(arch.id() + " has no sliding-window attention (slidingWindow must be 0)");
        }
    }

    /**
     * A llama ({@link Arch#LLAMA}) spec with head width {@code nEmbd / nHead}, as before there were other
     * architectures.
     */
    public ModelSpec(String name, int nVocab, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf, int nCtxTrain,
                     float ropeFreqBase, float rmsNormEps, boolean tiedEmbeddings) {
        this(Arch.LLAMA, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, derivedHeadDim(nEmbd, nHead), nFf, nCtxTrain,
                ropeFreqBase, rmsNormEps, tiedEmbeddings, 0, 0, 0, 0);
    }

    private static int derivedHeadDim(int nEmbd, int nHead) {
        positive(nEmbd, "nEmbd");
        positive(nHead, "nHead");
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("nEmbd " + nEmbd + " is not a multiple of nHead " + nHead);
        }
        return nEmbd / nHead;
    }

    private static void positive(int v, String what) {
        if (v <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }

    /** Width of the Q projection ({@code nHead * headDim}). */
    public int nEmbdQ() {
        return nHead * headDim;
    }

    /** Width of the K and V projections. */
    public int nEmbdKv() {
        return headDim * nHeadKv;
    }

    /** True when {@code headDim} is not what llama.cpp derives ({@code nEmbd / nHead}), so the key must be written. */
    boolean headDimDiffers() {
        return nEmbd % nHead != 0 || headDim != nEmbd / nHead;
    }

    /** Parameters of one block (norms and biases included). */
    public long parametersPerLayer() {
        long e = nEmbd;
        long q = nEmbdQ();
        long kv = nEmbdKv();
        long p = 2 * e                     // attn_norm, ffn_norm
                + 2 * e * q                // attn_q (or its part of attn_qkv), attn_output
                + 2 * e * kv;              // attn_k, attn_v
        p += switch (arch) {
            case QWEN2 -> q + 2 * kv;                                        // Q/K/V biases
            case QWEN3 -> 2L * headDim;                                      // Q/K norms
            case QWEN3MOE -> 2L * headDim;
            case GEMMA3 -> 2L * headDim + 2 * e;                             // Q/K norms, post norms
            default -> 0;
        };
        if (arch.hasExperts()) {
            p += e * nExpert + 3 * e * nFfExpert * (long) nExpert;          // router, experts
        } else {
            p += 3 * e * nFf;                                                // gate, up, down
        }
        return p;
    }

    /** Total parameter count, embeddings and output included (not the RoPE factors of {@link Arch#LLAMA3}). */
    public long parameterCount() {
        long e = nEmbd;
        return (long) nVocab * e * (tiedEmbeddings ? 1 : 2) + e + nLayer * parametersPerLayer();
    }

    /** True when layer {@code il} uses the sliding window (llama.cpp's Gemma 3 pattern). */
    public boolean isSlidingWindowLayer(int il) {
        return arch == Arch.GEMMA3 && slidingWindow > 0 && il % GEMMA3_SWA_PATTERN < GEMMA3_SWA_PATTERN - 1;
    }

    public ModelSpec withName(String newName) {
        return new ModelSpec(arch, newName, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    public ModelSpec withVocab(int newNVocab) {
        return new ModelSpec(arch, name, newNVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    public ModelSpec withLayers(int newNLayer) {
        return new ModelSpec(arch, name, nVocab, nEmbd, newNLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    public ModelSpec withContext(int newNCtxTrain) {
        return new ModelSpec(arch, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, newNCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    public ModelSpec withTiedEmbeddings(boolean tied) {
        return new ModelSpec(arch, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, ropeFreqBase,
                rmsNormEps, tied, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    /** This spec with another head width ({@link Arch#QWEN2} and {@link Arch#PHI3} accept only {@code nEmbd / nHead}). */
    public ModelSpec withHeadDim(int newHeadDim) {
        return new ModelSpec(arch, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, newHeadDim, nFf, nCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    public ModelSpec withRopeFreqBase(float newRopeFreqBase) {
        return new ModelSpec(arch, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, newRopeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, slidingWindow);
    }

    /** This mixture-of-experts spec with other experts ({@link Arch#MIXTRAL}: {@code newNFfExpert} is also its {@code nFf}). */
    public ModelSpec withExperts(int newNExpert, int newNExpertUsed, int newNFfExpert) {
        return new ModelSpec(arch, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, arch == Arch.MIXTRAL ? newNFfExpert : nFf,
                nCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, newNExpert, newNExpertUsed, newNFfExpert, slidingWindow);
    }

    /** This {@link Arch#GEMMA3} spec with another sliding window (0: full attention everywhere). */
    public ModelSpec withSlidingWindow(int newSlidingWindow) {
        return new ModelSpec(arch, name, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, ropeFreqBase,
                rmsNormEps, tiedEmbeddings, nExpert, nExpertUsed, nFfExpert, newSlidingWindow);
    }

    /** A small llama spec with the usual defaults (context {@value #DEFAULT_CONTEXT}, RoPE base 10000, eps 1e-5, untied). */
    public static ModelSpec of(int nVocab, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf) {
        return of(Arch.LLAMA, nVocab, nEmbd, nLayer, nHead, nHeadKv, nFf);
    }

    /**
     * A spec of {@code arch} with head width {@code nEmbd / nHead}, context {@value #DEFAULT_CONTEXT} and the
     * architecture's defaults: its RoPE base and eps; embeddings tied for {@link Arch#GEMMA3} only; for
     * a mixture of experts 4 experts of width {@code nFf}, 2 used per token; for {@link Arch#GEMMA3} a sliding
     * window of 512. Named {@code lora4j-random-<arch>}.
     */
    public static ModelSpec of(Arch arch, int nVocab, int nEmbd, int nLayer, int nHead, int nHeadKv, int nFf) {
        Objects.requireNonNull(arch, "arch");
        boolean moe = arch.hasExperts();
        return new ModelSpec(arch, "lora4j-random-" + arch.id(), nVocab, nEmbd, nLayer, nHead, nHeadKv,
                derivedHeadDim(nEmbd, nHead), nFf, DEFAULT_CONTEXT, arch.defaultRopeFreqBase(), arch.defaultRmsNormEps(),
                arch == Arch.GEMMA3, moe ? 4 : 0, moe ? 2 : 0, moe ? nFf : 0, arch == Arch.GEMMA3 ? 512 : 0);
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
     * A plausible llama shape with about {@code approxParameters} parameters (e.g. 1M, 10M, 100M, 300M, 1B) for a
     * vocabulary of {@code nVocab}: picks a width from a table of llama-like shapes (head dim 16..128, GQA,
     * feed-forward about 8/3 of the width and a multiple of 32) and the depth that comes closest, preferring
     * depths near the width's usual one. Rows are multiples of 32, so every supported weight type applies.
     * When the embeddings alone exceed the target (a large vocabulary with a tiny target) the smallest
     * shape is returned.
     */
    public static ModelSpec ofParameters(long approxParameters, int nVocab) {
        return ofParameters(Arch.LLAMA, approxParameters, nVocab);
    }

    /**
     * {@link #ofParameters(long, int)} for {@code arch}, with the defaults of {@link #of(Arch, int, int, int, int, int, int)}
     * except for a mixture of experts: 8 experts, 2 used, each a quarter of the table's feed-forward width (a
     * multiple of 32). The count is the total (all experts), not the active parameters. Named
     * {@code lora4j-random-<arch>-<count>}.
     */
    public static ModelSpec ofParameters(Arch arch, long approxParameters, int nVocab) {
        if (approxParameters <= 0) {
            throw new IllegalArgumentException("parameter count must be positive");
        }
        ModelSpec best = null;
        double bestScore = Double.MAX_VALUE;
        for (int[] w : WIDTHS) {
            ModelSpec one = of(arch, nVocab, w[0], 1, w[1], w[2], w[3]);
            if (arch.hasExperts()) {
                one = one.withExperts(8, 2, Math.max(32, w[3] / 4 / 32 * 32));
            }
            long fixed = one.parameterCount() - one.parametersPerLayer();
            long layers = Math.round((double) (approxParameters - fixed) / one.parametersPerLayer());
            layers = Math.max(1, Math.min(layers, 3L * w[4]));
            ModelSpec s = one.withLayers((int) layers);
            double score = Math.abs(Math.log((double) s.parameterCount() / approxParameters))
                    + 0.25 * Math.abs(Math.log((double) layers / w[4]));
            if (score < bestScore) {
                bestScore = score;
                best = s;
            }
        }
        String label = approxParameters >= 1_000_000_000 ? approxParameters / 1_000_000_000 + "B"
                : approxParameters >= 1_000_000 ? approxParameters / 1_000_000 + "M" : approxParameters / 1000 + "K";
        return best.withName("lora4j-random-" + arch.id() + "-" + label);
    }
}
