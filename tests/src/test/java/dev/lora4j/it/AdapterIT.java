package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.AdapterMismatchException;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.LoraScaling;
import dev.lora4j.Model;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA adapters at inference: written by lora4j, loaded by llama.cpp, applied with scales, swapped, rejected when they do not fit. */
class AdapterIT {
    static final String PROMPT = "Once upon a time";

    @TempDir
    Path tmp;

    static Path base() {
        return TestFiles.sharedModel("stories260K.gguf");
    }

    Path writeAdapter(Path base, String name, List<String> targets, int r, float alpha, long seed, GgmlType type) {
        Path out = tmp.resolve(name);
        try (GgufFile b = GgufFile.open(base)) {
            LoraAdapterWriter.random(b, targets, r, alpha, 0.2f, 0.2f, seed).type(type).taskName("quotes").promptPrefix("Quote: ").write(out);
        }
        return out;
    }

    static float[] logits(Context ctx, Model m) {
        ctx.clear();
        ctx.decode(m.vocabulary().tokenize(PROMPT, true, false));
        return ctx.logits();
    }

    @Test
    void writtenAdapterLoadsWithItsMetadata() {
        Path a = writeAdapter(base(), "a.gguf", List.of("q", "v", "down"), 4, 8f, 1, GgmlType.F32);
        try (Model m = Model.load(base()); LoraAdapter adapter = LoraAdapter.load(m, a)) {
            assertEquals(8f, adapter.alpha());
            assertEquals(4, adapter.rank());
            assertEquals(List.of("attn_q", "attn_v", "ffn_down"), adapter.targetModules());
            assertEquals("quotes", adapter.taskName().orElseThrow());
            assertEquals("Quote: ", adapter.promptPrefix().orElseThrow());
            assertEquals(15, adapter.ranks().size()); // 5 layers × 3 modules
        }
    }

    @Test
    void scaleZeroIsExactlyTheBaseAndHotSwapIsExact() {
        Path a = writeAdapter(base(), "a.gguf", List.of("all-linear"), 8, 16f, 1, GgmlType.F16);
        Path b = writeAdapter(base(), "b.gguf", List.of("q", "k"), 4, 4f, 2, GgmlType.F32);
        try (Model m = Model.load(base());
             LoraAdapter la = LoraAdapter.load(m, a);
             LoraAdapter lb = LoraAdapter.load(m, b);
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1))) {
            float[] base = logits(ctx, m);
            ctx.setAdapter(la, 0f);
            assertArrayEquals(base, logits(ctx, m), "scale 0 = the base model, bit for bit");
            ctx.setAdapter(la, 1f);
            float[] withA = logits(ctx, m);
            assertFalse(java.util.Arrays.equals(base, withA), "the adapter changes the logits");
            ctx.setAdapter(lb, 0.5f);
            float[] withB = logits(ctx, m);
            assertFalse(java.util.Arrays.equals(withA, withB));
            ctx.setAdapter(la, 1f);
            assertArrayEquals(withA, logits(ctx, m), "swapping back gives the same logits");
            Map<LoraAdapter, Float> both = new LinkedHashMap<>();
            both.put(la, 1f);
            both.put(lb, 0.5f);
            ctx.setAdapters(both);
            assertEquals(2, ctx.adapters().size());
            float[] stacked = logits(ctx, m);
            assertFalse(java.util.Arrays.equals(withA, stacked));
            ctx.clearAdapters();
            assertArrayEquals(base, logits(ctx, m), "cleared = the base model");
        }
    }

    /**
     * The runtime adapter computes exactly W + scale·alpha/r·B·A with PEFT's layouts: a base model whose weights were
     * merged in Java (F32) gives the same logits as the base with the adapter applied by llama.cpp.
     */
    @Test
    void adapterMathEqualsAJavaMergeOfTheWeights() throws Exception {
        int r = 4;
        float alpha = 8f;
        float userScale = 0.75f;
        Path a = writeAdapter(base(), "a.gguf", List.of("q", "o", "up", "down"), r, alpha, 3, GgmlType.F32);
        Path merged = tmp.resolve("merged.gguf");
        float scale = LoraScaling.scale(userScale, alpha, r);
        try (GgufFile baseFile = GgufFile.open(base()); GgufFile ad = GgufFile.open(a)) {
            GgufWriter w = new GgufWriter();
            for (Map.Entry<String, GgufValue> e : baseFile.metadata().entrySet()) {
                w.put(e.getKey(), e.getValue());
            }
            for (GgufTensorInfo t : baseFile.tensors()) {
                float[] data = baseFile.tensorFloats(t.name());
                if (ad.tensor(t.name() + ".lora_a").isPresent()) {
                    int nIn = (int) t.ne(0);
                    int nOut = (int) t.ne(1);
                    float[] la = ad.tensorFloats(t.name() + ".lora_a"); // PEFT lora_A: r × n_in, row-major
                    float[] lb = ad.tensorFloats(t.name() + ".lora_b"); // PEFT lora_B: n_out × r, row-major
                    for (int j = 0; j < nOut; j++) {
                        for (int i = 0; i < nIn; i++) {
                            double d = 0;
                            for (int k = 0; k < r; k++) {
                                d += (double) lb[j * r + k] * la[k * nIn + i];
                            }
                            data[j * nIn + i] += (float) (scale * d); // ggml W[i, j] at j*n_in + i
                        }
                    }
                }
                w.addTensor(t.name(), GgmlType.F32, t.shape(), dev.lora4j.gguf.GgmlQuant.quantize(GgmlType.F32, data));
            }
            w.write(merged);
        }
        float[] runtime;
        try (Model m = Model.load(base()); LoraAdapter la = LoraAdapter.load(m, a);
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1))) {
            ctx.setAdapter(la, userScale);
            runtime = logits(ctx, m);
        }
        float[] mergedLogits;
        try (Model m = Model.load(merged); Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1))) {
            mergedLogits = logits(ctx, m);
        }
        double maxDiff = 0;
        double maxAbs = 0;
        for (int i = 0; i < runtime.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(runtime[i] - mergedLogits[i]));
            maxAbs = Math.max(maxAbs, Math.abs(mergedLogits[i]));
        }
        System.out.printf("AdapterIT: runtime adapter vs Java-merged F32 weights: max |Δlogit| = %.3g (max |logit| %.3g)%n", maxDiff, maxAbs);
        // same maths in another order of float operations: agreement to ~1e-5 relative
        assertTrue(maxDiff <= 1e-4 * Math.max(1, maxAbs), "max |Δlogit| " + maxDiff);
    }

    @Test
    void adaptersThatDoNotFitAreRejectedBeforeLlamaCpp() throws Exception {
        Path other = TestFiles.sharedModel("TinyStories-656K.f16.gguf"); // n_embd 128, 2 layers
        Path forOther = writeAdapter(other, "other.gguf", List.of("q"), 4, 8f, 1, GgmlType.F32);
        try (Model m = Model.load(base())) {
            AdapterMismatchException e = assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, forOther));
            assertTrue(e.getMessage().contains("blk.0.attn_q.weight"), e.getMessage());

            // a target the base does not have (stories260K has 5 layers)
            Path missing = tmp.resolve("missing.gguf");
            new LoraAdapterWriter("llama", 8f).add("blk.9.attn_q.weight", 2, 64, 64, new float[128], new float[128]).write(missing);
            e = assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, missing));
            assertTrue(e.getMessage().contains("blk.9.attn_q.weight") && e.getMessage().contains("does not exist"), e.getMessage());

            // wrong architecture
            Path arch = tmp.resolve("arch.gguf");
            new LoraAdapterWriter("gpt2", 8f).add("blk.0.attn_q.weight", 2, 64, 64, new float[128], new float[128]).write(arch);
            e = assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, arch));
            assertTrue(e.getMessage().contains("gpt2"), e.getMessage());

            // rank mismatch between A and B
            Path rank = tmp.resolve("rank.gguf");
            GgufWriter w = adapterHeader("llama");
            w.addTensor("blk.0.attn_q.weight.lora_a", GgmlType.F32, new long[] {64, 4}, new byte[64 * 4 * 4]);
            w.addTensor("blk.0.attn_q.weight.lora_b", GgmlType.F32, new long[] {8, 64}, new byte[8 * 64 * 4]);
            w.write(rank);
            e = assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, rank));
            assertTrue(e.getMessage().contains("rank mismatch"), e.getMessage());

            // alpha of the wrong type: llama.cpp's gguf_get_val_f32 would abort the JVM
            Path alpha = tmp.resolve("alpha.gguf");
            GgufWriter wa = new GgufWriter();
            wa.putString("general.architecture", "llama");
            wa.putString("general.type", "adapter");
            wa.putString("adapter.type", "lora");
            wa.put("adapter.lora.alpha", GgufValue.ofFloat64(8.0));
            wa.addTensor("blk.0.attn_q.weight.lora_a", GgmlType.F32, new long[] {64, 2}, new byte[64 * 2 * 4]);
            wa.addTensor("blk.0.attn_q.weight.lora_b", GgmlType.F32, new long[] {2, 64}, new byte[2 * 64 * 4]);
            wa.write(alpha);
            e = assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, alpha));
            assertTrue(e.getMessage().contains("adapter.lora.alpha"), e.getMessage());

            // a model given as an adapter
            e = assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, base()));
            assertTrue(e.getMessage().contains("general.type"), e.getMessage());

            // A without B
            Path half = tmp.resolve("half.gguf");
            GgufWriter wh = adapterHeader("llama");
            wh.addTensor("blk.0.attn_q.weight.lora_a", GgmlType.F32, new long[] {64, 2}, new byte[64 * 2 * 4]);
            wh.write(half);
            assertThrows(AdapterMismatchException.class, () -> LoraAdapter.load(m, half));

            // truncated adapter file
            Path good = writeAdapter(base(), "good.gguf", List.of("q"), 2, 4f, 1, GgmlType.F32);
            byte[] bytes = Files.readAllBytes(good);
            Path cut = tmp.resolve("cut.gguf");
            Files.write(cut, java.util.Arrays.copyOf(bytes, bytes.length / 2));
            assertThrows(dev.lora4j.gguf.GgufFormatException.class, () -> LoraAdapter.load(m, cut));

            // the model still works
            try (Context ctx = m.newContext(ContextParams.defaults().withContextSize(64))) {
                assertEquals(m.vocabulary().size(), logits(ctx, m).length);
            }
        }
    }

    private static GgufWriter adapterHeader(String arch) {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", arch);
        w.putString("general.type", "adapter");
        w.putString("adapter.type", "lora");
        w.putFloat32("adapter.lora.alpha", 8f);
        return w;
    }

    @Test
    void lifetimes() {
        Path a = writeAdapter(base(), "a.gguf", List.of("q"), 2, 4f, 1, GgmlType.F32);
        Model m = Model.load(base());
        Context ctx = m.newContext(ContextParams.defaults().withContextSize(64).withThreads(1));
        float[] base = logits(ctx, m);
        LoraAdapter la = LoraAdapter.load(m, a);
        ctx.setAdapter(la, 1f);
        la.close(); // removes itself from the context first
        la.close();
        assertTrue(ctx.adapters().isEmpty());
        assertArrayEquals(base, logits(ctx, m));
        assertThrows(IllegalStateException.class, () -> ctx.setAdapter(la, 1f));
        LoraAdapter lb = LoraAdapter.load(m, a);
        ctx.setAdapter(lb, 1f);
        m.close(); // closes the context, then the adapter, then the model
        assertFalse(lb.isOpen());
        assertFalse(ctx.isOpen());
        try (Model other = Model.load(base()); Context c2 = other.newContext(ContextParams.defaults().withContextSize(64));
             Model third = Model.load(base()); LoraAdapter forThird = LoraAdapter.load(third, a)) {
            assertThrows(IllegalArgumentException.class, () -> c2.setAdapter(forThird, 1f), "an adapter of another model instance");
            assertThrows(IllegalArgumentException.class, () -> c2.setAdapter(forThird, Float.NaN));
        }
    }

    @Test
    void llamaExportLoraAcceptsOurAdapters() {
        Path a = writeAdapter(base(), "a.gguf", List.of("all-linear"), 4, 8f, 1, GgmlType.F16);
        Path out = tmp.resolve("exported.gguf");
        TestFiles.Result r = TestFiles.run(TestFiles.cmd(TestFiles.tool("llama-export-lora"), "-m", base(), "--lora", a, "-o", out, "-t", 2), 120);
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        try (Model m = Model.load(out)) {
            assertTrue(m.parameterCount() > 0);
        }
    }

    @Test
    void cliGenerateWithAdapters() {
        Path a = writeAdapter(base(), "a.gguf", List.of("q", "v"), 4, 8f, 1, GgmlType.F32);
        TestFiles.Result plain = TestFiles.cliInProcess("generate", "-m", base().toString(), "-p", PROMPT, "-n", "16", "--temperature", "0");
        TestFiles.Result off = TestFiles.cliInProcess("generate", "-m", base().toString(), "-p", PROMPT, "-n", "16", "--temperature", "0", "--lora", a + ":0");
        TestFiles.Result on = TestFiles.cliInProcess("generate", "-m", base().toString(), "-p", PROMPT, "-n", "16", "--temperature", "0", "--lora", a + ":2.5");
        assertEquals(0, on.exit(), on.stderr());
        assertEquals(plain.stdout(), off.stdout());
        assertFalse(plain.stdout().equals(on.stdout()), "a strong random adapter changes the text");
    }
}
