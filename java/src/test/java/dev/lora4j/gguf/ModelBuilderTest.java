package dev.lora4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ModelBuilderTest {
    @TempDir
    Path tmp;

    /** The vocabulary: llama.cpp's llama-spm vocab if the source is around, else a shared model's tokenizer. */
    private static Path vocab() {
        Path p = GgufTestFiles.llamaCppSource().map(s -> s.resolve("models/ggml-vocab-llama-spm.gguf"))
                .filter(Files::isRegularFile)
                .or(() -> GgufTestFiles.sharedModel("stories260K.gguf")).orElse(null);
        Requires.that(p != null, "needs ../shared/models beside the checkout (CI has it) or the pinned llama.cpp source");
        return p;
    }

    private static ModelSpec tiny(int nVocab) {
        return ModelSpec.of(nVocab, 64, 2, 4, 2, 128);
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void tinyModelInEveryType(GgmlType type) throws IOException {
        Path out = tmp.resolve("tiny-" + type + ".gguf");
        List<long[]> progress = new ArrayList<>();
        try (GgufFile v = GgufFile.open(vocab())) {
            ModelSpec spec = tiny(ModelBuilder.vocabSize(v));
            ModelBuilder.write(spec, v, out, type, 1234, (d, t) -> progress.add(new long[] {d, t}));
            try (GgufFile g = GgufFile.open(out)) {
                assertEquals(3, g.version());
                assertEquals("llama", g.architecture().orElseThrow());
                assertEquals(spec.name(), g.requireString("general.name"));
                assertEquals(2, g.requireInt("llama.block_count"));
                assertEquals(64, g.requireInt("llama.embedding_length"));
                assertEquals(128, g.requireInt("llama.feed_forward_length"));
                assertEquals(4, g.requireInt("llama.attention.head_count"));
                assertEquals(2, g.requireInt("llama.attention.head_count_kv"));
                assertEquals(16, g.requireInt("llama.rope.dimension_count"));
                assertEquals(2048, g.requireInt("llama.context_length"));
                assertEquals(10000f, g.requireFloat("llama.rope.freq_base"));
                assertEquals(1e-5f, g.requireFloat("llama.attention.layer_norm_rms_epsilon"));
                assertEquals(ModelBuilder.fileType(type), g.requireInt("general.file_type"));
                assertEquals(spec.nVocab(), g.requireInt("llama.vocab_size"));
                assertEquals(GgufValueType.UINT32, g.get("llama.block_count").orElseThrow().type());
                // every tokenizer key copied verbatim, in order
                List<String> vocabKeys = v.metadata().keySet().stream().filter(k -> k.startsWith("tokenizer.")).toList();
                assertFalse(vocabKeys.isEmpty());
                assertEquals(vocabKeys, g.metadata().keySet().stream().filter(k -> k.startsWith("tokenizer.")).toList());
                for (String k : vocabKeys) {
                    assertEquals(v.get(k).orElseThrow(), g.get(k).orElseThrow(), k);
                }

                List<GgufTensorInfo> ts = g.tensors();
                assertEquals(1 + 2 * 9 + 2, ts.size());
                assertEquals("token_embd.weight", ts.get(0).name());
                assertEquals("output.weight", ts.getLast().name());
                long kv = spec.nEmbdKv();
                Map<String, long[]> shapes = Map.of(
                        "token_embd.weight", new long[] {64, spec.nVocab()},
                        "blk.1.attn_norm.weight", new long[] {64},
                        "blk.1.attn_q.weight", new long[] {64, 64},
                        "blk.1.attn_k.weight", new long[] {64, kv},
                        "blk.1.attn_v.weight", new long[] {64, kv},
                        "blk.1.attn_output.weight", new long[] {64, 64},
                        "blk.1.ffn_gate.weight", new long[] {64, 128},
                        "blk.1.ffn_up.weight", new long[] {64, 128},
                        "blk.1.ffn_down.weight", new long[] {128, 64},
                        "output.weight", new long[] {64, spec.nVocab()});
                shapes.forEach((name, shape) -> assertArrayEquals(shape, g.tensor(name).orElseThrow().shape(), name));
                long params = 0;
                for (GgufTensorInfo t : ts) {
                    params += t.elementCount();
                    boolean norm = t.name().endsWith("norm.weight");
                    assertEquals(norm ? GgmlType.F32 : type, t.type(), t.name());
                    float[] w = g.tensorFloats(t.name());
                    if (norm) {
                        for (float x : w) {
                            assertEquals(1f, x);
                        }
                    } else {
                        double sum = 0;
                        double sq = 0;
                        for (float x : w) {
                            sum += x;
                            sq += (double) x * x;
                        }
                        double mean = sum / w.length;
                        double std = Math.sqrt(sq / w.length - mean * mean);
                        assertTrue(Math.abs(mean) < 0.01, t.name() + " mean " + mean);
                        assertTrue(std > 0.015 && std < 0.025, t.name() + " std " + std);
                    }
                }
                assertEquals(spec.parameterCount(), params);
                long dataBytes = ts.stream().mapToLong(GgufTensorInfo::byteSize).sum();
                assertEquals(dataBytes, progress.getLast()[0]);
                assertEquals(dataBytes, progress.getLast()[1]);
                // a canonical file: rewrites byte for byte
                Path again = tmp.resolve("again.gguf");
                GgufWriter.copyOf(g).write(again);
                assertEquals(-1, Files.mismatch(out, again));
            }
        }
    }

    @Test
    void sameSeedSameBytesOtherSeedOtherBytes() throws IOException {
        try (GgufFile v = GgufFile.open(vocab())) {
            ModelSpec spec = tiny(ModelBuilder.vocabSize(v)).withTiedEmbeddings(true);
            Path a = writtenDeterministically(spec, v, GgmlType.Q8_0, 7, "tied");
            try (GgufFile g = GgufFile.open(a)) {
                assertTrue(g.tensor("output.weight").isEmpty());
                assertEquals("output_norm.weight", g.tensors().getLast().name());
                assertEquals(spec.parameterCount(), g.tensors().stream().mapToLong(GgufTensorInfo::elementCount).sum());
                // layers differ from each other
                assertFalse(java.util.Arrays.equals(g.tensorFloats("blk.0.attn_q.weight"), g.tensorFloats("blk.1.attn_q.weight")));
            }
            assertThrows(IllegalArgumentException.class,
                    () -> ModelBuilder.write(spec.withVocab(spec.nVocab() + 1), v, tmp.resolve("x.gguf"), GgmlType.F16, 1, ProgressListener.NONE));
            assertThrows(IllegalArgumentException.class,
                    () -> ModelBuilder.write(spec, v, tmp.resolve("x.gguf"), GgmlType.Q4_K, 1, ProgressListener.NONE));
        }
    }

    @Test
    void rowsNotMultipleOfTheBlockFallBackToF16() {
        List<ModelBuilder.TensorPlan> plan = ModelBuilder.plan(ModelSpec.of(100, 64, 1, 4, 4, 172), GgmlType.Q4_0);
        for (ModelBuilder.TensorPlan t : plan) {
            GgmlType expected = t.norm() ? GgmlType.F32 : t.name().endsWith("ffn_down.weight") ? GgmlType.F16 : GgmlType.Q4_0;
            assertEquals(expected, t.type(), t.name());
        }
    }

    @Test
    void specValidationAndPresets() {
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(100, 64, 1, 5, 5, 128)); // 64 % 5
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(100, 64, 1, 4, 3, 128)); // 4 % 3
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(100, 96, 1, 32, 32, 128)); // head dim 3
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(0, 64, 1, 4, 4, 128));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(100, 64, 0, 4, 4, 128));

        ModelSpec llama7b = new ModelSpec("7b", 32000, 4096, 32, 32, 32, 11008, 4096, 10000f, 1e-5f, false);
        assertEquals(6_738_415_616L, llama7b.parameterCount()); // LLaMA-2 7B

        for (long target : new long[] {10_000_000L, 100_000_000L, 300_000_000L, 1_000_000_000L}) {
            ModelSpec s = ModelSpec.ofParameters(target, 32000);
            double ratio = (double) s.parameterCount() / target;
            assertTrue(ratio > 0.75 && ratio < 1.33, target + " -> " + s + " = " + s.parameterCount());
            assertEquals(0, s.nEmbd() % 32);
            assertEquals(0, s.nFf() % 32);
        }
        ModelSpec m1 = ModelSpec.ofParameters(1_000_000L, 2048);
        double r1 = (double) m1.parameterCount() / 1_000_000L;
        assertTrue(r1 > 0.75 && r1 < 1.33, m1 + " = " + m1.parameterCount());
        // a target below what the vocabulary alone needs gets the smallest shape
        assertEquals(64, ModelSpec.ofParameters(1_000_000L, 32000).nEmbd());
    }
    /** A tiny spec of {@code arch} (Gemma 3 with 6 layers, a window of 16; Qwen3-MoE 4 experts of 96, 2 used; Mixtral 4 of 128, 2 used). */
    private static ModelSpec tiny(ModelSpec.Arch arch, int nVocab) {
        ModelSpec s = ModelSpec.of(arch, nVocab, 64, arch == ModelSpec.Arch.GEMMA3 ? 6 : 2, 4, 2, 128);
        if (arch == ModelSpec.Arch.GEMMA3) {
            s = s.withSlidingWindow(16);
        }
        if (arch == ModelSpec.Arch.QWEN3MOE) {
            s = s.withExperts(4, 2, 96);
        }
        return s;
    }

    private static java.util.LinkedHashMap<String, long[]> shapes(List<ModelBuilder.TensorPlan> plan) {
        java.util.LinkedHashMap<String, long[]> m = new java.util.LinkedHashMap<>();
        for (ModelBuilder.TensorPlan t : plan) {
            m.put(t.name(), t.shape());
        }
        return m;
    }

    @ParameterizedTest
    @EnumSource(ModelSpec.Arch.class)
    void planOfEveryArchitecture(ModelSpec.Arch arch) {
        ModelSpec spec = tiny(arch, 1000);
        List<ModelBuilder.TensorPlan> plan = ModelBuilder.plan(spec, GgmlType.Q8_0);
        var m = shapes(plan);
        assertEquals(plan.size(), m.size(), "unique names");
        long e = 64;
        long kv = 32;
        List<String> blk1 = plan.stream().map(ModelBuilder.TensorPlan::name).filter(n -> n.startsWith("blk.1.")).map(n -> n.substring(6)).toList();
        switch (arch) {
            case LLAMA, LLAMA3, MISTRAL3 -> assertEquals(List.of("attn_norm.weight", "ffn_down.weight", "ffn_gate.weight", "ffn_up.weight",
                    "ffn_norm.weight", "attn_k.weight", "attn_output.weight", "attn_q.weight", "attn_v.weight"), blk1);
            case QWEN2 -> assertEquals(List.of("attn_norm.weight", "ffn_down.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_norm.weight",
                    "attn_k.bias", "attn_k.weight", "attn_output.weight", "attn_q.bias", "attn_q.weight", "attn_v.bias", "attn_v.weight"), blk1);
            case QWEN3 -> assertEquals(List.of("attn_norm.weight", "ffn_down.weight", "ffn_gate.weight", "ffn_up.weight", "ffn_norm.weight",
                    "attn_k_norm.weight", "attn_k.weight", "attn_output.weight", "attn_q_norm.weight", "attn_q.weight", "attn_v.weight"), blk1);
            case QWEN3MOE -> assertEquals(List.of("attn_norm.weight", "ffn_down_exps.weight", "ffn_gate_exps.weight", "ffn_up_exps.weight",
                    "ffn_gate_inp.weight", "ffn_norm.weight", "attn_k_norm.weight", "attn_k.weight", "attn_output.weight",
                    "attn_q_norm.weight", "attn_q.weight", "attn_v.weight"), blk1);
            case MIXTRAL -> assertEquals(List.of("attn_norm.weight", "ffn_down_exps.weight", "ffn_gate_exps.weight", "ffn_up_exps.weight",
                    "ffn_gate_inp.weight", "ffn_norm.weight", "attn_k.weight", "attn_output.weight", "attn_q.weight", "attn_v.weight"), blk1);
            case PHI3 -> assertEquals(List.of("attn_norm.weight", "ffn_down.weight", "ffn_up.weight", "ffn_norm.weight",
                    "attn_output.weight", "attn_qkv.weight"), blk1);
            case GEMMA3 -> assertEquals(List.of("attn_norm.weight", "ffn_down.weight", "ffn_gate.weight", "ffn_up.weight",
                    "post_attention_norm.weight", "post_ffw_norm.weight", "ffn_norm.weight", "attn_k_norm.weight", "attn_k.weight",
                    "attn_output.weight", "attn_q_norm.weight", "attn_q.weight", "attn_v.weight"), blk1);
        }
        assertEquals(arch == ModelSpec.Arch.LLAMA3 ? "rope_freqs.weight" : "token_embd.weight", plan.getFirst().name());
        assertEquals(arch == ModelSpec.Arch.GEMMA3 ? "output_norm.weight" : "output.weight", plan.getLast().name(), "gemma3 ties by default");
        if (arch == ModelSpec.Arch.LLAMA3) {
            assertArrayEquals(new long[] {8}, m.get("rope_freqs.weight"));
        }
        if (arch == ModelSpec.Arch.PHI3) {
            assertArrayEquals(new long[] {e, e + 2 * kv}, m.get("blk.0.attn_qkv.weight"));
            assertArrayEquals(new long[] {e, 2 * 128}, m.get("blk.0.ffn_up.weight"));
            assertArrayEquals(new long[] {128, e}, m.get("blk.0.ffn_down.weight"));
        }
        if (arch == ModelSpec.Arch.QWEN3MOE) {
            assertArrayEquals(new long[] {96, e, 4}, m.get("blk.0.ffn_down_exps.weight"));
            assertArrayEquals(new long[] {e, 96, 4}, m.get("blk.0.ffn_gate_exps.weight"));
            assertArrayEquals(new long[] {e, 96, 4}, m.get("blk.0.ffn_up_exps.weight"));
            assertArrayEquals(new long[] {e, 4}, m.get("blk.0.ffn_gate_inp.weight"));
        }
        if (arch == ModelSpec.Arch.MIXTRAL) {
            assertArrayEquals(new long[] {128, e, 4}, m.get("blk.0.ffn_down_exps.weight"));
            assertArrayEquals(new long[] {e, 128, 4}, m.get("blk.0.ffn_up_exps.weight"));
        }
        if (arch == ModelSpec.Arch.QWEN2) {
            assertArrayEquals(new long[] {e}, m.get("blk.0.attn_q.bias"));
            assertArrayEquals(new long[] {kv}, m.get("blk.0.attn_k.bias"));
        }
        if (m.containsKey("blk.0.attn_q_norm.weight")) {
            assertArrayEquals(new long[] {16}, m.get("blk.0.attn_q_norm.weight"));
        }
        long params = 0;
        for (ModelBuilder.TensorPlan t : plan) {
            long n = 1;
            for (long d : t.shape()) {
                n *= d;
            }
            params += t.init() == ModelBuilder.Init.ROPE_FACTORS ? 0 : n;
            boolean oneD = t.shape().length == 1;
            boolean f32 = oneD || t.name().endsWith("ffn_gate_inp.weight");
            assertEquals(f32 ? GgmlType.F32 : GgmlType.Q8_0, t.type(), t.name());
            assertEquals(t.name().endsWith("norm.weight"), t.norm(), t.name());
        }
        assertEquals(spec.parameterCount(), params);
    }

    @ParameterizedTest
    @EnumSource(ModelSpec.Arch.class)
    void everyArchitectureWritesItsKeysDeterministically(ModelSpec.Arch arch) throws IOException {
        try (GgufFile v = GgufFile.open(vocab())) {
            ModelSpec spec = tiny(arch, ModelBuilder.vocabSize(v));
            Path a = writtenDeterministically(spec, v, GgmlType.Q4_0, 5, arch.id());
            try (GgufFile g = GgufFile.open(a)) {
                String k = arch.ggufArchitecture() + ".";
                assertEquals(arch.ggufArchitecture(), g.architecture().orElseThrow());
                assertEquals(spec.nLayer(), g.requireInt(k + "block_count"));
                assertEquals(64, g.requireInt(k + "embedding_length"));
                assertEquals(128, g.requireInt(k + "feed_forward_length"));
                assertEquals(4, g.requireInt(k + "attention.head_count"));
                assertEquals(2, g.requireInt(k + "attention.head_count_kv"));
                assertEquals(arch.defaultRopeFreqBase(), g.requireFloat(k + "rope.freq_base"));
                assertEquals(arch.defaultRmsNormEps(), g.requireFloat(k + "attention.layer_norm_rms_epsilon"));
                assertEquals(ModelBuilder.fileType(GgmlType.Q4_0), g.requireInt("general.file_type"));
                boolean headDimKey = switch (arch) {
                    case QWEN3, QWEN3MOE, MISTRAL3, GEMMA3 -> true;
                    default -> false;
                };
                assertEquals(headDimKey, g.get(k + "attention.key_length").isPresent(), "key_length");
                if (headDimKey) {
                    assertEquals(16, g.requireInt(k + "attention.key_length"));
                    assertEquals(16, g.requireInt(k + "attention.value_length"));
                }
                switch (arch) {
                    case LLAMA, LLAMA3, MISTRAL3 -> {
                        assertEquals(spec.nVocab(), g.requireInt(k + "vocab_size"));
                        assertEquals(16, g.requireInt(k + "rope.dimension_count"));
                    }
                    case MIXTRAL -> {
                        assertEquals(spec.nVocab(), g.requireInt(k + "vocab_size"));
                        assertEquals(4, g.requireInt(k + "expert_count"));
                        assertEquals(2, g.requireInt(k + "expert_used_count"));
                        assertTrue(g.get(k + "expert_feed_forward_length").isEmpty());
                    }
                    case QWEN3MOE -> {
                        assertEquals(4, g.requireInt(k + "expert_count"));
                        assertEquals(2, g.requireInt(k + "expert_used_count"));
                        assertEquals(96, g.requireInt(k + "expert_feed_forward_length"));
                    }
                    case PHI3 -> {
                        assertEquals(2048, g.requireInt(k + "rope.scaling.original_context_length"));
                        assertEquals(16, g.requireInt(k + "rope.dimension_count"));
                        assertEquals(0, g.requireInt(k + "attention.sliding_window"));
                    }
                    case GEMMA3 -> {
                        assertEquals(16, g.requireInt(k + "attention.sliding_window"));
                        assertEquals(10000f, g.requireFloat(k + "rope.freq_base_swa"));
                    }
                    default -> {
                    }
                }
                if (arch == ModelSpec.Arch.LLAMA3) {
                    float[] f = g.tensorFloats("rope_freqs.weight");
                    assertArrayEquals(ModelBuilder.llama3RopeFactors(16, 500000f), f);
                    assertEquals(1f, f[0]);        // short wavelengths unscaled
                    assertEquals(32f, f[7]);       // long ones divided by the factor
                }
                if (arch == ModelSpec.Arch.QWEN2) {
                    float[] bias = g.tensorFloats("blk.0.attn_q.bias");
                    double sq = 0;
                    for (float x : bias) {
                        sq += (double) x * x;
                    }
                    double std = Math.sqrt(sq / bias.length);
                    assertTrue(std > 0.01 && std < 0.03, "bias std " + std);
                }
                for (GgufTensorInfo t : g.tensors()) {
                    if (t.name().endsWith("norm.weight")) {
                        for (float x : g.tensorFloats(t.name())) {
                            assertEquals(1f, x, t.name());
                        }
                    }
                }
                assertEquals(-1, Files.mismatch(a, rewrite(g)));
            }
        }
    }

    private Path rewrite(GgufFile g) {
        Path again = tmp.resolve("again-" + System.nanoTime() + ".gguf");
        GgufWriter.copyOf(g).write(again);
        return again;
    }

    @Test
    void architectureSpecificValidation() {
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.QWEN2, 100, 64, 1, 4, 2, 128).withHeadDim(32));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.PHI3, 100, 64, 1, 4, 2, 128).withHeadDim(32));
        assertEquals(64 * 4, ModelSpec.of(ModelSpec.Arch.QWEN3, 100, 64, 1, 4, 2, 128).withHeadDim(64).nEmbdQ());
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.QWEN3MOE, 100, 64, 1, 4, 2, 128).withExperts(4, 5, 64));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.QWEN3MOE, 100, 64, 1, 4, 2, 128).withExperts(0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.LLAMA, 100, 64, 1, 4, 2, 128).withExperts(4, 2, 128));
        assertEquals(96, ModelSpec.of(ModelSpec.Arch.MIXTRAL, 100, 64, 1, 4, 2, 128).withExperts(4, 2, 96).nFf());
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.LLAMA, 100, 64, 1, 4, 2, 128).withExperts(4, 2, 64));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.of(ModelSpec.Arch.LLAMA, 100, 64, 1, 4, 2, 128).withSlidingWindow(8));
        assertThrows(IllegalArgumentException.class, () -> ModelSpec.Arch.parse("gpt2"));
        assertEquals(ModelSpec.Arch.QWEN3MOE, ModelSpec.Arch.parse("Qwen3MoE"));
        ModelSpec g = ModelSpec.of(ModelSpec.Arch.GEMMA3, 100, 64, 12, 4, 2, 128);
        assertTrue(g.tiedEmbeddings());
        for (int il = 0; il < 12; il++) {
            assertEquals(il != 5 && il != 11, g.isSlidingWindowLayer(il), "layer " + il);
        }
        assertFalse(g.withSlidingWindow(0).isSlidingWindowLayer(0));
        // the llama-only constructor and of() are the LLAMA architecture
        assertEquals(ModelSpec.of(100, 64, 1, 4, 2, 128), ModelSpec.of(ModelSpec.Arch.LLAMA, 100, 64, 1, 4, 2, 128));
        assertEquals(ModelSpec.Arch.LLAMA, new ModelSpec("x", 100, 64, 1, 4, 2, 128, 2048, 10000f, 1e-5f, false).arch());
        for (ModelSpec.Arch arch : ModelSpec.Arch.values()) {
            ModelSpec s = ModelSpec.ofParameters(arch, 100_000_000L, 32000);
            double ratio = (double) s.parameterCount() / 100_000_000L;
            assertTrue(ratio > 0.75 && ratio < 1.33, arch + " -> " + s + " = " + s.parameterCount());
            assertEquals("lora4j-random-" + arch.id() + "-100M", s.name());
        }
    }

    /** Writes {@code spec} twice with {@code seed} (the same bytes) and once with seed + 1 (other bytes); the first. */
    private Path writtenDeterministically(ModelSpec spec, GgufFile v, GgmlType type, long seed, String name) throws IOException {
        Path a = tmp.resolve(name + "-a.gguf");
        Path b = tmp.resolve(name + "-b.gguf");
        Path c = tmp.resolve(name + "-c.gguf");
        ModelBuilder.write(spec, v, a, type, seed, ProgressListener.NONE);
        ModelBuilder.write(spec, v, b, type, seed, ProgressListener.NONE);
        ModelBuilder.write(spec, v, c, type, seed + 1, ProgressListener.NONE);
        assertEquals(-1, Files.mismatch(a, b));
        assertNotEquals(-1, Files.mismatch(a, c));
        return a;
    }
}
