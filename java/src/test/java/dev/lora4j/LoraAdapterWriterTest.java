package dev.lora4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.gguf.TinyBases;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Adapters of stacked MoE experts (3-D pairs) written by {@link LoraAdapterWriter} and checked by {@link LoraAdapterInfo}. */
class LoraAdapterWriterTest {
    @TempDir
    Path tmp;

    private static float[] ramp(int n, float offset) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = offset + i;
        }
        return v;
    }

    @Test
    void expertStackRoundTrips() {
        Path base = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe.gguf"));
        // up_exps: n_in 64 (n_embd), n_out 128 (expert width); r 2, 4 experts
        float[] a = ramp(2 * 64 * 4, 0);
        float[] b = ramp(128 * 2 * 4, 0.5f);
        Path out = tmp.resolve("a.gguf");
        new LoraAdapterWriter("qwen3moe", 4f).type(GgmlType.F16)
                .add("blk.1.ffn_up_exps.weight", 2, 64, 128, 4, a, b)
                .add("blk.1.attn_q.weight", 2, 64, 64, ramp(2 * 64, 0), ramp(64 * 2, 0))
                .write(out);
        LoraAdapterInfo info = LoraAdapterInfo.read(out);
        LoraAdapterInfo.Pair p = info.pairs().get("blk.1.ffn_up_exps.weight");
        assertArrayEquals(new long[] {64, 2, 4}, p.a().shape());
        assertArrayEquals(new long[] {2, 128, 4}, p.b().shape());
        assertEquals(2, p.rank());
        assertEquals(4, p.experts());
        LoraAdapterInfo.Pair q = info.pairs().get("blk.1.attn_q.weight");
        assertArrayEquals(new long[] {64, 2}, q.a().shape(), "a matrix stays 2-D");
        assertEquals(1, q.experts());
        assertEquals(a.length + b.length + 2 * 64 * 2, info.parameterCount());
        assertEquals(List.of("ffn_up_exps", "attn_q"), info.targetModules());
        try (GgufFile f = GgufFile.open(out); GgufFile bf = GgufFile.open(base)) {
            // expert e's r × n_in block of A is the e-th block of the tensor, as PEFT's row-major layout
            assertArrayEquals(GgmlQuant.dequantize(GgmlType.F16, GgmlQuant.quantize(GgmlType.F16, a), a.length),
                    f.tensorFloats("blk.1.ffn_up_exps.weight.lora_a"));
            assertArrayEquals(GgmlQuant.dequantize(GgmlType.F16, GgmlQuant.quantize(GgmlType.F16, b), b.length),
                    f.tensorFloats("blk.1.ffn_up_exps.weight.lora_b"));
            info.checkFits(bf);
        }
    }

    @Test
    void randomAdapterOfExpertsHasOnePairPerExpert() {
        Path base = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe.gguf"));
        Path out = tmp.resolve("r.gguf");
        try (GgufFile bf = GgufFile.open(base)) {
            LoraAdapterWriter.random(bf, List.of("experts", "q", "v"), 4, 8f, 0.1f, 0.05f, 7).write(out);
            LoraAdapterInfo info = LoraAdapterInfo.read(out);
            info.checkFits(bf);
            assertEquals(2 * 5, info.pairs().size());
            for (LoraAdapterInfo.Pair p : info.pairs().values()) {
                GgufTensorInfo w = bf.tensor(p.target()).orElseThrow();
                assertEquals(w.nDims() == 3 ? 4 : 1, p.experts(), p.target());
                assertEquals(w.nDims(), p.a().nDims(), p.target());
                assertEquals(4, p.rank(), p.target());
            }
            assertArrayEquals(new long[] {128, 4, 4}, info.pairs().get("blk.0.ffn_down_exps.weight").a().shape());
            assertArrayEquals(new long[] {4, 64, 4}, info.pairs().get("blk.0.ffn_down_exps.weight").b().shape());
        }
    }

    @Test
    void weightsCheckTheirLengthsPerExpert() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LoraAdapterWriter.Weights("x", 2, 8, 4, 3, new float[2 * 8], new float[2 * 4 * 3]));
        assertTrue(e.getMessage().contains("r × n_in × experts = 48"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new LoraAdapterWriter.Weights("x", 2, 8, 4, new float[16], new float[9]));
        assertEquals("x: lora_B must have n_out × r = 8 values, got 9", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LoraAdapterWriter.Weights("x", 2, 8, 4, 0, new float[0], new float[0]));
        LoraAdapterWriter.Weights m = new LoraAdapterWriter.Weights("x", 2, 8, 4, new float[16], new float[8]);
        assertEquals(1, m.experts());
        assertArrayEquals(new long[] {8, 2}, m.shapeA());
        assertArrayEquals(new long[] {2, 4}, m.shapeB());
    }

    @Test
    void expertCountsThatDifferAreRefused() {
        Path four = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe4.gguf"));
        Path eight = TinyBases.write(TinyBases.qwen3moe(8), tmp.resolve("moe8.gguf"));
        Path out = tmp.resolve("a.gguf");
        try (GgufFile f4 = GgufFile.open(four); GgufFile f8 = GgufFile.open(eight)) {
            LoraAdapterWriter.random(f4, List.of("gate_exps"), 2, 4f, 0.1f, 0.1f, 1).write(out);
            LoraAdapterInfo info = LoraAdapterInfo.read(out);
            AdapterMismatchException e = assertThrows(AdapterMismatchException.class, () -> info.checkFits(f8));
            assertTrue(e.getMessage().contains("'blk.0.ffn_gate_exps.weight': the base tensor is [64, 128, 8] but lora_a is [64, 2, 4]")
                    && e.getMessage().contains("expected lora_a [64, r, 8] and lora_b [r, 128, 8]: one pair per expert"), e.getMessage());
        }
    }

    @Test
    void expertPairsOnMatricesAndMatrixPairsOnExpertsAreRefused() {
        Path base = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe.gguf"));
        Path stackOnMatrix = tmp.resolve("s.gguf");
        new LoraAdapterWriter("qwen3moe", 4f).add("blk.0.attn_q.weight", 2, 64, 64, 4, new float[2 * 64 * 4], new float[64 * 2 * 4])
                .write(stackOnMatrix);
        Path matrixOnStack = tmp.resolve("m.gguf");
        new LoraAdapterWriter("qwen3moe", 4f).add("blk.0.ffn_up_exps.weight", 2, 64, 128, new float[2 * 64], new float[128 * 2])
                .write(matrixOnStack);
        try (GgufFile bf = GgufFile.open(base)) {
            AdapterMismatchException e = assertThrows(AdapterMismatchException.class, () -> LoraAdapterInfo.read(stackOnMatrix).checkFits(bf));
            assertTrue(e.getMessage().contains("the base tensor is [64, 64] but lora_a is [64, 2, 4]")
                    && e.getMessage().contains("(expected lora_a [64, r] and lora_b [r, 64])"), e.getMessage());
            e = assertThrows(AdapterMismatchException.class, () -> LoraAdapterInfo.read(matrixOnStack).checkFits(bf));
            assertTrue(e.getMessage().contains("the base tensor is [64, 128, 4] but lora_a is [64, 2]")
                    && e.getMessage().contains("one pair per expert"), e.getMessage());
        }
        // on a dense model there is no expert tensor at all
        Path llama = TinyBases.write(ModelSpec.of(32, 64, 2, 4, 2, 128), tmp.resolve("llama.gguf"));
        try (GgufFile bf = GgufFile.open(llama)) {
            assertThrows(IllegalArgumentException.class, () -> LoraAdapterWriter.random(bf, List.of("experts"), 2, 4f, 0.1f, 0f, 1));
        }
    }

    /** An adapter with one pair of the given shapes (F32 zeros), for the structural checks of {@link LoraAdapterInfo#read}. */
    private Path rawPair(String name, long[] a, long[] b) {
        GgufWriter w = new GgufWriter();
        w.putString("general.type", "adapter");
        w.putString("general.architecture", "qwen3moe");
        w.putString("adapter.type", "lora");
        w.putFloat32("adapter.lora.alpha", 4f);
        w.addTensor("blk.0.ffn_up_exps.weight.lora_a", GgmlType.F32, a, new byte[Math.toIntExact(GgmlType.F32.byteSize(a))]);
        w.addTensor("blk.0.ffn_up_exps.weight.lora_b", GgmlType.F32, b, new byte[Math.toIntExact(GgmlType.F32.byteSize(b))]);
        Path out = tmp.resolve(name);
        w.write(out);
        return out;
    }

    @Test
    void pairsOfUnequalStacksAreRefused() {
        for (long[][] ab : new long[][][] {
                {{64, 2, 4}, {2, 128, 8}}, // expert counts of A and B differ
                {{64, 2, 4}, {2, 128}}, // A a stack, B a matrix
                {{64, 2, 4, 2}, {2, 128, 4, 2}}, // 4-D
        }) {
            Path p = rawPair("raw.gguf", ab[0], ab[1]);
            AdapterMismatchException e = assertThrows(AdapterMismatchException.class, () -> LoraAdapterInfo.read(p));
            assertTrue(e.getMessage().contains("must both be matrices, or both stacks of as many expert matrices (3-D)"), e.getMessage());
        }
    }
}
