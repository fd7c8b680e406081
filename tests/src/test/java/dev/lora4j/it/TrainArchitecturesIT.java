package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Architectures;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.FileType;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
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
        Path out = tmp.resolve(arch.id() + "-" + nEmbd + "-" + type + ".gguf");
        try (GgufFile vocab = GgufFile.open(vocabulary(arch))) {
            ModelSpec spec = ModelSpec.of(arch, ModelBuilder.vocabSize(vocab), nEmbd, 2, 4, 2, nFf).withTiedEmbeddings(false);
            if (arch == Arch.GEMMA3) {
                spec = spec.withSlidingWindow(16);
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
        Path base = tiny(arch, 64, 128, GgmlType.F32);
        TrainingSample sample;
        try (Model m = Model.load(base)) {
            sample = TrainIT.sampleFrom(m, TrainIT.story(), 48);
        }
        // random weights give q and k gradients near 5e-4, too small for one element's finite difference of a float loss
        // near ln(n_vocab): each probe moves the 16 elements of largest gradient together
        GradientCheck.Result r = GradientCheck.againstFiniteDifferences(tmp, base, sample, 4, new int[] {0, lastLayer(base)}, 1e-2f, 16, 0.02);
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: %d gradients, worst relative error %.3f%%%n", arch.id(), r.checked(), 100 * r.worst());
    }

    /** On a Q4_K_M base, one step gives every target a finite, non-zero gradient in A and in B (nothing silently frozen). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("trainable")
    void quantisedBaseGivesEveryTargetAGradient(Arch arch) {
        Path f16 = tiny(arch, 256, 512, GgmlType.F16);
        Path q = tmp.resolve(arch.id() + "-q4_k_m.gguf");
        Model.quantize(f16, q, FileType.MOSTLY_Q4_K_M, 2);
        TrainingSample sample;
        try (Model m = Model.load(q)) {
            sample = TrainIT.sampleFrom(m, TrainIT.story(), 64);
        }
        Map<String, float[][]> grads = GradientCheck.sgdStep(tmp, q, sample, 8);
        assertTrue(grads.size() >= 2 * 4, arch + ": " + grads.keySet());
        for (Map.Entry<String, float[][]> e : grads.entrySet()) {
            for (int ab = 0; ab < 2; ab++) {
                double norm = 0;
                for (float g : e.getValue()[ab]) {
                    assertTrue(Float.isFinite(g), arch + " " + e.getKey() + ": non-finite gradient");
                    norm += (double) g * g;
                }
                assertTrue(norm > 0, arch + " " + e.getKey() + (ab == 0 ? " A" : " B") + ": zero gradient");
            }
        }
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s Q4_K_M: %d targets, every A and B has a non-zero gradient%n", arch.id(), grads.size());
    }

    /**
     * An adapter (all-linear and lm_head) trained on the F16 base until the model has learnt one passage (so that
     * greedy decoding is far from ties) gives the same greedy text in lora4j, in stock llama.cpp ({@code llama-completion --lora}), and merged into
     * the base with {@code --type keep}.
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
        LoraConfig lora = LoraConfig.defaults().withR(8).withAlpha(16).withTargetModules(List.of("all-linear", "lm_head")).withSeed(3);
        double first;
        double last;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            first = TrainerTestAccess.loss(t, sample);
            for (int step = 0; step < 60; step++) {
                TrainerTestAccess.trainOn(t, sample);
            }
            last = TrainerTestAccess.loss(t, sample);
            t.saveAdapter(adapter, GgmlType.F32);
        }
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: loss on the passage %.3f -> %.3f after 60 steps%n", arch.id(), first, last);
        assertTrue(last < first / 2, arch + ": the passage was not learnt: " + first + " -> " + last);

        String prompt = "Once upon a time there was";
        String baseText;
        String ours;
        try (Model m = Model.load(base); LoraAdapter a = LoraAdapter.load(m, adapter);
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(2))) {
            baseText = ctx.generate(prompt, 24, SamplerParams.greedy(), null).text();
            ctx.setAdapter(a, 1f);
            ours = ctx.generate(prompt, 24, SamplerParams.greedy(), null).text();
        }
        System.out.printf("TrainArchitecturesIT: %s: base    [%s]%nTrainArchitecturesIT: %s: adapter [%s]%n", arch.id(),
                baseText.replace("\n", " "), arch.id(), ours.replace("\n", " "));
        assertTrue(!ours.equals(baseText), arch + ": the adapter must change the greedy text");

        TestFiles.assertLlamaCompletionPrints(ours, arch + ": llama-completion --lora", "-m", base, "--lora", adapter, "-p", prompt, "-n", 24, "-c", 256);

        Path merged = tmp.resolve(arch.id() + "-merged.gguf");
        LoraMerger.merge(base, MergeOptions.of(adapter).withType(OutputType.parse("keep")).withThreads(2), merged);
        try (Model mm = Model.load(merged); Context mc = mm.newContext(ContextParams.defaults().withContextSize(256).withThreads(2))) {
            assertEquals(ours, mc.generate(prompt, 24, SamplerParams.greedy(), null).text(), arch + ": merged (keep) vs unmerged");
        }
    }

    /**
     * 200 steps of LoRA training (all-linear and lm_head, r=16) on real text (english_quotes) lower the validation loss
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
        TrainingData data;
        try (Model m = Model.load(base)) {
            data = TrainIT.quotes(m, 128, 2507);
        }
        // a random base starts near ln(n_vocab) and knows no token frequencies: the output layer is a target too
        TrainConfig cfg = TrainConfig.builder().contextLength(128).learningRate(1e-2f).warmupSteps(10)
                .schedule(TrainConfig.Schedule.COSINE).epochs(1).maxSteps(200).threads(2).evalSteps(100).build();
        LoraConfig lora = LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear", "lm_head"));
        TrainResult r;
        try (LoraTrainer t = LoraTrainer.create(base, lora, cfg)) {
            r = t.train(data, new TrainListener() { });
        }
        double drop = 1 - r.finalValidationLoss() / r.initialValidationLoss();
        System.out.printf(Locale.ROOT, "TrainArchitecturesIT: %s: 200 steps: validation loss %.4f -> %.4f (%.1f%% lower), %.0f tok/s, peak RSS %d MiB%n",
                arch.id(), r.initialValidationLoss(), r.finalValidationLoss(), 100 * drop, r.tokensPerSecond(), r.peakRssBytes() >> 20);
        assertTrue(drop >= 0.10, arch + ": validation loss " + r.initialValidationLoss() + " -> " + r.finalValidationLoss());
    }

    /** Architectures with recurrent state, and those not checked, are refused with the reason before llama.cpp sees them. */
    @Test
    void untrainableArchitecturesAreRefusedWithTheReason() {
        assertTrue(Architectures.trainingRefusal("mamba", 0).orElseThrow().contains("recurrent state"));
        assertTrue(Architectures.trainingRefusal("qwen35", 0).orElseThrow().contains("recurrent state"));
        assertTrue(Architectures.trainingRefusal("bert", 0).orElseThrow().contains("lora4j trains"));
        assertTrue(Architectures.trainingRefusal("qwen3moe", 8).orElseThrow().contains("mixture-of-experts"));
        assertTrue(Architectures.trainingRefusal("llama", 8).orElseThrow().contains("mixture-of-experts"));
        for (String a : Architectures.TRAINABLE) {
            assertTrue(Architectures.trainingRefusal(a, 0).isEmpty(), a);
        }
    }
}
