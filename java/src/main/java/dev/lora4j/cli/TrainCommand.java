package dev.lora4j.cli;

import dev.lora4j.LoraTargets;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.train.DataFormat;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.LossLog;
import dev.lora4j.train.LossPlot;
import dev.lora4j.train.LoraConfig;
import dev.lora4j.train.LoraTrainer;
import dev.lora4j.train.TrainConfig;
import dev.lora4j.train.TrainListener;
import dev.lora4j.train.TrainResult;
import dev.lora4j.train.TrainingData;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

/** {@code lora4j train}: LoRA fine-tuning of a (quantised) GGUF base with ggml-opt, PEFT's option names. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false, defaultValueProvider = TrainCommand.ApiDefaults.class,
        description = {"Train a LoRA adapter on a frozen GGUF base (Q8_0, Q4_0, Q4_K, F16, F32) with ggml-opt.",
                "Writes the adapter (GGUF, loadable by llama.cpp), and in --output-dir the loss CSV, a PNG plot and checkpoints.",
                "Ctrl-C writes a checkpoint first; --resume continues from the newest one."})
final class TrainCommand implements Callable<Integer> {
    // the options' defaults are the API's: each option's field starts with the value of the configuration it sets
    // (help shows it as ${DEFAULT-VALUE}); a defaultValue is only for what the API leaves to the caller
    private static final TrainConfig TRAIN = TrainConfig.defaults();
    private static final LoraConfig LORA = LoraConfig.defaults();
    private static final DataOptions DATA = DataOptions.defaults();

    /**
     * Shows a list default as the command line takes it ({@code q,v}; none for an empty one, which would otherwise
     * become the list [""]) and a whole float without ".0".
     */
    static final class ApiDefaults implements IDefaultValueProvider {
        @Override
        public String defaultValue(ArgSpec arg) {
            return switch (arg.initialValue()) {
                case List<?> list when !list.isEmpty() -> String.join(",", list.stream().map(String::valueOf).toList());
                case Float f -> number(f);
                case null, default -> null;
            };
        }
    }

    @Spec
    CommandSpec spec;

    @Mixin
    CommonOptions common;

    @Mixin
    GpuOptions gpu;

    @Option(names = "--base", required = true, description = "Base model (GGUF).")
    Path base;

    @Option(names = "--data", required = true, description = "Training data: .txt, or JSONL (text field, prompt/completion, or chat messages).")
    Path data;

    @Option(names = "--format", description = "auto, text, jsonl_text, prompt_completion or chat (default: ${DEFAULT-VALUE}).")
    String format = lower(DATA.format());

    @Option(names = "--field", description = "JSONL field holding the text (e.g. quote).")
    String field;

    @Option(names = "--template", description = "Format each JSONL object, e.g. \"{quote} — {author}\".")
    String template;

    @Option(names = "--chat-template", description = "Chat template for chat data (default: the model's).")
    String chatTemplate;

    @Option(names = "--validation-data", description = "Validation file (else --validation-split of the data).")
    Path validationData;

    @Option(names = "--validation-split", defaultValue = "0.1", description = "Share of documents held out (default: ${DEFAULT-VALUE}).")
    double validationSplit;

    @Option(names = "--target-modules", split = ",", description = "q,k,v,o,gate,up,down (Phi-3: qkv, gate_up), all-linear, lm_head; the experts of a mixture of experts:"
            + " gate_exps,up_exps,down_exps or experts (default: ${DEFAULT-VALUE}).")
    List<String> targetModules = new ArrayList<>(LORA.targetModules());

    @Option(names = {"-r", "--r"}, description = "LoRA rank (default: ${DEFAULT-VALUE}).")
    int r = LORA.r();

    @Option(names = "--lora-alpha", description = "LoRA alpha (default: ${DEFAULT-VALUE}).")
    float alpha = LORA.alpha();

    @Option(names = "--use-rslora", description = "Scale by alpha/sqrt(r) instead of alpha/r.")
    boolean rsLora = LORA.useRsLora();

    @Option(names = "--init-lora-weights", description = "kaiming or gaussian (default: ${DEFAULT-VALUE}).")
    String init = lower(LORA.init());

    @Option(names = {"--learning-rate", "--lr"}, description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float learningRate = TRAIN.learningRate();

    @Option(names = "--lr-scheduler-type", description = "constant, cosine or linear (default: ${DEFAULT-VALUE}).")
    String schedule = lower(TRAIN.schedule());

    @Option(names = "--warmup-steps") int warmupSteps = TRAIN.warmupSteps();

    @Option(names = {"--epochs", "--num-train-epochs"}) int epochs = TRAIN.epochs();

    @Option(names = "--max-steps", description = "Stop after this many optimizer steps (0 = no limit).")
    int maxSteps = TRAIN.maxSteps();

    @Option(names = {"--max-seq-length", "--ctx"}, description = "Tokens per sample (default: ${DEFAULT-VALUE}).")
    int contextLength = TRAIN.contextLength();

    @Option(names = "--no-packing", description = "One document per sample (padded), instead of packing documents together.")
    boolean noPacking = !DATA.packing();

    @Option(names = {"--per-device-train-batch-size", "--batch-size"}) int batchSize = TRAIN.batchSize();

    @Option(names = "--gradient-accumulation-steps") int gradientAccumulation = TRAIN.gradientAccumulation();

    @Option(names = "--optim", description = "adamw or sgd (ggml-opt's; default: ${DEFAULT-VALUE}).")
    String optimizer = lower(TRAIN.optimizer());

    @Option(names = "--weight-decay") float weightDecay = TRAIN.weightDecay();

    @Option(names = "--max-grad-norm", description = "Clip the gradients to this global norm before each step (0 = off; PEFT/TRL's Trainer uses 1).")
    float maxGradNorm = TRAIN.maxGradNorm();

    @Option(names = "--base-copies", description = "Copies of the frozen base weights for speed: none (exact), backward (BF16 transposes for the backward pass) or all (also copies for the forward: BF16 where the CPU has AVX512-BF16, else Q8_0 of K-quant weights and BF16 of F32 ones; default: ${DEFAULT-VALUE}).")
    String baseCopies = lower(TRAIN.baseCopies());

    @Option(names = "--loraplus-lr-ratio", description = "LoRA+: learning rate of B / of A (default: ${DEFAULT-VALUE} = off).")
    float loraPlusRatio = TRAIN.loraPlusRatio();

    @Option(names = "--eval-steps", description = "Evaluate every N steps (0 = each epoch).")
    int evalSteps = TRAIN.evalSteps();

    @Option(names = "--early-stopping-patience", description = "Evaluations without improvement before stopping (0 = off).")
    int patience = TRAIN.earlyStoppingPatience();

    @Option(names = "--save-steps", description = "Checkpoint every N steps (0 = only at the end or on Ctrl-C).")
    int saveSteps = TRAIN.checkpointSteps();

    @Option(names = "--output-dir", description = "Checkpoints, loss.csv and loss.png (default: <out>.train/).")
    Path outputDir;

    @Option(names = "--resume", description = {"Continue from the newest checkpoint in --output-dir, with its LoRA settings:",
            "--r, --lora-alpha, --target-modules, --use-rslora, --init-lora-weights may be left out; given, they must match it."})
    boolean resume;

    @Option(names = {"-o", "--out"}, required = true, description = "The trained adapter (GGUF).")
    Path out;

    @Option(names = "--out-type", defaultValue = "f32", description = "f32, f16 or bf16 (default: ${DEFAULT-VALUE}).")
    String outType;

    @Option(names = "--seed") long seed = TRAIN.seed();

    @Override
    public Integer call() throws IOException, InterruptedException {
        common.apply();
        gpu.checkForTraining(System.err); // before anything is written
        PrintStream stdout = CommonOptions.stdout();
        Path dir = outputDir != null ? outputDir : out.resolveSibling(out.getFileName() + ".train");
        TrainConfig cfg = TRAIN.toBuilder().learningRate(learningRate).warmupSteps(warmupSteps)
                .schedule(choice(TrainConfig.Schedule.class, "--lr-scheduler-type", schedule)).epochs(epochs).maxSteps(maxSteps)
                .contextLength(contextLength).batchSize(batchSize).gradientAccumulation(gradientAccumulation)
                .optimizer(choice(TrainConfig.Optimizer.class, "--optim", optimizer)).weightDecay(weightDecay)
                .maxGradNorm(maxGradNorm).baseCopies(choice(TrainConfig.BaseCopies.class, "--base-copies", baseCopies))
                .loraPlusRatio(loraPlusRatio).evalSteps(evalSteps).earlyStoppingPatience(patience).checkpointSteps(saveSteps)
                .checkpointDir(dir).threads(common.threads).seed(seed).gpuLayers(gpu.gpuLayers).device(gpu.device).build();
        LoraConfig.Init loraInit = choice(LoraConfig.Init.class, "--init-lora-weights", init);
        LoraConfig lora = LORA.withR(r).withAlpha(alpha).withTargetModules(targetModules).withRsLora(rsLora).withInit(loraInit).withSeed(seed);
        GgmlType type = switch (outType.toLowerCase(Locale.ROOT)) {
            case "f32" -> GgmlType.F32;
            case "f16" -> GgmlType.F16;
            case "bf16" -> GgmlType.BF16;
            default -> throw new IllegalArgumentException("--out-type must be f32, f16 or bf16, got " + outType);
        };
        Files.createDirectories(dir);
        Path ckpt = null;
        if (resume) {
            ckpt = LoraTrainer.latestCheckpoint(dir).orElseThrow(() -> new IllegalArgumentException(
                    "--resume: no checkpoint-*.gguf in " + dir));
            checkResumeOptions(ckpt, LoraTrainer.checkpointLoraConfig(ckpt));
        }

        TrainingData td;
        try (Model vocab = Model.load(base, ModelParams.defaults().withVocabOnly(true))) {
            DataOptions o = DATA.withFormat(choice(DataFormat.class, "--format", format)).withField(field)
                    .withTemplate(template).withChatTemplate(chatTemplate).withContextLength(contextLength).withPacking(!noPacking)
                    .withValidationFraction(validationData != null ? 0 : validationSplit).withValidationFile(validationData).withSeed(seed);
            td = TrainingData.load(data, o, vocab);
        }
        System.err.println("data: " + td.stats().summary());
        td.stats().notes().forEach(n -> System.err.println("data: " + n));

        LoraTrainer trainer;
        Path csv = dir.resolve("loss.csv");
        LossLog log;
        if (ckpt != null) {
            System.err.println("resuming from " + ckpt);
            trainer = LoraTrainer.resume(ckpt, base, cfg);
            log = Files.exists(csv) ? LossLog.resume(csv, trainer.stepsDone()) : LossLog.create(csv);
        } else {
            trainer = LoraTrainer.create(base, lora, cfg);
            log = LossLog.create(csv);
        }
        CountDownLatch finished = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            System.err.println("\ninterrupted: finishing the current step and writing a checkpoint ...");
            trainer.requestStop();
            try {
                finished.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "lora4j-train-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            return run(trainer, log, td, type, dir, csv, stdout);
        } finally {
            // after the summary: a Ctrl-C hook waits for this, and the JVM exits when the hook returns
            finished.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running
            }
        }
    }

    /**
     * A LoRA option given with --resume must agree with the checkpoint (which decides the adapter's shape and scale);
     * one left out takes the checkpoint's value.
     */
    private void checkResumeOptions(Path ckpt, LoraConfig c) {
        ParseResult given = spec.commandLine().getParseResult();
        List<String> diffs = new ArrayList<>();
        if (given.hasMatchedOption("--r") && r != c.r()) {
            diffs.add("--r " + r + " (the checkpoint has " + c.r() + ")");
        }
        if (given.hasMatchedOption("--lora-alpha") && alpha != c.alpha()) {
            diffs.add("--lora-alpha " + number(alpha) + " (the checkpoint has " + number(c.alpha()) + ")");
        }
        if (given.hasMatchedOption("--target-modules")
                && !new HashSet<>(LoraTargets.modules(targetModules)).equals(new HashSet<>(LoraTargets.modules(c.targetModules())))) {
            diffs.add("--target-modules " + String.join(",", targetModules) + " (the checkpoint has " + String.join(",", c.targetModules()) + ")");
        }
        if (given.hasMatchedOption("--use-rslora") && rsLora != c.useRsLora()) {
            diffs.add("--use-rslora (the checkpoint was trained " + (c.useRsLora() ? "with" : "without") + " rsLoRA)");
        }
        if (given.hasMatchedOption("--init-lora-weights") && choice(LoraConfig.Init.class, "--init-lora-weights", init) != c.init()) {
            diffs.add("--init-lora-weights " + init + " (the checkpoint has " + c.init().name().toLowerCase(Locale.ROOT) + ")");
        }
        if (!diffs.isEmpty()) {
            throw new IllegalArgumentException("--resume: the checkpoint " + ckpt.getFileName() + " was trained with other LoRA settings: "
                    + String.join(", ", diffs) + "; leave these options out to continue with the checkpoint's");
        }
    }

    /** The constant of {@code type} an option's value names (in any case), or an error listing the choices. */
    private static <E extends Enum<E>> E choice(Class<E> type, String option, String value) {
        for (E e : type.getEnumConstants()) {
            if (e.name().equalsIgnoreCase(value)) {
                return e;
            }
        }
        throw new IllegalArgumentException(option + " must be one of " + java.util.Arrays.stream(type.getEnumConstants())
                .map(TrainCommand::lower).collect(java.util.stream.Collectors.joining(", ")) + ", got " + value);
    }

    private static String lower(Enum<?> e) {
        return e.name().toLowerCase(Locale.ROOT);
    }

    private static String number(float v) {
        return v == Math.rint(v) && Math.abs(v) < 1e9 ? String.valueOf((long) v) : String.valueOf(v);
    }

    private static String barMessage(TrainListener.Progress p) {
        return String.format(Locale.ROOT, "loss %.4f lr %.2e %.0f tok/s", p.trainLoss(), p.learningRate(), p.tokensPerSecond());
    }

    private int run(LoraTrainer trainer, LossLog log, TrainingData td, GgmlType type, Path dir, Path csv,
                    PrintStream stdout) throws IOException {
        TrainResult result;
        LoraConfig lora = trainer.loraConfig(); // with --resume: the checkpoint's
        Path png = dir.resolve("loss.png");
        try (trainer; log; ProgressBar bar = new ProgressBarBuilder().setTaskName("train").setStyle(ProgressBarStyle.ASCII)
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).setInitialMax(trainer.plannedSteps(td.train().size()))
                .setUpdateIntervalMillis(500).startsFrom(trainer.stepsDone(), java.time.Duration.ZERO).build()) {
            System.err.printf(Locale.ROOT, "training %,d LoRA parameters (r=%d, %s) on %s: %d samples of %d tokens, %d for validation%n",
                    trainer.trainableParameters(), lora.r(), lora.targetModules(), base.getFileName(), td.train().size(), contextLength,
                    td.validation().size());
            // the bar's message at most every 100 ms (it redraws every 500), and the last step's at the end: formatting
            // it took ~36 us, in every step of a tiny model's ~5 ms
            TrainListener.Progress[] last = {null};
            long[] shownAt = {System.nanoTime() - 1_000_000_000L};
            result = trainer.train(td, new TrainListener() {
                @Override
                public void onStep(Progress p) {
                    bar.stepTo(p.step());
                    last[0] = p;
                    if (System.nanoTime() - shownAt[0] >= 100_000_000L) {
                        shownAt[0] = System.nanoTime();
                        bar.setExtraMessage(barMessage(p));
                    }
                    log.append(new LossLog.Row(p.step(), p.epoch(), p.tokens(), p.trainLoss(), null, p.learningRate(), p.tokensPerSecond(), p.elapsedSeconds()));
                }

                @Override
                public void onEvaluation(Progress p, double validationLoss) {
                    log.append(new LossLog.Row(p.step(), p.epoch(), p.tokens(), p.trainLoss(), validationLoss, p.learningRate(), p.tokensPerSecond(), p.elapsedSeconds()));
                    LossPlot.write(log.rows(), png, "LoRA training: " + base.getFileName());
                }
            });
            if (last[0] != null) {
                bar.setExtraMessage(barMessage(last[0]));
            }
            trainer.saveAdapter(out, type);
        }
        // after the trainer is closed: the plot's memory (AWT) then reuses the model's and is not added to the peak
        LossPlot.write(log.rows(), png, "LoRA training: " + base.getFileName());
        stdout.printf(Locale.ROOT, "%nadapter: %s (%,d bytes, %s)%n", out, Files.size(out), type);
        stdout.printf(Locale.ROOT, "trainable parameters: %,d (%.3f%% of %,d)%n", result.trainableParameters(), result.trainablePercent(), result.modelParameters());
        stdout.printf(Locale.ROOT, "steps: %d (%.2f epochs), stopped: %s%n", result.steps(), result.epochs(), result.stopReason());
        stdout.printf(Locale.ROOT, "train loss: %.4f -> %.4f%n", result.firstTrainLoss(), result.lastTrainLoss());
        if (!Double.isNaN(result.initialValidationLoss())) {
            stdout.printf(Locale.ROOT, "validation loss: %.4f -> %.4f (best %.4f, %.1f%% lower)%n", result.initialValidationLoss(),
                    result.finalValidationLoss(), result.bestValidationLoss(),
                    100 * (1 - result.finalValidationLoss() / result.initialValidationLoss()));
        }
        stdout.printf(Locale.ROOT, "time: %.1f s, %.0f tokens/s, peak RSS %.1f MiB%n", result.seconds(), result.tokensPerSecond(),
                result.peakRssBytes() / 1048576.0);
        stdout.printf(Locale.ROOT, "loss log: %s, plot: %s%n", csv, png);
        return result.stopReason() == TrainResult.StopReason.STOP_REQUESTED ? 130 : 0;
    }
}
