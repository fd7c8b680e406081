package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Native memory stays flat over 1,000 load/generate/close cycles of a model, and over 10,000 open/use/close cycles of
 * contexts and adapters over one model (every seventh left for the Cleaner instead of closed).
 */
class LifecycleIT {
    @org.junit.jupiter.api.io.TempDir
    Path tmp;

    @Test
    void tenThousandContextAndAdapterCycles() {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        Path adapterFile = tmp.resolve("qv.gguf");
        try (dev.lora4j.gguf.GgufFile b = dev.lora4j.gguf.GgufFile.open(base)) {
            dev.lora4j.LoraAdapterWriter.random(b, java.util.List.of("q", "v"), 4, 8, 0.1f, 0.1f, 3).write(adapterFile);
        }
        int cycles = Integer.getInteger("lora4j.adapterCycles", 10_000);
        long heapAtWarmup = 0;
        long t0 = System.nanoTime();
        float[] expected = null;
        try (Model m = Model.load(base)) {
            int[] prompt = m.vocabulary().tokenize("Once upon", true, false);
            for (int i = 0; i < cycles; i++) {
                boolean forget = i % 7 == 6;
                Context ctx = m.newContext(ContextParams.defaults().withContextSize(32).withBatchSize(32).withThreads(1));
                dev.lora4j.LoraAdapter a = dev.lora4j.LoraAdapter.load(m, adapterFile);
                ctx.setAdapter(a, 0.5f);
                ctx.decode(prompt);
                float[] logits = ctx.logits();
                if (expected == null) {
                    expected = logits;
                }
                org.junit.jupiter.api.Assertions.assertArrayEquals(expected, logits, "cycle " + i);
                if (!forget) {
                    a.close();
                    ctx.close();
                }
                if (i == 999) {
                    settle();
                    heapAtWarmup = TestFiles.nativeHeapBytes();
                }
                if (i % 2500 == 2499) {
                    System.out.printf("LifecycleIT: context+adapter cycle %d: native malloc in use %d KiB, RSS %d KiB%n", i + 1,
                            TestFiles.nativeHeapBytes() / 1024, TestFiles.rssKiB());
                }
            }
            settle();
            long heapEnd = TestFiles.nativeHeapBytes();
            long growth = heapEnd - heapAtWarmup;
            System.out.printf("LifecycleIT: %d context+adapter open/decode/close cycles (1 in 7 left to the Cleaner) in %.1f s: "
                            + "native malloc in use after 1,000 = %d KiB, at end = %d KiB, growth = %d bytes (%.1f bytes per cycle)%n",
                    cycles, (System.nanoTime() - t0) / 1e9, heapAtWarmup / 1024, heapEnd / 1024, growth,
                    growth / (double) Math.max(1, cycles - 1000));
            // a context (KV cache, compute buffers) or an adapter left behind per cycle would be MiBs per hundred cycles
            assertTrue(cycles < 2000 || growth < 32 << 20, "native heap grew by " + growth + " bytes over " + (cycles - 1000) + " cycles");
        }
    }

    /** Lets the Cleaner free what was forgotten. */
    private static void settle() {
        for (int i = 0; i < 3; i++) {
            System.gc();
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Test
    void thousandLoadGenerateCloseCycles() {
        Path model = TestFiles.sharedModel("stories260K.gguf");
        String expected = null;
        long rssAfterWarmup = 0;
        long heapAfterWarmup = 0;
        long rssMax = 0;
        int cycles = Integer.getInteger("lora4j.cycles", 1000);
        for (int i = 0; i < cycles; i++) {
            try (Model m = Model.load(model);
                 Context ctx = m.newContext(ContextParams.defaults().withContextSize(64).withBatchSize(64).withThreads(1))) {
                String text = ctx.generate("Once upon a time", 8, SamplerParams.greedy(), null).text();
                if (expected == null) {
                    expected = text;
                }
                assertEquals(expected, text, "cycle " + i);
            }
            if (i == 99) {
                System.gc();
                rssAfterWarmup = TestFiles.rssKiB();
                heapAfterWarmup = TestFiles.nativeHeapBytes();
            }
            if (i % 250 == 249) {
                System.out.printf("LifecycleIT: cycle %d: native malloc in use %d KiB, RSS %d KiB%n", i + 1, TestFiles.nativeHeapBytes() / 1024, TestFiles.rssKiB());
            }
            if (i >= 100) {
                rssMax = Math.max(rssMax, TestFiles.rssKiB());
            }
        }
        System.gc();
        long rssEnd = TestFiles.rssKiB();
        long heapEnd = TestFiles.nativeHeapBytes();
        long heapGrowth = heapEnd - heapAfterWarmup;
        System.out.printf("LifecycleIT: %d load/generate/close cycles: RSS after 100 = %d KiB, max after = %d KiB, at end = %d KiB"
                        + " (includes the Java heap); native malloc in use after 100 = %d KiB, at end = %d KiB, growth = %d bytes%n",
                cycles, rssAfterWarmup, rssMax, rssEnd, heapAfterWarmup / 1024, heapEnd / 1024, heapGrowth);
        // The JVM's own malloc use (JIT, class data) moves by +-20 MiB during such a run (measured over 3,000 cycles:
        // 17-37 MiB, no trend). A leak of the model (1.2 MB of weights) or of a context (KV cache, compute buffers)
        // per cycle would add hundreds of MiB over 900 cycles; 32 MiB catches any leak above ~36 KiB per cycle.
        assertTrue(heapGrowth < 32 << 20, "native heap grew by " + heapGrowth + " bytes over " + (cycles - 100) + " cycles");
    }
}
