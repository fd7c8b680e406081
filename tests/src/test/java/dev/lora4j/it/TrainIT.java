package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.train.DataFormat;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainListener;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainingData;
import dev.lora4j.train.TrainerTestAccess;
import dev.lora4j.train.TrainingSample;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRA training on real models and data. */
class TrainIT {
    @TempDir
    Path tmp;

    static TrainingData quotes(Model m, int ctx, int maxDocs) {
        Path data = TestFiles.shared().resolve("data/english_quotes.jsonl");
        DataOptions o = DataOptions.defaults().withFormat(DataFormat.JSONL_TEXT).withField("quote").withContextLength(ctx)
                .withValidationFraction(0.1).withMaxDocuments(maxDocs).withSeed(7);
        return TrainingData.load(data, o, m.vocabulary());
    }

    @Test
    void fineTuningOnQuotesLowersTheValidationLoss() {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        TrainingData data;
        try (Model m = Model.load(base)) {
            data = quotes(m, 128, 2507);
        }
        // 500 steps (a quarter epoch, ~1 minute) so that CI stays short; docs/training.md has the full two-epoch run
        TrainConfig cfg = TrainConfig.builder().contextLength(128).learningRate(5e-3f).warmupSteps(20)
                .schedule(TrainConfig.Schedule.COSINE).epochs(1).maxSteps(500).threads(2).evalSteps(100).build();
        LoraConfig lora = LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear"));
        Path adapter = tmp.resolve("quotes.gguf");
        TrainResult r;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            r = t.train(data, new TrainListener() {
                @Override
                public void onEvaluation(Progress p, double val) {
                    System.out.printf("TrainIT: step %d train %.4f val %.4f (%.0f tok/s)%n", p.step(), p.trainLoss(), val, p.tokensPerSecond());
                }
            });
            t.saveAdapter(adapter, GgmlType.F32);
        }
        System.out.printf("TrainIT: %s%n", r);
        double drop = 1 - r.finalValidationLoss() / r.initialValidationLoss();
        System.out.printf("TrainIT: validation loss %.4f -> %.4f (%.1f%% lower)%n", r.initialValidationLoss(), r.finalValidationLoss(), 100 * drop);
        assertTrue(drop >= 0.25, "validation loss " + r.initialValidationLoss() + " -> " + r.finalValidationLoss());
        try (Model m = Model.load(base); LoraAdapter a = LoraAdapter.load(m, adapter);
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(256))) {
            String before = ctx.generate("Life is", 40, SamplerParams.greedy(), null).text();
            ctx.setAdapter(a, 1f);
            String after = ctx.generate("Life is", 40, SamplerParams.greedy(), null).text();
            System.out.println("TrainIT: base:    Life is" + before.replace("\n", " "));
            System.out.println("TrainIT: adapter: Life is" + after.replace("\n", " "));
            assertTrue(!before.equals(after), "the adapter changes the text");
            // merged (F32, exact) and unmerged give the same greedy text
            Path merged = tmp.resolve("merged.gguf");
            dev.lora4j.merge.LoraMerger.merge(base, dev.lora4j.merge.MergeOptions.of(adapter)
                    .withType(dev.lora4j.merge.OutputType.of(GgmlType.F32)), merged);
            try (Model mm = Model.load(merged); Context mc = mm.newContext(ContextParams.defaults().withContextSize(256))) {
                assertEquals(after, mc.generate("Life is", 40, SamplerParams.greedy(), null).text(), "merged vs unmerged");
            }
        }
    }

    static TrainingSample sampleFrom(Model m, String text, int n) {
        int[] all = m.vocabulary().tokenize(text, true, false);
        int[] tokens = java.util.Arrays.copyOf(all, n);
        int[] labels = java.util.Arrays.copyOfRange(all, 1, n + 1);
        return new TrainingSample(tokens, labels, 0);
    }

    static String story() {
        try {
            return java.nio.file.Files.readString(TestFiles.shared().resolve("data/tinystories_sample_cs336.txt"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * The analytic gradient of every target type (q, k, v, o, gate, up, down), in the first and the last layer, agrees
     * with central finite differences within 2%: the patches of native/patches make gradients flow through attention
     * (not the KV cache) and zero the accumulators between steps. Checked on the F32 model (finite differences on a
     * quantised base are meaningless: its forward quantises activations).
     */
    @Test
    void gradientsAgreeWithFiniteDifferences() {
        Path base = TestFiles.sharedModel("stories260K.gguf"); // F32, 5 layers
        TrainingSample sample;
        try (Model m = Model.load(base)) {
            sample = sampleFrom(m, story(), 48);
        }
        GradientCheck.againstFiniteDifferences(tmp, base, sample, 4, new int[] {0, 4}, 1e-3f, 0.02);
    }

    /**
     * As {@link #gradientsAgreeWithFiniteDifferences} on a model wide enough (256 wide, 768 feed-forward, GQA, 128
     * tokens, r=16) that the backward pass takes patch 0007's matrix products for the frozen weights, attention and
     * the larger LoRA gradients, and patch 0008's kernels (stories260K's are too small for them and keep OUT_PROD).
     */
    @Test
    void gradientsAgreeWithFiniteDifferencesOnAWiderModel() {
        Path base = wideModel(GgmlType.F32);
        TrainingSample sample;
        try (Model m = Model.load(base)) {
            sample = sampleFrom(m, story(), 128);
        }
        // its random weights give gradients of 3e-3 to 7e-2 at a loss near ln(512): h = 1e-2 resolves them to < 1%
        GradientCheck.againstFiniteDifferences(tmp, base, sample, 16, new int[] {0, 1}, 1e-2f, 0.02);
    }

    /**
     * On quantised and F16 bases the gradient of one SGD step follows the gradient on the same weights dequantised to
     * F32 (the forward of a quantised base also quantises activations, so finite differences on it are meaningless;
     * this compares with the F32 copy instead): cosine >= 0.99 for the A and the B of every target in every layer,
     * none of them zero. The backward pass through a quantised weight converts it to F32 once per step (patch 0007).
     */
    @Test
    void quantisedBaseGradientsFollowTheirF32Copy() {
        Path f32 = wideModel(GgmlType.F32);
        for (dev.lora4j.FileType ft : List.of(dev.lora4j.FileType.MOSTLY_Q8_0, dev.lora4j.FileType.MOSTLY_Q4_0,
                dev.lora4j.FileType.MOSTLY_Q4_K_M, dev.lora4j.FileType.MOSTLY_Q6_K, dev.lora4j.FileType.MOSTLY_F16)) {
            Path q = tmp.resolve("wide-" + ft + ".gguf");
            Path copy = tmp.resolve("wide-" + ft + "-as-f32.gguf");
            Model.quantize(f32, q, ft, 2);
            Model.quantize(q, copy, dev.lora4j.FileType.ALL_F32, 2, true);
            TrainingSample sample;
            try (Model m = Model.load(q)) {
                sample = sampleFrom(m, story(), 128);
            }
            java.util.Map<String, float[][]> onQuantised = GradientCheck.sgdStep(tmp, q, sample, 16);
            java.util.Map<String, float[][]> onCopy = GradientCheck.sgdStep(tmp, copy, sample, 16);
            double worst = 1;
            for (String target : onCopy.keySet()) {
                for (int ab = 0; ab < 2; ab++) {
                    float[] g = onQuantised.get(target)[ab];
                    float[] ref = onCopy.get(target)[ab];
                    double dot = 0, ng = 0, nr = 0;
                    for (int i = 0; i < g.length; i++) {
                        dot += (double) g[i] * ref[i];
                        ng += (double) g[i] * g[i];
                        nr += (double) ref[i] * ref[i];
                    }
                    assertTrue(ng > 0, ft + " " + target + (ab == 0 ? " A" : " B") + ": zero gradient");
                    double cos = dot / Math.sqrt(ng * nr);
                    assertTrue(cos >= 0.99, ft + " " + target + (ab == 0 ? " A" : " B") + ": cosine " + cos);
                    worst = Math.min(worst, cos);
                }
            }
            System.out.printf("TrainIT: %s base: %d gradients, lowest cosine to the F32 copy's %.5f%n", ft, 2 * onCopy.size(), worst);
        }
    }

    /** A 2-layer, 256-wide llama model with random weights, GQA (4 heads, 2 KV heads) and stories260K's vocabulary. */
    private Path wideModel(GgmlType type) {
        Path out = tmp.resolve("wide-" + type + ".gguf");
        try (dev.lora4j.gguf.GgufFile vocab = dev.lora4j.gguf.GgufFile.open(TestFiles.sharedModel("stories260K.gguf"))) {
            dev.lora4j.gguf.ModelSpec spec = dev.lora4j.gguf.ModelSpec.of(
                    dev.lora4j.gguf.ModelBuilder.vocabSize(vocab), 256, 2, 4, 2, 768);
            dev.lora4j.gguf.ModelBuilder.write(spec, vocab, out, type, 5, (d, t) -> { });
        }
        return out;
    }

    /** A checkpoint restores adapter, AdamW moments, step and data position: the resumed loss curve is the same curve. */
    @Test
    void resumeContinuesTheSameLossCurve() {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        TrainingData data;
        try (Model m = Model.load(base)) {
            data = quotes(m, 64, 300);
        }
        LoraConfig lora = LoraConfig.defaults().withTargetModules(List.of("q", "k", "v", "o"));
        java.util.Map<Long, Double> straight = new java.util.TreeMap<>();
        TrainConfig cfg = TrainConfig.builder().contextLength(64).learningRate(2e-3f).maxSteps(16).threads(2)
                .checkpointDir(tmp.resolve("a")).build();
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            t.train(data.train(), List.of(), new TrainListener() {
                @Override
                public void onStep(Progress p) {
                    straight.put(p.step(), p.trainLoss());
                }
            });
        }
        Path dirB = tmp.resolve("b");
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg.toBuilder().maxSteps(8).checkpointDir(dirB).build())) {
            t.train(data.train(), List.of(), null);
        }
        Path ckpt = LoraTrainer.latestCheckpoint(dirB).orElseThrow();
        java.util.Map<Long, Double> resumed = new java.util.TreeMap<>();
        try (LoraTrainer t = LoraTrainer.resume(ckpt, base, cfg.toBuilder().checkpointDir(dirB).build())) {
            assertEquals(8, t.stepsDone());
            t.train(data.train(), List.of(), new TrainListener() {
                @Override
                public void onStep(Progress p) {
                    resumed.put(p.step(), p.trainLoss());
                }
            });
        }
        assertEquals(List.of(9L, 10L, 11L, 12L, 13L, 14L, 15L, 16L), List.copyOf(resumed.keySet()));
        for (long s = 9; s <= 16; s++) {
            System.out.printf("TrainIT: step %d straight %.6f resumed %.6f%n", s, straight.get(s), resumed.get(s));
            assertEquals(straight.get(s), resumed.get(s), 1e-4 * straight.get(s), "step " + s);
        }
    }

    /** The frozen base stays quantised: Q8_0, Q4_0 and Q4_K bases train (loss falls) and the adapter loads in llama.cpp. */
    @Test
    void quantisedBasesTrain() {
        Path f32 = TestFiles.sharedModel("stories260K.gguf");
        for (dev.lora4j.FileType ft : List.of(dev.lora4j.FileType.MOSTLY_Q8_0, dev.lora4j.FileType.MOSTLY_Q4_0, dev.lora4j.FileType.MOSTLY_Q4_K_M)) {
            Path q = tmp.resolve("base-" + ft + ".gguf");
            Model.quantize(f32, q, ft, 2);
            TrainingSample s;
            try (Model m = Model.load(q)) {
                s = sampleFrom(m, story(), 64);
            }
            TrainConfig cfg = TrainConfig.builder().contextLength(64).learningRate(3e-3f).threads(2).build();
            try (LoraTrainer t = LoraTrainer.create(q, LoraConfig.defaults().withTargetModules(List.of("all-linear")), cfg)) {
                double first = TrainerTestAccess.loss(t, s);
                for (int i = 0; i < 20; i++) {
                    TrainerTestAccess.trainOn(t, s);
                }
                double last = TrainerTestAccess.loss(t, s);
                System.out.printf("TrainIT: %s base: loss on a sample %.4f -> %.4f after 20 steps%n", ft, first, last);
                assertTrue(last < 0.8 * first, ft + ": " + first + " -> " + last);
                Path out = tmp.resolve("adapter-" + ft + ".gguf");
                t.saveAdapter(out, GgmlType.F16);
                try (Model m = Model.load(q); LoraAdapter a = LoraAdapter.load(m, out)) {
                    assertEquals(8, a.rank());
                }
            }
        }
    }

    /** 32 layers: the node budget of training graphs is large enough (it overflowed before the patch). */
    @Test
    void deepModelsTrain() {
        Path deep = tmp.resolve("deep.gguf");
        try (dev.lora4j.gguf.GgufFile vocab = dev.lora4j.gguf.GgufFile.open(TestFiles.llamaSource().resolve("models/ggml-vocab-llama-spm.gguf"))) {
            dev.lora4j.gguf.ModelSpec spec = dev.lora4j.gguf.ModelSpec.of(dev.lora4j.gguf.ModelBuilder.vocabSize(vocab), 64, 32, 4, 2, 128);
            dev.lora4j.gguf.ModelBuilder.write(spec, vocab, deep, GgmlType.Q8_0, 3, (d, t) -> { });
        }
        TrainingSample s;
        try (Model m = Model.load(deep)) {
            assertEquals(32, m.layerCount());
            s = sampleFrom(m, "Once upon a time there was a little robot who wanted to learn how to paint the sky.", 16);
        }
        TrainConfig cfg = TrainConfig.builder().contextLength(16).learningRate(1e-2f).threads(2).build();
        try (LoraTrainer t = LoraTrainer.create(deep, LoraConfig.defaults().withTargetModules(List.of("all-linear")), cfg)) {
            double first = TrainerTestAccess.loss(t, s);
            for (int i = 0; i < 5; i++) {
                TrainerTestAccess.trainOn(t, s);
            }
            double last = TrainerTestAccess.loss(t, s);
            assertTrue(Double.isFinite(last) && last < first, first + " -> " + last);
        }
    }

    /** Prompt/completion data: only completion tokens count in the loss. */
    @Test
    void maskedLossCountsOnlyCompletions() throws Exception {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        Path jsonl = tmp.resolve("pc.jsonl");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            sb.append("{\"prompt\": \"Q: What is the color of the sky number ").append(i).append("?\\nA:\", \"completion\": \" The sky is blue.\"}\n");
        }
        java.nio.file.Files.writeString(jsonl, sb.toString());
        TrainingData data;
        try (Model m = Model.load(base)) {
            data = TrainingData.load(jsonl, DataOptions.defaults().withContextLength(32).withPacking(false), m.vocabulary());
        }
        TrainingSample s0 = data.train().get(0);
        long counted = java.util.Arrays.stream(s0.labels()).filter(l -> l >= 0).count();
        assertTrue(counted > 0 && counted < 20, "counted " + counted);
        TrainConfig cfg = TrainConfig.builder().contextLength(32).learningRate(5e-3f).epochs(3).threads(2).build();
        try (LoraTrainer t = LoraTrainer.create(base, LoraConfig.defaults(), cfg)) {
            double before = t.evaluate(data.train());
            TrainResult r = t.train(data.train(), List.of(), null);
            double after = t.evaluate(data.train());
            System.out.printf("TrainIT: masked completion loss %.4f -> %.4f (%d steps)%n", before, after, r.steps());
            assertTrue(after < 0.5 * before, before + " -> " + after);
        }
    }

    @Test
    void badTrainingInput() {
        assertThrows(IllegalArgumentException.class, () -> TrainConfig.builder().learningRate(Float.NaN).build());
        assertThrows(IllegalArgumentException.class, () -> TrainConfig.builder().contextLength(4).build());
        assertThrows(IllegalArgumentException.class, () -> TrainConfig.builder().checkpointSteps(10).build());
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.defaults().withR(0));
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.defaults().withTargetModules(List.of("nope")));
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.defaults().withInit(LoraConfig.Init.PISSA));
        Path base = TestFiles.sharedModel("stories260K.gguf");
        try (LoraTrainer t = LoraTrainer.create(base, LoraConfig.defaults(), TrainConfig.builder().contextLength(16).threads(1).build())) {
            assertThrows(IllegalArgumentException.class, () -> TrainerTestAccess.loss(t, new TrainingSample(new int[8], new int[8], 0)), "wrong length");
            int[] tokens = new int[16];
            int[] labels = new int[16];
            java.util.Arrays.fill(labels, -1);
            assertThrows(dev.lora4j.NativeException.class, () -> TrainerTestAccess.loss(t, new TrainingSample(tokens, labels, 0)), "all masked");
            labels[0] = 100_000;
            assertThrows(dev.lora4j.NativeException.class, () -> TrainerTestAccess.loss(t, new TrainingSample(tokens, labels, 0)), "label outside the vocabulary");
            int[] ok = new int[16];
            java.util.Arrays.fill(ok, 5);
            assertTrue(Double.isFinite(TrainerTestAccess.loss(t, new TrainingSample(ok, ok, 0))), "the trainer still works");
        }
    }
}
