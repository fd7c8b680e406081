package dev.lora4j.gguf;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Writes random-weight GGUF models of the architectures in {@link ModelSpec.Arch} for tests and benchmarks, laid
 * out like the output of llama.cpp's {@code convert_hf_to_gguf.py}: the same keys in the same order, the tokenizer
 * ({@code tokenizer.*}, copied verbatim from a vocabulary GGUF such as llama.cpp's
 * {@code models/ggml-vocab-llama-spm.gguf}), tensor names and shapes in ggml order, in the converter's order. The
 * llama layout ({@code q = nHead·headDim}, {@code kv = nHeadKv·headDim}):
 *
 * <pre>
 * token_embd.weight          [n_embd, n_vocab]
 * blk.N.attn_norm.weight     [n_embd]            F32
 * blk.N.ffn_down.weight      [n_ff, n_embd]
 * blk.N.ffn_gate.weight      [n_embd, n_ff]
 * blk.N.ffn_up.weight        [n_embd, n_ff]
 * blk.N.ffn_norm.weight      [n_embd]            F32
 * blk.N.attn_k.weight        [n_embd, kv]
 * blk.N.attn_output.weight   [q, n_embd]
 * blk.N.attn_q.weight        [n_embd, q]
 * blk.N.attn_v.weight        [n_embd, kv]
 * output_norm.weight         [n_embd]            F32
 * output.weight              [n_embd, n_vocab]   (absent with tied embeddings)
 * </pre>
 *
 * <p>What each architecture changes (keys are {@code <arch>.*}; every one writes {@code block_count},
 * {@code context_length}, {@code embedding_length}, {@code feed_forward_length}, {@code attention.head_count},
 * {@code attention.head_count_kv}, {@code rope.freq_base}, {@code attention.layer_norm_rms_epsilon} and
 * {@code general.file_type}):
 * <ul>
 *   <li>{@code llama}: also {@code vocab_size}, {@code rope.dimension_count}.</li>
 *   <li>{@code llama3} (written as {@code llama}): also {@code rope_freqs.weight [headDim/2]} F32, first, the
 *       Llama 3 RoPE scaling factors (factor 32, low/high frequency factors 1 and 4, original context 8192),
 *       which llama.cpp multiplies into the RoPE frequencies.</li>
 *   <li>{@code qwen2}: {@code blk.N.attn_k.bias}, {@code attn_q.bias}, {@code attn_v.bias} (F32, each before its
 *       weight); no {@code vocab_size} or {@code rope.dimension_count} keys.</li>
 *   <li>{@code qwen3}: {@code blk.N.attn_k_norm.weight}, {@code attn_q_norm.weight} {@code [headDim]} F32;
 *       {@code attention.key_length}/{@code value_length}.</li>
 *   <li>{@code qwen3moe}: as qwen3, with the dense feed-forward replaced by {@code blk.N.ffn_down_exps.weight
 *       [n_ff_exp, n_embd, n_expert]}, {@code ffn_gate_exps}/{@code ffn_up_exps [n_embd, n_ff_exp, n_expert]} and
 *       the router {@code ffn_gate_inp.weight [n_embd, n_expert]} (F32, as the converter keeps it and
 *       {@code llama-quantize} leaves it); {@code expert_count}, {@code expert_used_count},
 *       {@code expert_feed_forward_length}.</li>
 *   <li>{@code mixtral} (written as {@code llama}): the llama layout with qwen3moe's router and experts
 *       ({@code n_ff_exp} = {@code n_ff}); {@code expert_count}, {@code expert_used_count}.</li>
 *   <li>{@code mistral3}: the llama layout; also {@code attention.key_length}/{@code value_length},
 *       {@code vocab_size}, {@code rope.dimension_count}.</li>
 *   <li>{@code phi3}: {@code blk.N.attn_qkv.weight [n_embd, n_embd + 2·kv]} instead of Q/K/V, and the gate and up
 *       projections fused in {@code blk.N.ffn_up.weight [n_embd, 2·n_ff]} (no {@code ffn_gate}); per layer
 *       {@code attn_norm, ffn_down, ffn_up, ffn_norm, attn_output, attn_qkv}; also
 *       {@code rope.scaling.original_context_length}, {@code rope.dimension_count} and
 *       {@code attention.sliding_window} 0 (Phi's sliding window, which llama.cpp disables anyway).</li>
 *   <li>{@code gemma3}: {@code blk.N.post_attention_norm.weight}, {@code post_ffw_norm.weight [n_embd]} and the
 *       Q/K norms; tied embeddings by default; {@code rope.freq_base_swa} (10000),
 *       {@code attention.key_length}/{@code value_length} and {@code attention.sliding_window} (when positive;
 *       llama.cpp then uses its Gemma 3 pattern: layers {@code il % 6 < 5} slide, every sixth attends fully). The
 *       converter stores Gemma's RMS norm weights as {@code 1 + w}, the multiplier itself, so ones here are the
 *       identity norm as for the other architectures. Gemma's own vocabulary is not in llama.cpp's
 *       {@code models/}: use the LLaMA SPM vocabulary (the CLI's default for gemma3).</li>
 * </ul>
 *
 * <p>Norm weights are ones (F32); biases (F32) and every matrix, {@code token_embd} included (llama.cpp reads rows
 * of any of the supported types), are drawn from a normal distribution with standard deviation
 * {@link #WEIGHT_STD}; matrices are stored in the requested type: F32, F16, BF16, Q8_0 or Q4_0. A matrix whose
 * rows are not a multiple of the type's block size falls back to F16, as {@code llama-quantize} does. Each tensor
 * gets its own {@link SplittableRandom} split in a fixed order from one seeded root, so the same spec, vocabulary,
 * type and seed always give the same bytes (and a llama model the same bytes as before the other architectures).
 * Tensors are generated and written in chunks, so memory use does not grow with the model size.
 */
public final class ModelBuilder {
    /** Standard deviation of the random weights. */
    public static final float WEIGHT_STD = 0.02f;
    /** {@code GGML_QNT_VERSION} written as {@code general.quantization_version}. */
    public static final int QUANTIZATION_VERSION = 2;

    private static final int CHUNK = 1 << 16; // elements per generated chunk; a multiple of every block size

    private ModelBuilder() {
    }

    /** The vocabulary size of a GGUF's tokenizer ({@code tokenizer.ggml.tokens}). */
    public static int vocabSize(GgufFile vocabSource) {
        GgufValue tokens = vocabSource.get("tokenizer.ggml.tokens")
                .orElseThrow(() -> new GgufFormatException(vocabSource.path(), 0, "no 'tokenizer.ggml.tokens' key: not a vocabulary"));
        if (!tokens.isArray() || tokens.elementType() != GgufValueType.STRING) {
            throw new GgufFormatException(vocabSource.path(), 0, "'tokenizer.ggml.tokens' is " + tokens.describeType()
                    + ", not an array of strings");
        }
        return tokens.length();
    }

    /** {@code general.file_type} ({@code enum llama_ftype}) of a model whose weights are mostly {@code type}. */
    public static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case BF16 -> 32;
            default -> throw new IllegalArgumentException("weight type " + type + " is not supported (F32, F16, BF16, Q8_0, Q4_0)");
        };
    }

    /** How a tensor's values are made. */
    public enum Init {
        /** Ones (norm weights). */
        ONES,
        /** Normal(0, {@link ModelBuilder#WEIGHT_STD}): matrices and biases. */
        NORMAL,
        /** The Llama 3 RoPE scaling factors ({@link ModelBuilder#llama3RopeFactors}). */
        ROPE_FACTORS
    }

    /** One tensor of the model: name, shape (ggml order), stored type, values. */
    public record TensorPlan(String name, long[] shape, GgmlType type, Init init) {
        /** True for a norm weight (ones, F32). */
        public boolean norm() {
            return init == Init.ONES;
        }
    }

    /** The tensors {@link #write} writes, in file order. */
    public static List<TensorPlan> plan(ModelSpec spec, GgmlType weightType) {
        fileType(weightType); // validates
        ModelSpec.Arch arch = spec.arch();
        long e = spec.nEmbd();
        long q = spec.nEmbdQ();
        long kv = spec.nEmbdKv();
        long hd = spec.headDim();
        long ff = spec.nFf();
        long v = spec.nVocab();
        List<TensorPlan> out = new ArrayList<>();
        if (arch == ModelSpec.Arch.LLAMA3) {
            out.add(new TensorPlan("rope_freqs.weight", new long[] {hd / 2}, GgmlType.F32, Init.ROPE_FACTORS));
        }
        out.add(matrix("token_embd.weight", e, v, weightType));
        for (int i = 0; i < spec.nLayer(); i++) {
            String p = "blk." + i + ".";
            out.add(norm(p + "attn_norm.weight", e));
            switch (arch) {
                case PHI3 -> {
                    out.add(matrix(p + "ffn_down.weight", ff, e, weightType));
                    out.add(matrix(p + "ffn_up.weight", e, 2 * ff, weightType));
                    out.add(norm(p + "ffn_norm.weight", e));
                    out.add(matrix(p + "attn_output.weight", q, e, weightType));
                    out.add(matrix(p + "attn_qkv.weight", e, q + 2 * kv, weightType));
                    continue;
                }
                case QWEN3MOE, MIXTRAL -> {
                    long fe = spec.nFfExpert();
                    long ne = spec.nExpert();
                    out.add(matrix(p + "ffn_down_exps.weight", new long[] {fe, e, ne}, weightType));
                    out.add(matrix(p + "ffn_gate_exps.weight", new long[] {e, fe, ne}, weightType));
                    out.add(matrix(p + "ffn_up_exps.weight", new long[] {e, fe, ne}, weightType));
                    out.add(new TensorPlan(p + "ffn_gate_inp.weight", new long[] {e, ne}, GgmlType.F32, Init.NORMAL));
                    out.add(norm(p + "ffn_norm.weight", e));
                }
                case GEMMA3 -> {
                    out.add(matrix(p + "ffn_down.weight", ff, e, weightType));
                    out.add(matrix(p + "ffn_gate.weight", e, ff, weightType));
                    out.add(matrix(p + "ffn_up.weight", e, ff, weightType));
                    out.add(norm(p + "post_attention_norm.weight", e));
                    out.add(norm(p + "post_ffw_norm.weight", e));
                    out.add(norm(p + "ffn_norm.weight", e));
                }
                default -> {
                    out.add(matrix(p + "ffn_down.weight", ff, e, weightType));
                    out.add(matrix(p + "ffn_gate.weight", e, ff, weightType));
                    out.add(matrix(p + "ffn_up.weight", e, ff, weightType));
                    out.add(norm(p + "ffn_norm.weight", e));
                }
            }
            boolean qkNorm = arch == ModelSpec.Arch.QWEN3 || arch == ModelSpec.Arch.QWEN3MOE || arch == ModelSpec.Arch.GEMMA3;
            boolean bias = arch == ModelSpec.Arch.QWEN2;
            if (qkNorm) {
                out.add(norm(p + "attn_k_norm.weight", hd));
            }
            if (bias) {
                out.add(bias(p + "attn_k.bias", kv));
            }
            out.add(matrix(p + "attn_k.weight", e, kv, weightType));
            out.add(matrix(p + "attn_output.weight", q, e, weightType));
            if (qkNorm) {
                out.add(norm(p + "attn_q_norm.weight", hd));
            }
            if (bias) {
                out.add(bias(p + "attn_q.bias", q));
            }
            out.add(matrix(p + "attn_q.weight", e, q, weightType));
            if (bias) {
                out.add(bias(p + "attn_v.bias", kv));
            }
            out.add(matrix(p + "attn_v.weight", e, kv, weightType));
        }
        out.add(norm("output_norm.weight", e));
        if (!spec.tiedEmbeddings()) {
            out.add(matrix("output.weight", e, v, weightType));
        }
        return out;
    }

    private static TensorPlan matrix(String name, long ne0, long ne1, GgmlType type) {
        return matrix(name, new long[] {ne0, ne1}, type);
    }

    private static TensorPlan matrix(String name, long[] shape, GgmlType type) {
        GgmlType t = shape[0] % type.blockSize() == 0 ? type : GgmlType.F16;
        return new TensorPlan(name, shape, t, Init.NORMAL);
    }

    private static TensorPlan norm(String name, long n) {
        return new TensorPlan(name, new long[] {n}, GgmlType.F32, Init.ONES);
    }

    private static TensorPlan bias(String name, long n) {
        return new TensorPlan(name, new long[] {n}, GgmlType.F32, Init.NORMAL);
    }

    /**
     * The Llama 3 RoPE scaling factors of {@code rope_freqs.weight}, computed as the converter does (Llama 3.2:
     * factor 32, low/high frequency factors 1 and 4, original context 8192): 1 for wavelengths below 8192/4, 32 above
     * 8192, smoothly in between.
     */
    public static float[] llama3RopeFactors(int headDim, float ropeFreqBase) {
        final double factor = 32.0;
        final double lowFreqFactor = 1.0;
        final double highFreqFactor = 4.0;
        final double oldContext = 8192.0;
        double lowFreqWavelen = oldContext / lowFreqFactor;
        double highFreqWavelen = oldContext / highFreqFactor;
        float[] out = new float[headDim / 2];
        for (int i = 0; i < out.length; i++) {
            float freq = (float) (1.0 / Math.pow(ropeFreqBase, (double) (2 * i) / headDim));
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highFreqWavelen) {
                out[i] = 1f;
            } else if (wavelen > lowFreqWavelen) {
                out[i] = (float) factor;
            } else {
                double smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                out[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return out;
    }

    /**
     * Writes a random-weight model to {@code out} (atomically, see {@link GgufWriter}).
     *
     * @param spec        architecture and shape; {@code spec.nVocab()} must equal the vocabulary source's size
     * @param vocabSource a GGUF whose {@code tokenizer.*} keys are copied (kept open during the call)
     * @param weightType  F32, F16, BF16, Q8_0 or Q4_0
     * @param seed        seed of the weights
     * @param progress    bytes of tensor data written so far, of the total
     */
    public static void write(ModelSpec spec, GgufFile vocabSource, Path out, GgmlType weightType, long seed,
                             ProgressListener progress) {
        Objects.requireNonNull(spec, "spec");
        Objects.requireNonNull(out, "out");
        Objects.requireNonNull(progress, "progress");
        int ftype = fileType(weightType);
        int nVocab = vocabSize(vocabSource);
        if (nVocab != spec.nVocab()) {
            throw new IllegalArgumentException("spec has nVocab " + spec.nVocab() + " but the vocabulary "
                    + vocabSource.path() + " has " + nVocab + " tokens");
        }

        ModelSpec.Arch arch = spec.arch();
        String a = arch.ggufArchitecture() + ".";
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", arch.ggufArchitecture());
        w.putString("general.name", spec.name());
        if (arch == ModelSpec.Arch.PHI3) {
            // Phi3MiniModel.set_gguf_parameters writes its own order
            w.putUint32(a + "context_length", spec.nCtxTrain());
            w.putUint32(a + "rope.scaling.original_context_length", spec.nCtxTrain());
            w.putUint32(a + "embedding_length", spec.nEmbd());
            w.putUint32(a + "feed_forward_length", spec.nFf());
            w.putUint32(a + "block_count", spec.nLayer());
            w.putUint32(a + "attention.head_count", spec.nHead());
            w.putUint32(a + "attention.head_count_kv", spec.nHeadKv());
            w.putFloat32(a + "attention.layer_norm_rms_epsilon", spec.rmsNormEps());
            w.putUint32(a + "rope.dimension_count", spec.headDim());
            w.putFloat32(a + "rope.freq_base", spec.ropeFreqBase());
            w.putUint32("general.file_type", ftype);
            w.putUint32(a + "attention.sliding_window", 0);
        } else {
            // TextModel.set_gguf_parameters, then the architecture's additions
            w.putUint32(a + "block_count", spec.nLayer());
            w.putUint32(a + "context_length", spec.nCtxTrain());
            w.putUint32(a + "embedding_length", spec.nEmbd());
            w.putUint32(a + "feed_forward_length", spec.nFf());
            w.putUint32(a + "attention.head_count", spec.nHead());
            w.putUint32(a + "attention.head_count_kv", spec.nHeadKv());
            w.putFloat32(a + "rope.freq_base", spec.ropeFreqBase());
            if (arch == ModelSpec.Arch.GEMMA3) {
                w.putFloat32(a + "rope.freq_base_swa", ModelSpec.GEMMA3_ROPE_FREQ_BASE_SWA);
            }
            w.putFloat32(a + "attention.layer_norm_rms_epsilon", spec.rmsNormEps());
            if (arch.hasExperts()) {
                w.putUint32(a + "expert_count", spec.nExpert());
                w.putUint32(a + "expert_used_count", spec.nExpertUsed());
            }
            if (arch.alwaysWritesHeadDim() || spec.headDimDiffers()) {
                w.putUint32(a + "attention.key_length", spec.headDim());
                w.putUint32(a + "attention.value_length", spec.headDim());
            }
            w.putUint32("general.file_type", ftype);
            switch (arch) {
                case LLAMA, LLAMA3, MISTRAL3, MIXTRAL -> {
                    w.putUint32(a + "vocab_size", spec.nVocab());
                    w.putUint32(a + "rope.dimension_count", spec.headDim());
                }
                case QWEN3MOE -> w.putUint32(a + "expert_feed_forward_length", spec.nFfExpert());
                case GEMMA3 -> {
                    if (spec.slidingWindow() > 0) {
                        w.putUint32(a + "attention.sliding_window", spec.slidingWindow());
                    }
                }
                default -> {
                }
            }
        }
        for (Map.Entry<String, GgufValue> kv : vocabSource.metadata().entrySet()) {
            if (kv.getKey().startsWith("tokenizer.")) {
                w.put(kv.getKey(), kv.getValue());
            }
        }
        w.putUint32("general.quantization_version", QUANTIZATION_VERSION);

        SplittableRandom root = new SplittableRandom(seed);
        for (TensorPlan t : plan(spec, weightType)) {
            SplittableRandom rng = root.split(); // split for every tensor, in order, norms included
            long n = 1;
            for (long d : t.shape()) {
                n *= d;
            }
            final long elements = n;
            switch (t.init()) {
                case ONES -> w.addTensor(t.name(), t.type(), t.shape(), (GgufWriter.TensorData) ch -> fill(ch, t.type(), elements, null));
                case NORMAL -> w.addTensor(t.name(), t.type(), t.shape(), (GgufWriter.TensorData) ch -> fill(ch, t.type(), elements, rng));
                case ROPE_FACTORS -> {
                    float[] f = llama3RopeFactors(spec.headDim(), spec.ropeFreqBase());
                    byte[] bytes = new byte[f.length * Float.BYTES];
                    ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer().put(f);
                    w.addTensor(t.name(), GgmlType.F32, t.shape(), bytes);
                }
            }
        }
        w.write(out, progress);
    }

    /** Writes {@code n} elements: ones when {@code rng} is null, else normal(0, WEIGHT_STD). */
    private static void fill(java.nio.channels.WritableByteChannel ch, GgmlType type, long n, SplittableRandom rng)
            throws java.io.IOException {
        int chunk = (int) Math.min(CHUNK, n);
        float[] src = new float[chunk];
        byte[] dst = new byte[(int) GgmlQuant.bytesFor(type, chunk)];
        MemorySegment dstSeg = MemorySegment.ofArray(dst);
        for (long done = 0; done < n; done += chunk) {
            int m = (int) Math.min(chunk, n - done);
            for (int i = 0; i < m; i++) {
                src[i] = rng == null ? 1.0f : (float) (rng.nextGaussian() * WEIGHT_STD);
            }
            int bytes = (int) GgmlQuant.quantize(type, src, 0, m, dstSeg, 0);
            GgufWriter.writeFully(ch, ByteBuffer.wrap(dst, 0, bytes));
        }
    }
}
