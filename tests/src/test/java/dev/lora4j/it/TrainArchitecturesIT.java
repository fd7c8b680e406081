package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Architectures;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.FileType;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.gguf.ModelSpec.Arch;
import dev.lora4j.merge.LoraMerger;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.merge.OutputType;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainListener;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainerTestAccess;
import dev.lora4j.train.TrainingData;
import dev.lora4j.train.TrainingSample;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LoRA training on every architecture lora4j trains ({@link Architectures#TRAINABLE}), on random-weight bases that
 * {@link ModelBuilder} writes with each architecture's layout and vocabulary: gradients against finite differences,
 * non-zero gradients on a Q4_K_M base, stock llama.cpp's text with the adapter, the merged model's text, and the
 * validation loss on real text. The table in docs/training.md comes from this test's output.
 */
class TrainArchitecturesIT {
    @TempDir
    Path tmp;

    /** Every projection of a block (all-linear, and the experts of a mixture of experts) and the output layer. */
    private static final List<String> TARGETS = List.of("all-linear", "experts", "lm_head");

    /** The builder's architectures that lora4j trains (or those of {@code -Dlora4j.archs=gemma3,phi3}). */
    static Stream<Arch> trainable() {
        List<String> only = Arrays.asList(System.getProperty("lora4j.archs", "").split(","));
        return Arrays.stream(Arch.values()).filter(a -> Architectures.TRAINABLE.contains(a.ggufArchitecture()))
                .filter(a -> only.equals(List.of("")) || only.contains(a.id()));
    }

    private static Path vocabulary(Arch arch) {
        return TestFiles.llamaSource().resolve("models").resolve(arch.defaultVocabulary());
    }

    /**
     * A model of {@code arch} with random weights of {@code type}, 2 layers, an output layer of its own. Gemma 3's layer 0 attends through a
     * sliding window of 16 tokens (shorter than the samples, so its mask differs from the causal one) and layer 1 to
     * all tokens: {@code sliding_window_pattern} 2 instead of llama.cpp's default 6, which would take 6 layers (too
     * deep for finite differences through GELU's F16 table in ggml's CPU forward).
     */
    private Path tiny(Arch arch, int nEmbd, int nFf, GgmlType type) {
        return tiny(arch, nEmbd, nFf, type, 2);
    }

    /** As above; a mixture of experts routes each token to {@code expertsUsed} of its 4 experts. */
    private Path tiny(Arch arch, int nEmbd, int nFf, GgmlType type, int expertsUsed) {
        Path out = tmp.resolve(arch.id() + "-" + nEmbd + "-" + type + "-" + expertsUsed + ".gguf");
        try (GgufFile vocab = GgufFile.open(vocabulary(arch))) {
            ModelSpec spec = ModelSpec.of(arch, ModelBuilder.vocabSize(vocab), nEmbd, 2, 4, 2, nFf).withTiedEmbeddings(false);
            if (arch == Arch.GEMMA3) {
                spec = spec.withSlidingWindow(16);
            }
            if (arch.hasExperts()) {
                spec = spec.withExperts(4, expertsUsed, nFf);
            }
            ModelBuilder.write(spec, vocab, out, type, 3, (d, t) -> { });
        }
        if (arch == Arch.GEMMA3) {
            Path twoLayer = tmp.resolve("swa2-" + out.getFileName());
            try (GgufFile f = GgufFile.open(out)) {
                GgufWriter w = GgufWriter.copyOf(f);
                w.putUint32("gemma3.attention.sliding_window_pattern", 2);
                w.write(twoLayer);
            }
            return twoLayer;
        }
        return out;
    }

    private static int lastLayer(Path model) {
        try (GgufFile f = GgufFile.open(model)) {
            String arch = f.architecture().orElseThrow();
            return (int) f.get(arch + ".block_count").orElseThrow().asLong() - 1;
        }
    }

    /**
     * A and B of every target (q, k, v, o, gate, up, down, or the fused qkv and gate+up of Phi-3) in the first and the
     * last layer against central finite differences: the backward passes of each architecture's graph (biases, Q/K
     * norms, GEGLU, fused GLUs, sliding-window attention) are exact.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("trainable")
    void gradientsAgreeWithFiniteDifferences(Arch arch) {
        if (!arch.hasExperts()) {
            checkAgainstFiniteDifferences(arch, tiny(arch, 64, 128, GgmlType.F32), "");
            return;
        }
        // the loss jumps where a perturbation changes the top-k routing of a token, and a finite difference across the
        // jump means nothing: every expert routed (the router's gradient included), and 2 of 4 routed by a router of
        // zeros, which routes every token alike whatever its input (the other 2 experts must get zero gradients)
        checkAgainstFiniteDifferences(arch, tiny(arch, 64, 128, GgmlType.F32, 4), " (4 of 4 experts routed)");
        Path constant = withZeroRouter(tiny(arch, 64, 128, GgmlType.F32, 2));
        checkAgainstFiniteDifferences(arch, constant, " (2 of 4, constant router)");
        Map<String, float[][]> grads = GradientCheck.sgdStep(tmp, constant, sample(constant), 4);
        for (Map.Entry<String, float[][]> e : grads.entrySet()) {
            if (e.getKey().contains("_exps.")) {
                for (float[] g : e.getValue()) {
                    boolean[] routed = new boolean[4];
                    for (int i = 0; i < g.length; i++) {
                        routed[i / (g.length / 4)] |= g[i] != 0;
                    }
                    int n = 0;
                    for (boolean r : routed) {
                        n += r ? 1 : 0;
                    }
                    assertEquals(2, n, e.getKey() + ": experts with a gradient " + Arrays.toString(routed));
                }
            }
        }
    }

    /** The first 48 tokens of the story in {@code base}'s vocabulary. */
    private static TrainingSample sample(Path base) {
        try (Model m = Model.load(base)) {
            return TrainIT.sampleFrom(m, TrainIT.story(), 48);
        }
    }

    private void checkAgainstFiniteDifferences(Arch arch, Path base, String what) {
        TrainingSample sample = sample(base);
        // random weights give q and k gradients near 5e-4, too small for one element's finite difference of a float loss
        // near ln(n_vocab): each probe moves the 16 elements of largest gradient together (more while their gradients
        // add up to less than 0.02)
        GradientCheck.Result r = GradientCheck.againstFiniteDifferences(tmp, base, sample, 4, new int[] {0, lastLayer(base)}, 5e-3f, 16, 0.02);
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s%s: %d gradients, worst relative error %.3f%%%n", arch.id(), what,
                r.checked(), 100 * r.worst());
    }

    /** A copy of a mixture-of-experts model whose routers ({@code ffn_gate_inp}) are all zero. */
    private Path withZeroRouter(Path model) {
        Path out = tmp.resolve("zero-router-" + model.getFileName());
        try (GgufFile f = GgufFile.open(model)) {
            GgufWriter w = new GgufWriter();
            f.metadata().forEach(w::put);
            for (GgufTensorInfo t : f.tensors()) {
                boolean router = t.name().endsWith(".ffn_gate_inp.weight");
                w.addTensor(t.name(), t.type(), t.shape(), router ? MemorySegment.ofArray(new byte[Math.toIntExact(t.byteSize())]) : f.tensorData(t.name()));
            }
            w.write(out);
        }
        return out;
    }

    /**
     * On Q8_0, Q4_K_M and Q6_K bases, one step gives every target a finite, non-zero gradient in A and in B (nothing
     * silently frozen).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("trainable")
    void quantisedBasesGiveEveryTargetAGradient(Arch arch) {
        Path f16 = tiny(arch, 256, 512, GgmlType.F16);
        for (FileType type : List.of(FileType.MOSTLY_Q8_0, FileType.MOSTLY_Q4_K_M, FileType.MOSTLY_Q6_K)) {
            Path q = tmp.resolve(arch.id() + "-" + type + ".gguf");
            Model.quantize(f16, q, type, 2);
            TrainingSample sample;
            try (Model m = Model.load(q)) {
                sample = TrainIT.sampleFrom(m, TrainIT.story(), 64);
            }
            Map<String, float[][]> grads = GradientCheck.sgdStep(tmp, q, sample, 8);
            String what = arch.id() + " " + type;
            assertTrue(grads.size() >= 2 * 4, what + ": " + grads.keySet());
            for (Map.Entry<String, float[][]> e : grads.entrySet()) {
                for (int ab = 0; ab < 2; ab++) {
                    double norm = 0;
                    for (float g : e.getValue()[ab]) {
                        assertTrue(Float.isFinite(g), what + " " + e.getKey() + ": non-finite gradient");
                        norm += (double) g * g;
                    }
                    assertTrue(norm > 0, what + " " + e.getKey() + (ab == 0 ? " A" : " B") + ": zero gradient");
                }
            }
            System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: %d targets, every A and B has a non-zero gradient%n", what, grads.size());
        }
    }

    /**
     * An adapter ({@link #TARGETS}) trained on the F16 base until the model has learnt one passage (so that
     * greedy decoding is mostly far from ties) gives the same greedy text in lora4j and in stock llama.cpp
     * ({@code llama-completion --lora}), and merged into the base with {@code --type keep} the same tokens near ties
     * aside ({@link #assertSameGreedyTokens}).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("trainable")
    void adapterGivesTheSameTextInLlamaCppAndMerged(Arch arch) {
        Path base = tiny(arch, 64, 128, GgmlType.F16);
        Path adapter = tmp.resolve(arch.id() + "-adapter.gguf");
        TrainingSample sample;
        try (Model m = Model.load(base)) {
            sample = TrainIT.sampleFrom(m, TrainIT.story(), 64);
        }
        TrainConfig cfg = TrainConfig.builder().contextLength(64).learningRate(2e-2f).threads(2).build();
        LoraConfig lora = LoraConfig.defaults().withR(8).withAlpha(16).withTargetModules(TARGETS).withSeed(3);
        // before assertSameGreedyTokens compared the merged model's tokens near ties aside, these step counts were
        // raised until the greedy texts had no near tie (Mixtral's and Llama 3's after 60 steps, Mixtral's after 150)
        int steps = arch.hasExperts() ? 300 : 150;
        double first;
        double last;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            first = TrainerTestAccess.loss(t, sample);
            for (int step = 0; step < steps; step++) {
                TrainerTestAccess.trainOn(t, sample);
            }
            last = TrainerTestAccess.loss(t, sample);
            t.saveAdapter(adapter, GgmlType.F32);
        }
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: loss on the passage %.3f -> %.3f after %d steps%n", arch.id(), first, last, steps);
        assertTrue(last < first / 2, arch + ": the passage was not learnt: " + first + " -> " + last);

        String prompt = "Once upon a time there was";
        try (Model m = Model.load(base); LoraAdapter a = LoraAdapter.load(m, adapter);
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(2))) {
            String baseText = ctx.generate(prompt, 24, SamplerParams.greedy(), null).text();
            ctx.setAdapter(a, 1f);
            String ours = ctx.generate(prompt, 24, SamplerParams.greedy(), null).text();
            System.out.printf("TrainArchitecturesIT: %s: base    [%s]%nTrainArchitecturesIT: %s: adapter [%s]%n", arch.id(),
                    baseText.replace("\n", " "), arch.id(), ours.replace("\n", " "));
            assertTrue(!ours.equals(baseText), arch + ": the adapter must change the greedy text");

            TestFiles.assertLlamaCompletionPrints(ours, arch + ": llama-completion --lora", "-m", base, "--lora", adapter, "-p", prompt, "-n", 24, "-c", 256);

            Path merged = tmp.resolve(arch.id() + "-merged.gguf");
            LoraMerger.merge(base, MergeOptions.of(adapter).withType(OutputType.parse("keep")).withThreads(2), merged);
            try (Model mm = Model.load(merged); Context mc = mm.newContext(ContextParams.defaults().withContextSize(256).withThreads(2))) {
                ctx.clear();
                assertSameGreedyTokens(ctx, mc, m.vocabulary().tokenize(prompt, true, false), 24, arch + ": merged (keep) vs unmerged");
            }
        }
    }

    /**
     * Feeds the unmerged adapter's greedy sequence to both contexts: the logits agree (normalised mean squared error),
     * and where the merged model picks another token, the unmerged one's top two logits are within twice the largest
     * logit difference (a near tie), at fewer than a quarter of the steps. The merge into F16 rounds W + s·BA, which
     * can break a near tie the other way (it did for Mixtral, Llama 3 and Phi-3 after some trainings), so the greedy
     * texts are not compared.
     */
    static void assertSameGreedyTokens(Context unmerged, Context merged, int[] prompt, int steps, String what) {
        unmerged.decode(prompt);
        merged.decode(prompt);
        int ties = 0;
        double worst = 0;
        for (int i = 0; i < steps; i++) {
            float[] u = unmerged.logits();
            float[] g = merged.logits();
            Logits.Diff diff = Logits.diff(u, g);
            worst = Math.max(worst, diff.nmse());
            assertTrue(diff.nmse() < 1e-3, what + ": step " + i + ": logits NMSE " + diff.nmse());
            int tu = Logits.argmax(u);
            if (tu != Logits.argmax(g)) {
                double margin = Logits.topTwoMargin(u);
                assertTrue(margin <= 2 * diff.maxAbs(), what + ": step " + i + ": another token where the top two are "
                        + margin + " apart and the logits differ by at most " + diff.maxAbs());
                ties++;
            }
            unmerged.decode(tu);
            merged.decode(tu);
        }
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: worst logits NMSE %.2e, another token at %d near ties%n", what, worst, ties);
        assertTrue(ties < steps / 4, what + ": another token at too many near ties: " + ties);
    }

    /**
     * 200 steps of LoRA training ({@link #TARGETS}, r=16) on real text (english_quotes) lower the validation loss
     * of a ~20M-parameter model of each architecture by at least 10%; prints the throughput for the table in
     * docs/training.md.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("trainable")
    void trainingOnRealTextLowersTheValidationLoss(Arch arch) {
        Path base = tmp.resolve(arch.id() + "-20M.gguf");
        try (GgufFile vocab = GgufFile.open(vocabulary(arch))) {
            // Gemma 3 ties its output layer to the embeddings, which llama.cpp's graph cannot adapt: here it has its own
            ModelSpec spec = ModelSpec.ofParameters(arch, 20_000_000, ModelBuilder.vocabSize(vocab)).withTiedEmbeddings(false);
            ModelBuilder.write(spec, vocab, base, GgmlType.F16, 1, (d, t) -> { });
            System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: %,d parameters (%d wide, %d layers)%n", arch.id(), spec.parameterCount(),
                    spec.nEmbd(), spec.nLayer());
        }
        TrainingData data = TrainIT.quotes(base, 128, 2507);
        // a random base starts near ln(n_vocab) and knows no token frequencies: the output layer is a target too
        TrainConfig cfg = TrainConfig.builder().contextLength(128).learningRate(1e-2f).warmupSteps(10)
                .schedule(TrainConfig.Schedule.COSINE).epochs(1).maxSteps(200).threads(2).evalSteps(100).build();
        LoraConfig lora = LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(TARGETS);
        TrainResult r;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            r = t.train(data, new TrainListener() { });
        }
        double drop = 1 - r.finalValidationLoss() / r.initialValidationLoss();
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: 200 steps: validation loss %.4f -> %.4f (%.1f%% lower), %.0f tok/s, peak RSS %d MiB%n",
                arch.id(), r.initialValidationLoss(), r.finalValidationLoss(), 100 * drop, r.tokensPerSecond(), r.peakRssBytes() >> 20);
        assertTrue(drop >= 0.10, arch + ": validation loss " + r.initialValidationLoss() + " -> " + r.finalValidationLoss());
    }

    /**
     * A checkpoint of a mixture of experts (3-D A and B of every expert, and their AdamW moments) resumes the run
     * exactly: 6 steps, then 6 more from the checkpoint, give the losses and the adapter of 12 uninterrupted steps.
     */
    @Test
    void mixtureOfExpertsResumesFromACheckpoint() {
        Path base = tiny(Arch.QWEN3MOE, 64, 128, GgmlType.F32);
        TrainingData data = TrainIT.quotes(base, 64, 300);
        LoraConfig lora = LoraConfig.defaults().withR(4).withTargetModules(List.of("q", "v", "experts"));
        TrainConfig cfg = TrainConfig.builder().contextLength(64).learningRate(5e-3f).maxSteps(12).threads(2)
                .checkpointDir(tmp.resolve("straight")).build();
        Map<Long, Double> straight = new java.util.TreeMap<>();
        Map<String, float[]> straightB;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            t.train(data.train(), List.of(), new TrainListener() {
                @Override
                public void onStep(Progress p) {
                    straight.put(p.step(), p.trainLoss());
                }
            });
            straightB = t.loraB();
        }
        Path dir = tmp.resolve("halves");
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg.toBuilder().maxSteps(6).checkpointDir(dir).build())) {
            t.train(data.train(), List.of(), null);
        }
        Map<Long, Double> resumed = new java.util.TreeMap<>();
        try (LoraTrainer t = LoraTrainer.resume(LoraTrainer.latestCheckpoint(dir).orElseThrow(), base, cfg.toBuilder().checkpointDir(dir).build())) {
            t.train(data.train(), List.of(), new TrainListener() {
                @Override
                public void onStep(Progress p) {
                    resumed.put(p.step(), p.trainLoss());
                }
            });
            Map<String, float[]> b = t.loraB();
            assertTrue(b.keySet().stream().anyMatch(n -> n.endsWith("ffn_down_exps.weight")), b.keySet().toString());
            for (Map.Entry<String, float[]> e : straightB.entrySet()) {
                assertArrayEquals(e.getValue(), b.get(e.getKey()), e.getKey());
            }
        }
        assertEquals(List.of(7L, 8L, 9L, 10L, 11L, 12L), List.copyOf(resumed.keySet()));
        for (long s = 7; s <= 12; s++) {
            assertEquals(straight.get(s), resumed.get(s), "step " + s);
        }
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: qwen3moe: resumed at step 6, steps 7-12 and the adapter equal the uninterrupted run's (loss %.4f at 12)%n",
                straight.get(12L));
    }

    /**
     * Trained weights through a mixture of experts: stories260K with its feed-forward copied into 2 experts of a
     * Mixtral-style layer, routed top-1 by a router of zeros (each token to one copy, with weight 0.5 / 0.5 = 1), is the
     * dense model; 8 steps of an attention adapter (SGD) give the dense model's losses, so the gradient that reaches
     * the attention through the experts, the routing weights and their normalisation is the dense feed-forward's.
     */
    @Test
    void mixtureOfTwoCopiesOfTheFeedForwardTrainsLikeTheDenseModel() {
        Path dense = TestFiles.sharedModel("stories260K.gguf");
        Path moe = tmp.resolve("stories260K-2-experts.gguf");
        try (GgufFile f = GgufFile.open(dense)) {
            long nEmbd = f.get("llama.embedding_length").orElseThrow().asLong();
            GgufWriter w = new GgufWriter();
            f.metadata().forEach(w::put);
            w.set("llama.expert_count", GgufValue.ofUint32(2));
            w.set("llama.expert_used_count", GgufValue.ofUint32(1));
            for (GgufTensorInfo t : f.tensors()) {
                String n = t.name();
                if (n.endsWith("ffn_gate.weight") || n.endsWith("ffn_up.weight") || n.endsWith("ffn_down.weight")) {
                    float[] x = f.tensorFloats(n);
                    float[] two = Arrays.copyOf(x, 2 * x.length);
                    System.arraycopy(x, 0, two, x.length, x.length);
                    w.addTensor(n.replace(".weight", "_exps.weight"), GgmlType.F32, new long[] {t.ne(0), t.ne(1), 2},
                            GgmlQuant.quantize(GgmlType.F32, two));
                } else {
                    w.addTensor(n, t.type(), t.shape(), f.tensorData(n));
                }
                if (n.endsWith("ffn_norm.weight")) {
                    w.addTensor(n.replace("ffn_norm", "ffn_gate_inp"), GgmlType.F32, new long[] {nEmbd, 2},
                            MemorySegment.ofArray(new byte[Math.toIntExact(nEmbd * 2 * Float.BYTES)]));
                }
            }
            w.write(moe);
        }
        TrainingSample sample;
        try (Model m = Model.load(dense)) {
            sample = TrainIT.sampleFrom(m, TrainIT.story(), 64);
        }
        LoraConfig lora = LoraConfig.defaults().withR(4).withTargetModules(List.of("q", "k", "v", "o")).withSeed(5);
        // exact: the dense model's 2-D weights would get BF16 copies, the experts' 3-D ones none
        TrainConfig cfg = TrainConfig.builder().contextLength(64).optimizer(TrainConfig.Optimizer.SGD).learningRate(0.05f).threads(2)
                .baseCopies(GradientCheck.EXACT).build();
        double[][] losses = new double[2][9];
        for (int i = 0; i < 2; i++) {
            try (LoraTrainer t = LoraTrainer.create(i == 0 ? dense : moe, lora, cfg)) {
                for (int step = 0; step < 9; step++) {
                    losses[i][step] = TrainerTestAccess.loss(t, sample);
                    TrainerTestAccess.trainOn(t, sample);
                }
            }
        }
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: stories260K dense vs 2 experts: losses %s vs %s%n",
                Arrays.toString(losses[0]), Arrays.toString(losses[1]));
        assertTrue(losses[0][8] < 0.9 * losses[0][0], "the adapter did not learn: " + Arrays.toString(losses[0]));
        for (int step = 0; step < 9; step++) {
            assertEquals(losses[0][step], losses[1][step], 1e-5 * losses[0][step], "step " + step);
        }
    }

    /** Architectures with recurrent state, and those not checked, are refused with the reason before llama.cpp sees them. */
    @Test
    void untrainableArchitecturesAreRefusedWithTheReason() {
        assertTrue(Architectures.trainingRefusal("mamba", 0).orElseThrow().contains("recurrent state"));
        assertTrue(Architectures.trainingRefusal("qwen35", 0).orElseThrow().contains("recurrent state"));
        assertTrue(Architectures.trainingRefusal("bert", 0).orElseThrow().contains("lora4j trains"));
        assertTrue(Architectures.trainingRefusal("qwen3moe", 8).isEmpty());
        assertTrue(Architectures.trainingRefusal("llama", 8).isEmpty(), "Mixtral");
        assertTrue(Architectures.trainingRefusal("qwen2moe", 60).orElseThrow().contains("mixture-of-experts"));
        for (String a : Architectures.TRAINABLE) {
            assertTrue(Architectures.trainingRefusal(a, 0).isEmpty(), a);
        }
    }
}
