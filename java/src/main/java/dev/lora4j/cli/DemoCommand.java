package dev.lora4j.cli;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.FileType;
import dev.lora4j.Generation;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.merge.LoraMerger;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.merge.MergeReport;
import dev.lora4j.merge.OutputType;
import dev.lora4j.train.DataFormat;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.FullFineTuner;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainListener;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainingData;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code lora4j demo}: the whole story with no network and no files given. Builds a small llama model (the LLaMA
 * vocabulary of the pinned llama.cpp), pre-trains it on stories it writes itself, quantises it to Q8_0, trains a
 * LoRA adapter on a shifted task, shows samples and validation loss before and after, merges the adapter
 * (re-quantised to Q8_0), checks that merged and unmerged give the same text, and compares their speed. With
 * {@code --base FILE --data FILE} it runs the same LoRA → merge → compare pipeline on the user's model and data.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Build, pre-train, quantise, LoRA-train, merge and compare a small model end to end (no files needed).")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = "--keep", description = "Keep the files in this directory (default: a temporary directory, deleted).")
    Path keep;

    @Option(names = "--base", description = "Your base model (GGUF) instead of the built one.")
    Path base;

    @Option(names = "--data", description = "Your training data for the adapter (with --base).")
    Path data;

    @Option(names = "--field", description = "JSONL field of --data.")
    String field;

    @Option(names = "--prompt", description = "Prompt of the samples (default: \"Once upon a time, there was a\").")
    String prompt;

    @Option(names = "--lora-steps", defaultValue = "200") int loraSteps;

    @Option(names = "--pretrain-steps", defaultValue = "250") int pretrainSteps;

    private PrintStream out;

    @Override
    public Integer call() throws IOException {
        common.apply();
        if ((base == null) != (data == null)) {
            throw new IllegalArgumentException("--base and --data go together");
        }
        out = CommonOptions.stdout();
        Path dir = keep != null ? Files.createDirectories(keep) : Files.createTempDirectory("lora4j-demo-");
        long t0 = System.nanoTime();
        try {
            Path q8;
            Path taskData;
            String p = prompt != null ? prompt : "Once upon a time, there was a";
            if (base != null) {
                q8 = base;
                taskData = data;
            } else {
                q8 = buildBase(dir);
                taskData = dir.resolve("shifted-task.txt");
                writeStories(taskData, DemoCorpus.shiftedStories(600, 2));
            }
            loraAndMerge(dir, q8, taskData, p);
            out.printf(Locale.ROOT, "%ndemo done in %.0f s%s%n", (System.nanoTime() - t0) / 1e9, keep != null ? " (files in " + dir + ")" : "");
        } finally {
            if (keep == null) {
                deleteTree(dir);
            }
        }
        return 0;
    }

    private Path buildBase(Path dir) throws IOException {
        int threads = common.threads;
        Path f32 = dir.resolve("base-f32.gguf");
        Path pretrained = dir.resolve("base-pretrained-f32.gguf");
        Path q8 = dir.resolve("base-q8_0.gguf");
        try (Vocab v = Vocab.open(null); GgufFile vocab = GgufFile.open(v.path())) {
            int nVocab = ModelBuilder.vocabSize(vocab);
            ModelSpec spec = ModelSpec.of(nVocab, 64, 2, 4, 2, 192).withName("lora4j-demo").withContext(256);
            out.printf(Locale.ROOT, "1. building a llama model: %,d parameters (n_embd %d, %d layers, n_ff %d, LLaMA vocabulary of %d tokens)%n",
                    spec.parameterCount(), spec.nEmbd(), spec.nLayer(), spec.nFf(), nVocab);
            ModelBuilder.write(spec, vocab, f32, GgmlType.F32, 42, (d, t) -> { });
        }
        Path corpus = dir.resolve("stories.txt");
        writeStories(corpus, DemoCorpus.baseStories(1500, 1));
        int ctx = 64;
        TrainingData td;
        try (Model m = Model.load(f32, ModelParams.defaults().withVocabOnly(true))) {
            td = TrainingData.load(corpus, DataOptions.defaults().withFormat(DataFormat.TEXT).withContextLength(ctx).withValidationFraction(0.05), m.vocabulary());
        }
        out.printf(Locale.ROOT, "2. pre-training it (all weights, ggml-opt AdamW) on %d stories it wrote itself: %d samples of %d tokens%n",
                td.stats().documentsRead(), td.train().size(), ctx);
        TrainConfig cfg = TrainConfig.builder().contextLength(ctx).learningRate(3e-3f).epochs(100).maxSteps(pretrainSteps)
                .schedule(TrainConfig.Schedule.COSINE).warmupSteps(10).threads(threads).build();
        long t0 = System.nanoTime();
        try (FullFineTuner ft = new FullFineTuner(f32, cfg); Progress bar = new Progress("pre-train", " steps", 1)) {
            double before = ft.evaluate(td.validation());
            ft.train(td.train(), (loss, step) -> bar.progress(step, pretrainSteps));
            double after = ft.evaluate(td.validation());
            bar.close();
            out.printf(Locale.ROOT, "   validation loss %.3f -> %.3f in %.0f s%n", before, after, (System.nanoTime() - t0) / 1e9);
            ft.save(pretrained);
        }
        out.println("3. quantising it to Q8_0 (llama_model_quantize)");
        Model.quantize(pretrained, q8, FileType.MOSTLY_Q8_0, threads);
        out.printf(Locale.ROOT, "   %s: %,d bytes%n", q8.getFileName(), Files.size(q8));
        return q8;
    }

    private void loraAndMerge(Path dir, Path q8, Path taskData, String p) {
        int threads = common.threads;
        int ctx = 64;
        TrainingData td;
        try (Model m = Model.load(q8, ModelParams.defaults().withVocabOnly(true))) {
            DataOptions o = DataOptions.defaults().withContextLength(ctx).withValidationFraction(0.1).withMaxDocuments(5000);
            if (field != null) {
                o = o.withFormat(DataFormat.JSONL_TEXT).withField(field);
            } else if (base == null) {
                o = o.withFormat(DataFormat.TEXT);
            }
            td = TrainingData.load(taskData, o, m.vocabulary());
        }
        Path adapter = dir.resolve("adapter.gguf");
        out.printf(Locale.ROOT, "4. training a LoRA adapter (r=8, all-linear + lm_head) on the frozen Q8_0 base, on a shifted task: %d samples%n", td.train().size());
        TrainConfig cfg = TrainConfig.builder().contextLength(ctx).learningRate(5e-3f).epochs(100).maxSteps(loraSteps).threads(threads)
                .evalSteps(Math.max(1, loraSteps / 4)).build();
        TrainResult r;
        try (LoraTrainer t = LoraTrainer.create(q8, LoraConfig.defaults().withTargetModules(List.of("all-linear", "lm_head")), cfg);
             Progress bar = new Progress("lora", " steps", 1)) {
            r = t.train(td, new TrainListener() {
                @Override
                public void onStep(TrainListener.Progress pr) {
                    bar.progress(pr.step(), pr.totalSteps());
                }
            });
            t.saveAdapter(adapter, GgmlType.F32);
        }
        out.printf(Locale.ROOT, "   validation loss %.3f -> %.3f (%.0f%% lower); %,d trainable parameters (%.2f%% of the model); %.0f tokens/s%n",
                r.initialValidationLoss(), r.finalValidationLoss(), 100 * (1 - r.finalValidationLoss() / r.initialValidationLoss()),
                r.trainableParameters(), r.trainablePercent(), r.tokensPerSecond());

        Path merged = dir.resolve("merged-q8_0.gguf");
        out.println("5. merging the adapter into the base, re-quantised to Q8_0 in the same pass");
        MergeReport mr = LoraMerger.merge(q8, MergeOptions.of(adapter).withType(OutputType.KEEP).withThreads(threads), merged);
        out.printf(Locale.ROOT, "   %d tensors merged in %.1f s; relative error of the re-quantised weights %.3g (the adapter changed them by %.3g)%n",
                mr.tensorsMerged(), mr.seconds(), mr.relativeError(), mr.relativeDelta());

        out.println("6. samples (greedy):");
        SamplerParams greedy = SamplerParams.greedy();
        String baseText;
        String unmerged;
        String mergedText;
        double tBase;
        double tUnmerged;
        double tMerged;
        ContextParams cp = ContextParams.defaults().withContextSize(256).withThreads(threads);
        try (Model m = Model.load(q8); LoraAdapter a = LoraAdapter.load(m, adapter); Context c = m.newContext(cp)) {
            Generation g = c.generate(p, 40, greedy, null);
            baseText = g.text();
            tBase = speed(c, p, greedy);
            c.setAdapter(a, 1f);
            Generation ga = c.generate(p, 40, greedy, null);
            unmerged = ga.text();
            tUnmerged = speed(c, p, greedy);
        }
        try (Model m = Model.load(merged); Context c = m.newContext(cp)) {
            mergedText = c.generate(p, 40, greedy, null).text();
            tMerged = speed(c, p, greedy);
        }
        out.println("   base:            " + p + oneLine(baseText));
        out.println("   base + adapter:  " + p + oneLine(unmerged));
        out.println("   merged:          " + p + oneLine(mergedText));
        out.println("   merged and unmerged give " + (mergedText.equals(unmerged) ? "the same text" : "different text (re-quantisation moved a greedy choice)"));
        out.printf(Locale.ROOT, "7. decode speed: base %.0f tok/s, base + unmerged adapter %.0f tok/s, merged %.0f tok/s%n", tBase, tUnmerged, tMerged);
    }

    private static double speed(Context c, String p, SamplerParams s) {
        double best = 0;
        for (int i = 0; i < 3; i++) {
            best = Math.max(best, c.generate(p, 64, s, null).tokensPerSecond());
        }
        return best;
    }

    private static String oneLine(String s) {
        return s.replace("\n", " ");
    }

    private static void writeStories(Path file, List<String> stories) throws IOException {
        Files.writeString(file, String.join("\n<|endoftext|>\n", stories) + "\n", StandardCharsets.UTF_8);
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
