package dev.lora4j.it;

import static dev.lora4j.it.GradientCheck.cosine;
import static dev.lora4j.it.GradientCheck.norm;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
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

    /** english_quotes.jsonl's quotes as samples of ctx tokens in the vocabulary of the model at base. */
    static TrainingData quotes(Path base, int ctx, int maxDocs) {
        Path data = TestFiles.shared().resolve("data/english_quotes.jsonl");
        DataOptions o = DataOptions.defaults().withFormat(DataFormat.JSONL_TEXT).withField("quote").withContextLength(ctx)
                .withValidationFraction(0.1).withMaxDocuments(maxDocs).withSeed(7);
        try (Model m = Model.load(base)) {
            return TrainingData.load(data, o, m.vocabulary());
        }
    }

    @Test
    void fineTuningOnQuotesLowersTheValidationLoss() {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        TrainingData data = quotes(base, 128, 2507);
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
        // its random weights give gradients of 3e-3 to 7e-2 at a loss near ln(512); on one element the smallest are
        // within the F32 loss's rounding (which moves with the summation order, i.e. the thread count: 2.05% with 2
        // threads), so the small ones are probed along several elements, as TrainArchitecturesIT does
        GradientCheck.againstFiniteDifferences(tmp, base, sample, 16, new int[] {0, 1}, 5e-3f, 16, 0.02);
    }

    /**
     * On quantised and F16 bases the gradient of one SGD step follows the gradient on the same weights dequantised to
     * F32 without base copies (the forward of a quantised base also quantises activations, so finite differences on
     * it are meaningless; this compares with the F32 copy instead): cosine >= 0.99 for the A and the B of every
     * target in every layer, none of them zero. Each base, F32 too, trains with the default copies of its weights
     * ({@link TrainConfig.BaseCopies#ALL}: BF16 transposes for the backward pass; for the forward, BF16 copies where
     * the CPU has BF16 dot products, else Q8_0 copies of K-quant weights and BF16 copies of F32 ones) and without
     * ({@code NONE}: a transposed F32 copy converted in every step, patch 0007); the two gradients agree to cosine
     * >= 0.9995 and a relative L2 difference <= 3%, per tensor.
     */
    @Test
    void quantisedBaseGradientsFollowTheirF32Copy() {
        Path f32 = wideModel(GgmlType.F32);
        for (dev.lora4j.FileType ft : List.of(dev.lora4j.FileType.MOSTLY_Q8_0, dev.lora4j.FileType.MOSTLY_Q4_0,
                dev.lora4j.FileType.MOSTLY_Q4_K_M, dev.lora4j.FileType.MOSTLY_Q6_K, dev.lora4j.FileType.MOSTLY_F16,
                dev.lora4j.FileType.ALL_F32)) {
            Path q = f32, copy = f32; // an F32 base: its own copy, and the copies (BF16) against none
            if (ft != dev.lora4j.FileType.ALL_F32) {
                q = tmp.resolve("wide-" + ft + ".gguf");
                copy = tmp.resolve("wide-" + ft + "-as-f32.gguf");
                Model.quantize(f32, q, ft, 2);
                Model.quantize(q, copy, dev.lora4j.FileType.ALL_F32, 2, true);
            }
            TrainingSample sample;
            try (Model m = Model.load(q)) {
                sample = sampleFrom(m, story(), 128);
            }
            java.util.Map<String, float[][]> onQuantised = GradientCheck.sgdStep(tmp, q, sample, 16, TrainConfig.BaseCopies.ALL);
            java.util.Map<String, float[][]> perStep = GradientCheck.sgdStep(tmp, q, sample, 16, TrainConfig.BaseCopies.NONE);
            java.util.Map<String, float[][]> onCopy = GradientCheck.sgdStep(tmp, copy, sample, 16, TrainConfig.BaseCopies.NONE);
            double worst = 1, worstCopies = 1, worstRel = 0;
            for (String target : onCopy.keySet()) {
                for (int ab = 0; ab < 2; ab++) {
                    String what = ft + " " + target + (ab == 0 ? " A" : " B");
                    float[] g = onQuantised.get(target)[ab];
                    assertTrue(norm(g) > 0, what + ": zero gradient");
                    double cos = cosine(g, onCopy.get(target)[ab]);
                    assertTrue(cos >= 0.99, what + ": cosine to the F32 copy's " + cos);
                    float[] p = perStep.get(target)[ab];
                    double cosCopies = cosine(g, p);
                    float[] d = new float[g.length];
                    for (int i = 0; i < g.length; i++) {
                        d[i] = g[i] - p[i];
                    }
                    double rel = norm(d) / norm(p);
                    assertTrue(cosCopies >= 0.9995 && rel <= 0.03, what + ": with the base copies, cosine " + cosCopies
                            + " and relative difference " + rel + " to the gradient without");
                    worst = Math.min(worst, cos);
                    worstCopies = Math.min(worstCopies, cosCopies);
                    worstRel = Math.max(worstRel, rel);
                }
            }
            System.out.printf("TrainIT: %s base: %d gradients, lowest cosine to the F32 copy's %.5f; with base copies vs without: "
                    + "lowest cosine %.6f, largest relative difference %.4f%n", ft, 2 * onCopy.size(), worst, worstCopies, worstRel);
        }
    }

    /**
     * The copies of the base weights are made once, in the first step, for exactly the weights the training graph
     * multiplies: a BF16 transpose of each 2-D weight (all seven projections of both layers and the output, 1,703,936
     * elements of the wide model), and with ALL a forward copy of each: BF16 where the CPU has BF16 dot products
     * (AVX512-BF16; ggml is built for the CPU it runs on), else Q8_0 for the K-quant weights, BF16 for the F32 ones and
     * none for Q8_0; none without copies; within {@link TrainConfig#baseCopiesMaxBytes()}: the smaller forward copies
     * when the BF16 ones do not fit (none with BF16 dot products: there the forward of these weights, n_in <= 1536,
     * reads their transposes), the transposes alone when no forward copies fit, none when the transposes do not either.
     */
    @Test
    void baseCopiesAreMadeOnceForTheMultipliedWeights() {
        Path f32 = wideModel(GgmlType.F32);
        Path q8 = tmp.resolve("wide-copies-q8_0.gguf");
        Path q6 = tmp.resolve("wide-copies-q6_k.gguf");
        Model.quantize(f32, q8, dev.lora4j.FileType.MOSTLY_Q8_0, 2);
        Model.quantize(f32, q6, dev.lora4j.FileType.MOSTLY_Q6_K, 2);
        long elements = 2 * (256 * 256 + 2 * 256 * 128 + 256 * 256 + 3 * 256 * 768) + 256 * 512;
        assertEquals(1_703_936, elements);
        long bf16 = 2 * elements;
        long q8_0 = elements / 32 * 34;
        boolean bf16Dot = TestFiles.cpuHasBf16DotProducts();
        record Case(Path base, TrainConfig.BaseCopies copies, long maxBytes, long bytes) {}
        for (Case c : List.of(new Case(q8, TrainConfig.BaseCopies.ALL, -1, bf16Dot ? 2 * bf16 : bf16),
                new Case(q8, TrainConfig.BaseCopies.NONE, -1, 0), new Case(q6, TrainConfig.BaseCopies.BACKWARD, -1, bf16),
                new Case(q6, TrainConfig.BaseCopies.ALL, -1, bf16Dot ? 2 * bf16 : bf16 + q8_0),
                new Case(f32, TrainConfig.BaseCopies.ALL, -1, 2 * bf16), new Case(f32, TrainConfig.BaseCopies.BACKWARD, -1, bf16),
                // over the budget: the smaller forward copies, the transposes alone, or nothing
                new Case(q6, TrainConfig.BaseCopies.ALL, 6_000_000, bf16Dot ? bf16 : bf16 + q8_0),
                new Case(q6, TrainConfig.BaseCopies.ALL, 4_000_000, bf16), new Case(q6, TrainConfig.BaseCopies.ALL, 3_000_000, 0),
                new Case(q6, TrainConfig.BaseCopies.ALL, 0, 0))) {
            TrainingSample sample;
            try (Model m = Model.load(c.base())) {
                sample = sampleFrom(m, story(), 64);
            }
            try (LoraTrainer t = LoraTrainer.createFrom(c.base(), GradientCheck.randomAdapter(tmp, c.base(), 8),
                    GradientCheck.loraConfig(8), GradientCheck.sgd(64, c.copies()).toBuilder().baseCopiesMaxBytes(c.maxBytes()).build())) {
                assertEquals(0, t.baseCopiesBytes());
                TrainerTestAccess.trainOn(t, sample);
                long first = t.baseCopiesBytes();
                TrainerTestAccess.trainOn(t, sample);
                assertEquals(first, t.baseCopiesBytes(), "copies made again in the second step");
                // the tensors' bytes, plus at most one alignment pad per tensor
                assertTrue(first >= c.bytes() && first <= c.bytes() + 64 * 64, c + ": " + first + " bytes");
                System.out.printf("TrainIT: base copies %s (at most %d bytes) on %s: %d bytes%n", c.copies(), c.maxBytes(),
                        c.base().getFileName(), first);
            }
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
        TrainingData data = quotes(base, 64, 300);
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

    /**
     * A step's graphs are built once and evaluated again while nothing else uses the scheduler (patch 0018). A decode
     * on the training context, or a forward-only evaluation, between two steps must make the next step build them
     * anew: the losses equal those of steps run back to back. (Reusing them after a decode computed the
     * decode's graph: the losses read back were ~1e-43.)
     */
    @Test
    void aDecodeOrAnEvaluationBetweenStepsLeavesTheStepsUnchanged() {
        Path base = TestFiles.sharedModel("stories260K.gguf");
        TrainingData data = quotes(base, 64, 40);
        List<TrainingSample> samples = data.train().subList(0, 6);
        TrainConfig cfg = TrainConfig.builder().contextLength(64).learningRate(5e-3f).threads(2).build();
        LoraConfig lora = LoraConfig.defaults().withTargetModules(List.of("q", "v", "down"));
        double[][] losses = new double[3][];
        for (int run = 0; run < 3; run++) {
            losses[run] = new double[2 * samples.size()];
            try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
                for (int i = 0; i < losses[run].length; i++) {
                    TrainingSample s = samples.get(i % samples.size());
                    losses[run][i] = TrainerTestAccess.trainOn(t, s);
                    if (run == 1) {
                        Context c = TrainerTestAccess.context(t);
                        c.clear();
                        c.decode(s.tokens(), 0, true);
                        assertTrue(Float.isFinite(c.logits(0)[0]));
                    } else if (run == 2) {
                        TrainerTestAccess.loss(t, samples.get((i + 1) % samples.size()));
                    }
                }
            }
        }
        System.out.printf("TrainIT: losses %s, with decodes %s, with evaluations %s%n", java.util.Arrays.toString(losses[0]),
                java.util.Arrays.toString(losses[1]), java.util.Arrays.toString(losses[2]));
        assertTrue(losses[0][losses[0].length - 1] < losses[0][samples.size() - 1] - 0.05, "the second pass learned");
        for (int run = 1; run < 3; run++) {
            assertArrayEquals(losses[0], losses[run], 1e-6, "run " + run);
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
