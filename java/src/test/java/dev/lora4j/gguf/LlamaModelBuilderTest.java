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

class LlamaModelBuilderTest {
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

    private static LlamaModelSpec tiny(int nVocab) {
        return LlamaModelSpec.of(nVocab, 64, 2, 4, 2, 128);
    }

    @ParameterizedTest
    @EnumSource(names = {"F32", "F16", "BF16", "Q8_0", "Q4_0"})
    void tinyModelInEveryType(GgmlType type) throws IOException {
        Path out = tmp.resolve("tiny-" + type + ".gguf");
        List<long[]> progress = new ArrayList<>();
        try (GgufFile v = GgufFile.open(vocab())) {
            LlamaModelSpec spec = tiny(LlamaModelBuilder.vocabSize(v));
            LlamaModelBuilder.write(spec, v, out, type, 1234, (d, t) -> progress.add(new long[] {d, t}));
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
                assertEquals(LlamaModelBuilder.fileType(type), g.requireInt("general.file_type"));
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
            LlamaModelSpec spec = tiny(LlamaModelBuilder.vocabSize(v)).withTiedEmbeddings(true);
            Path a = tmp.resolve("a.gguf");
            Path b = tmp.resolve("b.gguf");
            Path c = tmp.resolve("c.gguf");
            LlamaModelBuilder.write(spec, v, a, GgmlType.Q8_0, 7, ProgressListener.NONE);
            LlamaModelBuilder.write(spec, v, b, GgmlType.Q8_0, 7, ProgressListener.NONE);
            LlamaModelBuilder.write(spec, v, c, GgmlType.Q8_0, 8, ProgressListener.NONE);
            assertEquals(-1, Files.mismatch(a, b));
            assertNotEquals(-1, Files.mismatch(a, c));
            try (GgufFile g = GgufFile.open(a)) {
                assertTrue(g.tensor("output.weight").isEmpty());
                assertEquals("output_norm.weight", g.tensors().getLast().name());
                assertEquals(spec.parameterCount(), g.tensors().stream().mapToLong(GgufTensorInfo::elementCount).sum());
                // layers differ from each other
                assertFalse(java.util.Arrays.equals(g.tensorFloats("blk.0.attn_q.weight"), g.tensorFloats("blk.1.attn_q.weight")));
            }
            assertThrows(IllegalArgumentException.class,
                    () -> LlamaModelBuilder.write(spec.withVocab(spec.nVocab() + 1), v, tmp.resolve("x.gguf"), GgmlType.F16, 1, ProgressListener.NONE));
            assertThrows(IllegalArgumentException.class,
                    () -> LlamaModelBuilder.write(spec, v, tmp.resolve("x.gguf"), GgmlType.Q4_K, 1, ProgressListener.NONE));
        }
    }

    @Test
    void rowsNotMultipleOfTheBlockFallBackToF16() {
        List<LlamaModelBuilder.TensorPlan> plan = LlamaModelBuilder.plan(LlamaModelSpec.of(100, 64, 1, 4, 4, 172), GgmlType.Q4_0);
        for (LlamaModelBuilder.TensorPlan t : plan) {
            GgmlType expected = t.norm() ? GgmlType.F32 : t.name().endsWith("ffn_down.weight") ? GgmlType.F16 : GgmlType.Q4_0;
            assertEquals(expected, t.type(), t.name());
        }
    }

    @Test
    void specValidationAndPresets() {
        assertThrows(IllegalArgumentException.class, () -> LlamaModelSpec.of(100, 64, 1, 5, 5, 128)); // 64 % 5
        assertThrows(IllegalArgumentException.class, () -> LlamaModelSpec.of(100, 64, 1, 4, 3, 128)); // 4 % 3
        assertThrows(IllegalArgumentException.class, () -> LlamaModelSpec.of(100, 96, 1, 32, 32, 128)); // head dim 3
        assertThrows(IllegalArgumentException.class, () -> LlamaModelSpec.of(0, 64, 1, 4, 4, 128));
        assertThrows(IllegalArgumentException.class, () -> LlamaModelSpec.of(100, 64, 0, 4, 4, 128));

        LlamaModelSpec llama7b = new LlamaModelSpec("7b", 32000, 4096, 32, 32, 32, 11008, 4096, 10000f, 1e-5f, false);
        assertEquals(6_738_415_616L, llama7b.parameterCount()); // LLaMA-2 7B

        for (long target : new long[] {10_000_000L, 100_000_000L, 300_000_000L, 1_000_000_000L}) {
            LlamaModelSpec s = LlamaModelSpec.ofParameters(target, 32000);
            double ratio = (double) s.parameterCount() / target;
            assertTrue(ratio > 0.75 && ratio < 1.33, target + " -> " + s + " = " + s.parameterCount());
            assertEquals(0, s.nEmbd() % 32);
            assertEquals(0, s.nFf() % 32);
        }
        LlamaModelSpec m1 = LlamaModelSpec.ofParameters(1_000_000L, 2048);
        double r1 = (double) m1.parameterCount() / 1_000_000L;
        assertTrue(r1 > 0.75 && r1 < 1.33, m1 + " = " + m1.parameterCount());
        // a target below what the vocabulary alone needs gets the smallest shape
        assertEquals(64, LlamaModelSpec.ofParameters(1_000_000L, 32000).nEmbd());
    }
}
