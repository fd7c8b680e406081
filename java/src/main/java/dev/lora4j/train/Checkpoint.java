package dev.lora4j.train;

import dev.lora4j.Lora4jException;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.internal.TrainingHandle;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * A training checkpoint: a GGUF file ({@code general.type = lora4j-checkpoint}) holding the position in training, the
 * LoRA and training settings that decide the loss curve, A and the true B of every target, and AdamW's moments
 * ({@code <param>.adam_m}, {@code .adam_v}) with the optimizer's step counter, so that a resume continues the same
 * loss curve. In a directory as {@code checkpoint-<step>.gguf}, the newest few kept.
 */
record Checkpoint(Path path, LoraConfig lora, long steps, int epoch, int sampleInEpoch, long tokens, int contextLength,
                  int samplesPerStep, String optimizer, float loraPlusRatio, long seed, String baseFile, long baseSize) {
    private static final String CKPT_TYPE = "lora4j-checkpoint";
    private static final String NAME = "checkpoint-\\d+\\.gguf";
    private static final System.Logger LOG = System.getLogger("dev.lora4j.train");

    static Checkpoint read(Path path) {
        try (GgufFile f = GgufFile.open(path)) {
            if (!CKPT_TYPE.equals(f.getString("general.type", ""))) {
                throw new Lora4jException(path + " is not a lora4j checkpoint (general.type is '" + f.getString("general.type", "") + "')");
            }
            LoraConfig lc = LoraConfig.defaults().withR(f.requireInt("lora4j.lora.r")).withAlpha(f.requireFloat("lora4j.lora.alpha"))
                    .withTargetModules(f.get("lora4j.lora.target_modules").orElseThrow().asStringList())
                    .withRsLora(f.getBoolean("lora4j.lora.use_rslora", false))
                    .withInit(LoraConfig.Init.valueOf(f.requireString("lora4j.lora.init"))).withSeed(f.requireLong("lora4j.lora.seed"));
            Checkpoint c = new Checkpoint(path, lc, f.requireLong("lora4j.steps"), f.requireInt("lora4j.epoch"),
                    Math.toIntExact(f.requireLong("lora4j.sample_in_epoch")), f.requireLong("lora4j.tokens"),
                    f.requireInt("lora4j.train.context_length"), f.requireInt("lora4j.train.samples_per_step"),
                    f.requireString("lora4j.train.optimizer"), f.requireFloat("lora4j.train.lora_plus_ratio"),
                    f.requireLong("lora4j.train.seed"), f.requireString("lora4j.base.file"), f.requireLong("lora4j.base.size"));
            if (c.steps < 0 || c.epoch < 0 || c.sampleInEpoch < 0 || c.tokens < 0) {
                throw new Lora4jException("the checkpoint " + path + " is damaged: a negative position (step " + c.steps
                        + ", epoch " + c.epoch + ", sample " + c.sampleInEpoch + ", tokens " + c.tokens + ")");
            }
            for (GgufTensorInfo t : f.tensors()) {
                if (t.type() != GgmlType.F32 && !t.name().endsWith(".lora_a") && !t.name().endsWith(".lora_b")
                        || !GgmlQuant.canDequantize(t.type())) {
                    throw new Lora4jException("the checkpoint " + path + " is damaged: " + t.name() + " is " + t.type());
                }
            }
            return c;
        } catch (Lora4jException e) {
            throw e;
        } catch (RuntimeException e) {
            // a key missing or of the wrong type, a value out of range: the file is not a checkpoint lora4j wrote
            throw new Lora4jException("the checkpoint " + path + " is damaged: " + e.getMessage(), e);
        }
    }

    void checkCompatible(Path base, TrainConfig c) {
        List<String> diffs = new ArrayList<>();
        if (c.contextLength() != contextLength) diffs.add("contextLength " + c.contextLength() + " vs " + contextLength);
        if (c.samplesPerStep() != samplesPerStep) diffs.add("batchSize × gradientAccumulation " + c.samplesPerStep() + " vs " + samplesPerStep);
        if (!c.optimizer().name().equals(optimizer)) diffs.add("optimizer " + c.optimizer() + " vs " + optimizer);
        if (c.loraPlusRatio() != loraPlusRatio) diffs.add("loraPlusRatio " + c.loraPlusRatio() + " vs " + loraPlusRatio);
        if (c.seed() != seed) diffs.add("seed " + c.seed() + " vs " + seed);
        if (!diffs.isEmpty()) {
            throw new IllegalArgumentException("the training configuration differs from the checkpoint " + path.getFileName() + ": "
                    + String.join(", ", diffs));
        }
        if (!base.getFileName().toString().equals(baseFile) || fileSize(base) != baseSize) {
            throw new IllegalArgumentException("the checkpoint " + path.getFileName() + " was made on base " + baseFile + " ("
                    + baseSize + " bytes), not " + base.getFileName());
        }
    }

    /** Puts the checkpoint's AdamW moments and step counter into the optimizer of the session's context. */
    void restoreOptimizer(TrainingHandle training) {
        try (GgufFile f = GgufFile.open(path)) {
            List<GgufTensorInfo> ms = f.tensors().stream().filter(t -> t.name().endsWith(".adam_m")).toList();
            int n = ms.size();
            List<String> params = new ArrayList<>(n);
            List<float[]> m = new ArrayList<>(n);
            List<float[]> v = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                String param = ms.get(i).name().substring(0, ms.get(i).name().length() - ".adam_m".length());
                long count = ms.get(i).elementCount();
                long vCount = f.tensor(param + ".adam_v").map(GgufTensorInfo::elementCount).orElse(-1L);
                if (vCount != count) {
                    // the shim copies `count` floats of each: a shorter v would be read out of bounds
                    throw new Lora4jException("the checkpoint " + path.getFileName() + " is damaged: " + param
                            + ".adam_m has " + count + " values, " + param + ".adam_v "
                            + (vCount < 0 ? "is missing" : "has " + vCount));
                }
                params.add(param);
                m.add(f.tensorFloats(param + ".adam_m"));
                v.add(f.tensorFloats(param + ".adam_v"));
            }
            training.restore(steps, params, m, v);
        }
    }

    /** The newest checkpoint in a directory, if any. */
    static Optional<Path> latest(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches(NAME)).max(Comparator.comparingLong(Checkpoint::stepOf));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long stepOf(Path p) {
        String n = p.getFileName().toString();
        return Long.parseLong(n.substring("checkpoint-".length(), n.length() - ".gguf".length()));
    }

    /** The file of the checkpoint after step {@code steps} in {@code dir} (created if needed). */
    static Path fileFor(Path dir, long steps) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the checkpoint directory " + dir, e);
        }
        return dir.resolve(String.format("checkpoint-%08d.gguf", steps));
    }

    /** Deletes all but the newest {@code keep} checkpoints in {@code dir} (a failure is logged). */
    static void keepNewest(Path dir, int keep) {
        try (Stream<Path> s = Files.list(dir)) {
            List<Path> all = s.filter(p -> p.getFileName().toString().matches(NAME))
                    .sorted(Comparator.comparingLong(Checkpoint::stepOf)).toList();
            for (int i = 0; i < all.size() - keep; i++) {
                Files.deleteIfExists(all.get(i));
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "could not delete old checkpoints: " + e);
        }
    }

    /**
     * Writes a checkpoint of the trainer's state: the position (the step, tokens and, for resuming, {@code ep} and
     * {@code pos}, the sample in that epoch), the configurations, A and true B, and the optimizer's moments.
     */
    static void write(Path file, Path basePath, LoraConfig lora, TrainConfig config, AdapterTensors tensors,
                      TrainingSession session, long stepsDone, int ep, int pos, long tokensDone) {
        GgufWriter w = new GgufWriter();
        w.putString("general.type", CKPT_TYPE);
        w.putUint32("lora4j.checkpoint.version", 1);
        w.putString("lora4j.base.file", basePath.getFileName().toString());
        w.putUint64("lora4j.base.size", fileSize(basePath));
        w.putUint64("lora4j.steps", stepsDone);
        w.putUint32("lora4j.epoch", ep);
        w.putUint64("lora4j.sample_in_epoch", pos);
        w.putUint64("lora4j.tokens", tokensDone);
        w.putUint32("lora4j.lora.r", lora.r());
        w.putFloat32("lora4j.lora.alpha", lora.alpha());
        w.put("lora4j.lora.target_modules", GgufValue.ofStringArray(lora.targetModules()));
        w.putBool("lora4j.lora.use_rslora", lora.useRsLora());
        w.putString("lora4j.lora.init", lora.init().name());
        w.putUint64("lora4j.lora.seed", lora.seed());
        w.putUint32("lora4j.train.context_length", config.contextLength());
        w.putUint32("lora4j.train.samples_per_step", config.samplesPerStep());
        w.putString("lora4j.train.optimizer", config.optimizer().name());
        w.putFloat32("lora4j.train.lora_plus_ratio", config.loraPlusRatio());
        w.putUint64("lora4j.train.seed", config.seed());
        Map<String, float[]> a = tensors.a();
        Map<String, float[]> b = tensors.trueB();
        for (AdapterTensors.Pair p : tensors.pairs()) {
            LoraAdapterWriter.Weights x = p.weights(a.get(p.target()), b.get(p.target()));
            w.addTensor(p.target() + ".lora_a", GgmlType.F32, x.shapeA(), GgmlQuant.quantize(GgmlType.F32, x.a()));
            w.addTensor(p.target() + ".lora_b", GgmlType.F32, x.shapeB(), GgmlQuant.quantize(GgmlType.F32, x.b()));
        }
        for (TrainingHandle.Moments mv : session.training().moments()) {
            long[] shape = mv.m().shape();
            w.addTensor(mv.parameter() + ".adam_m", GgmlType.F32, shape, GgmlQuant.quantize(GgmlType.F32, mv.m().read()));
            w.addTensor(mv.parameter() + ".adam_v", GgmlType.F32, shape, GgmlQuant.quantize(GgmlType.F32, mv.v().read()));
        }
        w.write(file);
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
