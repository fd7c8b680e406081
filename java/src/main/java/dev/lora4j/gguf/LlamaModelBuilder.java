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
 * Writes random-weight llama-architecture GGUF models for tests and benchmarks, laid out like the output
 * of llama.cpp's {@code convert_hf_to_gguf.py} for llama: the same keys in the same order, the tokenizer
 * ({@code tokenizer.*}, copied verbatim from a vocabulary GGUF such as llama.cpp's
 * {@code models/ggml-vocab-llama-spm.gguf}), tensor names and shapes in ggml order:
 *
 * <pre>
 * token_embd.weight          [n_embd, n_vocab]
 * blk.N.attn_norm.weight     [n_embd]            F32
 * blk.N.ffn_down.weight      [n_ff, n_embd]
 * blk.N.ffn_gate.weight      [n_embd, n_ff]
 * blk.N.ffn_up.weight        [n_embd, n_ff]
 * blk.N.ffn_norm.weight      [n_embd]            F32
 * blk.N.attn_k.weight        [n_embd, n_embd_kv]
 * blk.N.attn_output.weight   [n_embd, n_embd]
 * blk.N.attn_q.weight        [n_embd, n_embd]
 * blk.N.attn_v.weight        [n_embd, n_embd_kv]
 * output_norm.weight         [n_embd]            F32
 * output.weight              [n_embd, n_vocab]   (absent with tied embeddings)
 * </pre>
 *
 * <p>Norm weights are ones (F32); every matrix, {@code token_embd} included (llama.cpp reads rows of any
 * of the supported types), is drawn from a normal distribution with standard deviation {@link #WEIGHT_STD}
 * and stored in the requested type: F32, F16, BF16, Q8_0 or Q4_0. A matrix whose rows are not a multiple of
 * the type's block size falls back to F16, as {@code llama-quantize} does. Each tensor gets its own
 * {@link SplittableRandom} split in a fixed order from one seeded root, so the same spec, vocabulary, type
 * and seed always give the same bytes. Tensors are generated and written in chunks, so memory use does not
 * grow with the model size.
 */
public final class LlamaModelBuilder {
    /** Standard deviation of the random weights. */
    public static final float WEIGHT_STD = 0.02f;
    /** {@code GGML_QNT_VERSION} written as {@code general.quantization_version}. */
    public static final int QUANTIZATION_VERSION = 2;

    private static final int CHUNK = 1 << 16; // elements per generated chunk; a multiple of every block size

    private LlamaModelBuilder() {
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

    /** One tensor of the model: name, shape (ggml order), stored type. */
    public record TensorPlan(String name, long[] shape, GgmlType type, boolean norm) {
    }

    /** The tensors {@link #write} writes, in file order. */
    public static List<TensorPlan> plan(LlamaModelSpec spec, GgmlType weightType) {
        fileType(weightType); // validates
        long e = spec.nEmbd();
        long kv = spec.nEmbdKv();
        long ff = spec.nFf();
        long v = spec.nVocab();
        List<TensorPlan> out = new ArrayList<>();
        out.add(matrix("token_embd.weight", e, v, weightType));
        for (int i = 0; i < spec.nLayer(); i++) {
            String p = "blk." + i + ".";
            out.add(norm(p + "attn_norm.weight", e));
            out.add(matrix(p + "ffn_down.weight", ff, e, weightType));
            out.add(matrix(p + "ffn_gate.weight", e, ff, weightType));
            out.add(matrix(p + "ffn_up.weight", e, ff, weightType));
            out.add(norm(p + "ffn_norm.weight", e));
            out.add(matrix(p + "attn_k.weight", e, kv, weightType));
            out.add(matrix(p + "attn_output.weight", e, e, weightType));
            out.add(matrix(p + "attn_q.weight", e, e, weightType));
            out.add(matrix(p + "attn_v.weight", e, kv, weightType));
        }
        out.add(norm("output_norm.weight", e));
        if (!spec.tiedEmbeddings()) {
            out.add(matrix("output.weight", e, v, weightType));
        }
        return out;
    }

    private static TensorPlan matrix(String name, long ne0, long ne1, GgmlType type) {
        GgmlType t = ne0 % type.blockSize() == 0 ? type : GgmlType.F16;
        return new TensorPlan(name, new long[] {ne0, ne1}, t, false);
    }

    private static TensorPlan norm(String name, long n) {
        return new TensorPlan(name, new long[] {n}, GgmlType.F32, true);
    }

    /**
     * Writes a random-weight llama model to {@code out} (atomically, see {@link GgufWriter}).
     *
     * @param spec        shape; {@code spec.nVocab()} must equal the vocabulary source's size
     * @param vocabSource a GGUF whose {@code tokenizer.*} keys are copied (kept open during the call)
     * @param weightType  F32, F16, BF16, Q8_0 or Q4_0
     * @param seed        seed of the weights
     * @param progress    bytes of tensor data written so far, of the total
     */
    public static void write(LlamaModelSpec spec, GgufFile vocabSource, Path out, GgmlType weightType, long seed,
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

        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", spec.name());
        w.putUint32("llama.block_count", spec.nLayer());
        w.putUint32("llama.context_length", spec.nCtxTrain());
        w.putUint32("llama.embedding_length", spec.nEmbd());
        w.putUint32("llama.feed_forward_length", spec.nFf());
        w.putUint32("llama.attention.head_count", spec.nHead());
        w.putUint32("llama.attention.head_count_kv", spec.nHeadKv());
        w.putFloat32("llama.rope.freq_base", spec.ropeFreqBase());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", spec.rmsNormEps());
        w.putUint32("general.file_type", ftype);
        w.putUint32("llama.vocab_size", spec.nVocab());
        w.putUint32("llama.rope.dimension_count", spec.headDim());
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
            if (t.norm()) {
                w.addTensor(t.name(), t.type(), t.shape(), (GgufWriter.TensorData) ch -> fill(ch, t.type(), elements, null));
            } else {
                w.addTensor(t.name(), t.type(), t.shape(), (GgufWriter.TensorData) ch -> fill(ch, t.type(), elements, rng));
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
