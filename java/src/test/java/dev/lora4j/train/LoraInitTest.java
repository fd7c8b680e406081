package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Lora4jException;
import dev.lora4j.LoraAdapterInfo;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.TinyBases;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The initial adapter of stacked MoE experts: one A per expert as PEFT initialises each, B zero; or read from a file. */
class LoraInitTest {
    @TempDir
    Path tmp;

    @Test
    void newExpertAdapterInitialisesEveryExpertsA() {
        Path base = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe.gguf"));
        LoraConfig lora = LoraConfig.defaults().withR(4).withTargetModules(List.of("experts", "q")).withSeed(3);
        Path out = tmp.resolve("init.gguf");
        LoraInit.write(base, lora, null, 1f, out);
        LoraAdapterInfo info = LoraAdapterInfo.read(out);
        try (GgufFile bf = GgufFile.open(base); GgufFile f = GgufFile.open(out)) {
            info.checkFits(bf);
            assertEquals(2 * 4, info.pairs().size());
            LoraAdapterInfo.Pair p = info.pairs().get("blk.0.ffn_down_exps.weight");
            assertArrayEquals(new long[] {128, 4, 4}, p.a().shape());
            assertArrayEquals(new long[] {4, 64, 4}, p.b().shape());
            float[] a = f.tensorFloats(p.a().name());
            double bound = 1 / Math.sqrt(128);
            int perExpert = 4 * 128;
            for (int e = 0; e < 4; e++) {
                float[] ae = Arrays.copyOfRange(a, e * perExpert, (e + 1) * perExpert);
                double max = 0;
                for (float x : ae) {
                    max = Math.max(max, Math.abs(x));
                }
                assertTrue(max <= bound && max > 0.9 * bound, "expert " + e + ": max |A| " + max + ", bound " + bound);
                if (e > 0) {
                    assertFalse(Arrays.equals(ae, Arrays.copyOf(a, perExpert)), "expert " + e + " has expert 0's A");
                }
            }
            for (float x : f.tensorFloats(p.b().name())) {
                assertEquals(0f, x);
            }
        }
        // expert e's A is what the next draws of one A give: the same stream as one initA per expert
        SplittableRandom r = new SplittableRandom(5);
        float[] stacked = LoraInit.initA(LoraConfig.Init.GAUSSIAN, r, 2, 8, 3);
        SplittableRandom s = new SplittableRandom(5);
        for (int e = 0; e < 3; e++) {
            assertArrayEquals(LoraInit.initA(LoraConfig.Init.GAUSSIAN, s, 2, 8, 1), Arrays.copyOfRange(stacked, e * 16, (e + 1) * 16));
        }
    }

    @Test
    void expertAdapterIsReadBackAndCheckedAgainstTheBase() {
        Path four = TinyBases.write(TinyBases.qwen3moe(4), tmp.resolve("moe4.gguf"));
        Path eight = TinyBases.write(TinyBases.qwen3moe(8), tmp.resolve("moe8.gguf"));
        Path from = tmp.resolve("from.gguf");
        try (GgufFile f4 = GgufFile.open(four)) {
            LoraAdapterWriter.random(f4, List.of("up_exps"), 2, 4f, 0.1f, 0.2f, 9).write(from);
        }
        LoraConfig lora = LoraConfig.defaults().withR(2).withTargetModules(List.of("up_exps"));
        Path out = tmp.resolve("init.gguf");
        LoraInit.write(four, lora, from, 1f, out);
        try (GgufFile a = GgufFile.open(from); GgufFile b = GgufFile.open(out)) {
            for (String n : List.of("blk.1.ffn_up_exps.weight.lora_a", "blk.1.ffn_up_exps.weight.lora_b")) {
                assertArrayEquals(a.tensorFloats(n), b.tensorFloats(n), n);
                assertArrayEquals(a.tensor(n).orElseThrow().shape(), b.tensor(n).orElseThrow().shape(), n);
            }
        }
        Lora4jException e = assertThrows(Lora4jException.class, () -> LoraInit.write(eight, lora, from, 1f, tmp.resolve("x.gguf")));
        assertTrue(e.getMessage().contains("expected r=2 and n_in=64 and 8 experts"), e.getMessage());
    }
}
