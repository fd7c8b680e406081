package dev.lora4j.train;

import static dev.lora4j.bindings.ggml_backend_h.ggml_backend_tensor_get;
import static dev.lora4j.bindings.ggml_backend_h.ggml_backend_tensor_set;
import static dev.lora4j.bindings.ggml_h.ggml_nelements;

import dev.lora4j.Lora4jException;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.LoraTargets;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.bindings.ggml_tensor;
import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.internal.Gaussian;
import dev.lora4j.internal.Internals;
import dev.lora4j.internal.Llama;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Trains a LoRA adapter on a frozen base model — in whatever form the base is stored (Q8_0, Q4_0, Q4_K, F16,
 * F32) — with ggml's own optimiser (ggml-opt AdamW or SGD), through llama.cpp's own graph.
 *
 * <pre>{@code
 * try (LoraTrainer t = LoraTrainer.create(base, LoraConfig.defaults().withTargetModules(List.of("all-linear")), cfg)) {
 *     TrainResult r = t.train(data, listener);
 *     t.saveAdapter(Path.of("adapter.gguf"), GgmlType.F32);
 * }
 * }</pre>
 *
 * <p>Only the A and B tensors are trained; B starts at zero, so step 0 is the base model exactly. LoRA+ is done
 * by reparametrisation: the trained tensor is B/ratio and the adapter's scale is multiplied by ratio, so AdamW moves
 * B ratio times faster than A; {@link #saveAdapter} writes the true B. rsLoRA writes alpha·√r into the file
 * (llama.cpp applies alpha/r). Checkpoints ({@link #saveCheckpoint}) hold the adapter, the AdamW moments, the step
 * and the data position; {@link #resume} continues from one with the same loss curve. One thread at a time.
 */
public final class LoraTrainer implements AutoCloseable {
    private static final String CKPT_TYPE = "lora4j-checkpoint";
    private static final System.Logger LOG = System.getLogger("dev.lora4j.train");

    private final Path basePath;
    private final LoraConfig lora;
    private final TrainConfig config;
    private final Model model;
    private final LoraAdapter adapter;
    private final TrainingSession session;
    private final List<Pair> pairs = new ArrayList<>();
    private final long trainableParameters;
    private volatile boolean stopRequested;
    private boolean closed;

    // where training stands (restored by resume)
    private long stepsDone;
    private int epoch;
    private int sampleInEpoch;
    private long tokensDone;

    private record Pair(String target, MemorySegment a, MemorySegment b, int nIn, int r, int nOut) {}

    private LoraTrainer(Path basePath, LoraConfig lora, TrainConfig config, Path initialAdapter, Checkpoint resumeFrom) {
        this.basePath = basePath;
        this.lora = lora;
        this.config = config;
        Llama.init();
        // repacked (extra buffer type) weights abort ggml_opt_alloc: train on plain buffers
        ModelParams mp = ModelParams.defaults().withExtraBufts(false).withGpuLayers(config.gpuLayers());
        Model m = Model.load(basePath, config.device() >= 0 ? mp.withDevice(config.device()) : mp);
        Path tmpAdapter = null;
        try {
            // in the temporary directory, never beside the base (its directory may be read-only or shared)
            tmpAdapter = Files.createTempFile("lora4j-init-", ".gguf");
            writeInitialAdapter(m, tmpAdapter, initialAdapter, resumeFrom);
            this.model = m;
            this.adapter = LoraAdapter.load(m, tmpAdapter);
            int n = config.contextLength();
            this.session = new TrainingSession(m, config);
            // LoRA+: the trained tensor is B/ratio, applied with scale ratio
            session.context().setAdapter(adapter, config.loraPlusRatio());
            MemorySegment ap = Internals.access().adapter(adapter);
            int nPairs = lora4j_h.lora4j_adapter_n_pairs(ap);
            long params = 0;
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment name = tmp.allocate(ValueLayout.ADDRESS);
                MemorySegment a = tmp.allocate(ValueLayout.ADDRESS);
                MemorySegment b = tmp.allocate(ValueLayout.ADDRESS);
                for (int i = 0; i < nPairs; i++) {
                    TrainingSession.check(lora4j_h.lora4j_adapter_pair(ap, i, name, a, b), "reading the adapter's tensors");
                    MemorySegment ta = a.get(ValueLayout.ADDRESS, 0).reinterpret(ggml_tensor.sizeof());
                    MemorySegment tb = b.get(ValueLayout.ADDRESS, 0).reinterpret(ggml_tensor.sizeof());
                    Pair p = new Pair(name.get(ValueLayout.ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0), ta, tb,
                            (int) ggml_tensor.ne(ta, 0), (int) ggml_tensor.ne(ta, 1), (int) ggml_tensor.ne(tb, 1));
                    pairs.add(p);
                    params += ggml_nelements(ta) + ggml_nelements(tb);
                }
            }
            this.trainableParameters = params;
            if (config.loraPlusRatio() != 1f) {
                for (Pair p : pairs) {
                    float[] b = read(p.b());
                    for (int i = 0; i < b.length; i++) {
                        b[i] /= config.loraPlusRatio();
                    }
                    write(p.b(), b);
                }
            }
            session.init((ctx, opt) -> lora4j_h.lora4j_train_init(ctx, ap, n, config.samplesPerStep(), config.optimizer().id, opt),
                    "initialising training");
            if (resumeFrom != null) {
                session.withContext(ctx -> {
                    resumeFrom.restoreOptimizer(ctx);
                    return null;
                });
            }
            if (resumeFrom != null) {
                stepsDone = resumeFrom.steps;
                epoch = resumeFrom.epoch;
                sampleInEpoch = resumeFrom.sampleInEpoch;
                tokensDone = resumeFrom.tokens;
            }
        } catch (IOException e) {
            m.close();
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            m.close();
            throw e;
        } finally {
            if (tmpAdapter != null) {
                try {
                    Files.deleteIfExists(tmpAdapter);
                } catch (IOException ignored) {
                    // a temp file
                }
            }
        }
    }

    /** A trainer for a new adapter ({@link LoraConfig#init()}: B = 0, so training starts at the base model). */
    public static LoraTrainer create(Path base, LoraConfig lora, TrainConfig config) {
        return new LoraTrainer(base, lora, config, null, null);
    }

    /** A trainer that continues from an existing adapter file (its targets and ranks must match {@code lora}'s). */
    public static LoraTrainer createFrom(Path base, Path adapter, LoraConfig lora, TrainConfig config) {
        return new LoraTrainer(base, lora, config, adapter, null);
    }

    /**
     * Continues from a checkpoint: the adapter, AdamW moments, step and data position are restored. The LoRA
     * configuration comes from the checkpoint; {@code config} must agree with it on what decides the loss curve
     * (context length, samples per step, optimizer, LoRA+ ratio, seed) and may change the rest (epochs, max steps,
     * checkpointing, ...).
     */
    public static LoraTrainer resume(Path checkpoint, Path base, TrainConfig config) {
        Checkpoint c = Checkpoint.read(checkpoint);
        c.checkCompatible(base, config);
        return new LoraTrainer(base, c.lora, config, null, c);
    }

    /** The LoRA configuration a checkpoint was trained with (what {@link #resume} continues with). */
    public static LoraConfig checkpointLoraConfig(Path checkpoint) {
        return Checkpoint.read(checkpoint).lora;
    }

    /** The newest checkpoint in a directory, if any. */
    public static java.util.Optional<Path> latestCheckpoint(Path dir) {
        if (dir == null || !Files.isDirectory(dir)) {
            return java.util.Optional.empty();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+\\.gguf")).max(Comparator.comparingLong(LoraTrainer::stepOf));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long stepOf(Path p) {
        String n = p.getFileName().toString();
        return Long.parseLong(n.substring("checkpoint-".length(), n.length() - ".gguf".length()));
    }

    public LoraConfig loraConfig() {
        return lora;
    }

    public TrainConfig trainConfig() {
        return config;
    }

    public Model model() {
        return model;
    }

    public long trainableParameters() {
        return trainableParameters;
    }

    public long stepsDone() {
        return stepsDone;
    }

    /** Asks a running {@link #train} to stop after the current optimizer step (thread-safe; e.g. from a Ctrl-C hook). */
    public void requestStop() {
        stopRequested = true;
    }

    private void writeInitialAdapter(Model m, Path out, Path initialAdapter, Checkpoint ckpt) {
        try (GgufFile base = GgufFile.open(basePath)) {
            String arch = base.architecture().orElse("llama");
            LoraAdapterWriter w = new LoraAdapterWriter(arch, lora.fileAlpha()).name("lora4j training");
            List<GgufTensorInfo> targets = LoraTargets.tensors(base, lora.targetModules());
            GgufFile init = null;
            try {
                if (initialAdapter != null) {
                    init = GgufFile.open(initialAdapter);
                } else if (ckpt != null) {
                    init = GgufFile.open(ckpt.path);
                }
                SplittableRandom root = new SplittableRandom(lora.seed());
                for (GgufTensorInfo t : targets) {
                    int nIn = Math.toIntExact(t.ne(0));
                    int nOut = Math.toIntExact(t.ne(1));
                    int r = lora.r();
                    SplittableRandom rnd = root.split();
                    float[] a;
                    float[] b;
                    if (init != null) {
                        GgufFile f = init;
                        String an = t.name() + ".lora_a";
                        String bn = t.name() + ".lora_b";
                        GgufTensorInfo ai = f.tensor(an).orElseThrow(() -> new Lora4jException(f.path() + " has no " + an
                                + " (its targets differ from the LoRA configuration " + lora.targetModules() + ")"));
                        GgufTensorInfo bi = f.tensor(bn).orElseThrow(() -> new Lora4jException(f.path() + " has no " + bn));
                        if (ai.ne(0) != nIn || ai.ne(1) != r || bi.ne(0) != r || bi.ne(1) != nOut) {
                            throw new Lora4jException(f.path() + ": " + t.name() + " has rank " + ai.ne(1) + " / shape "
                                    + java.util.Arrays.toString(ai.shape()) + ", expected r=" + r + " and n_in=" + nIn);
                        }
                        for (GgufTensorInfo ti : List.of(ai, bi)) {
                            if (!GgmlQuant.canDequantize(ti.type())) {
                                throw new Lora4jException(f.path() + ": " + ti.name() + " is " + ti.type()
                                        + ", not a type of LoRA weights (F32, F16, BF16, Q8_0, Q4_0)");
                            }
                        }
                        a = f.tensorFloats(an);
                        b = f.tensorFloats(bn);
                    } else {
                        a = initA(rnd, r, nIn);
                        b = new float[r * nOut];
                    }
                    w.add(t.name(), r, nIn, nOut, a, b);
                }
            } finally {
                if (init != null) {
                    init.close();
                }
            }
            w.write(out);
        }
    }

    private float[] initA(SplittableRandom rnd, int r, int nIn) {
        if (lora.init() == LoraConfig.Init.GAUSSIAN) {
            return Gaussian.sample(rnd, r * nIn, 1.0 / r);
        }
        float[] a = new float[r * nIn];
        double bound = 1.0 / Math.sqrt(nIn); // kaiming_uniform_(a=sqrt(5)) as PEFT does
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) ((rnd.nextDouble() * 2 - 1) * bound);
        }
        return a;
    }

    /** Optimizer steps a full run over {@code nTrain} samples takes. */
    public long plannedSteps(int nTrain) {
        long perEpoch = (nTrain + config.samplesPerStep() - 1) / config.samplesPerStep();
        long total = perEpoch * config.epochs();
        return config.maxSteps() > 0 ? Math.min(total, config.maxSteps()) : total;
    }

    /**
     * Runs training (or the rest of it, after {@link #resume}). Returns when the epochs or max steps are done, early
     * stopping triggers, or {@link #requestStop()} was called — then a checkpoint is written first (when a checkpoint
     * directory is set).
     */
    public TrainResult train(TrainingData data, TrainListener listener) {
        return train(data.train(), data.validation(), listener == null ? new TrainListener() {} : listener);
    }

    public TrainResult train(List<TrainingSample> train, List<TrainingSample> validation, TrainListener listener) {
        if (listener == null) {
            listener = new TrainListener() {};
        }
        if (closed) {
            throw new IllegalStateException("this trainer is closed");
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException("no training samples");
        }
        for (TrainingSample s : train) {
            session.checkSample(s);
        }
        for (TrainingSample s : validation) {
            session.checkSample(s);
        }
        stopRequested = false;
        long totalSteps = plannedSteps(train.size());
        int perStep = config.samplesPerStep();
        long t0 = System.nanoTime();
        long tokensAtStart = tokensDone;
        double initialVal = validation.isEmpty() ? Double.NaN : evaluate(validation);
        double bestVal = initialVal;
        double lastVal = initialVal;
        long lastValStep = stepsDone; // the step lastVal was measured at
        int evalsWithoutBetter = 0;
        double firstLoss = Double.NaN;
        double lastLoss = Double.NaN;
        TrainResult.StopReason reason = TrainResult.StopReason.COMPLETED;
        double stepLossSum = 0;
        long stepCounted = 0;
        int inStep = 0;
        float lr = config.learningRateAt(stepsDone, totalSteps);
        training:
        for (; epoch < config.epochs(); epoch++, sampleInEpoch = 0) {
            List<TrainingSample> order = new ArrayList<>(train);
            Collections.shuffle(order, new Random(config.seed() * 31 + epoch));
            for (; sampleInEpoch < order.size(); ) {
                if (config.maxSteps() > 0 && stepsDone >= config.maxSteps()) {
                    reason = TrainResult.StopReason.MAX_STEPS;
                    break training;
                }
                if (inStep == 0) {
                    lr = config.learningRateAt(stepsDone, totalSteps);
                    session.setLearningRate(lr);
                }
                TrainingSample s = order.get(sampleInEpoch);
                double[] lc = session.step(s, true);
                sampleInEpoch++;
                tokensDone += s.tokens().length;
                stepLossSum += lc[0] * lc[1];
                stepCounted += (long) lc[1];
                inStep++;
                double elapsed = (System.nanoTime() - t0) / 1e9;
                double epochF = epoch + (double) sampleInEpoch / order.size();
                listener.onSample(new TrainListener.Progress(stepsDone, totalSteps, epochF, lc[0], lr, tokensDone,
                        (tokensDone - tokensAtStart) / Math.max(elapsed, 1e-9), elapsed));
                boolean endOfEpoch = sampleInEpoch == order.size();
                if (inStep == perStep || endOfEpoch) {
                    if (inStep < perStep) {
                        // an incomplete last step of the epoch: ggml-opt steps every perStep samples, so fill it up
                        // with samples from the start of the epoch order (counted in the loss, not in the position)
                        for (int k = 0; inStep < perStep; k++, inStep++) {
                            double[] extra = session.step(order.get(k % order.size()), true);
                            tokensDone += order.get(k % order.size()).tokens().length;
                            stepLossSum += extra[0] * extra[1];
                            stepCounted += (long) extra[1];
                        }
                    }
                    stepsDone++;
                    lastLoss = stepLossSum / Math.max(1, stepCounted);
                    if (Double.isNaN(firstLoss)) {
                        firstLoss = lastLoss;
                    }
                    if (!Double.isFinite(lastLoss)) {
                        throw new Lora4jException("the training loss became " + lastLoss + " at step " + stepsDone
                                + " (learning rate " + lr + " too high?)");
                    }
                    stepLossSum = 0;
                    stepCounted = 0;
                    inStep = 0;
                    elapsed = (System.nanoTime() - t0) / 1e9;
                    TrainListener.Progress p = new TrainListener.Progress(stepsDone, totalSteps, epochF, lastLoss, lr, tokensDone,
                            (tokensDone - tokensAtStart) / Math.max(elapsed, 1e-9), elapsed);
                    listener.onStep(p);
                    boolean evalNow = !validation.isEmpty()
                            && (config.evalSteps() > 0 ? stepsDone % config.evalSteps() == 0 : endOfEpoch);
                    if (evalNow) {
                        lastVal = evaluate(validation);
                        lastValStep = stepsDone;
                        listener.onEvaluation(p, lastVal);
                        if (lastVal < bestVal - 1e-6 || Double.isNaN(bestVal)) {
                            bestVal = lastVal;
                            evalsWithoutBetter = 0;
                        } else if (config.earlyStoppingPatience() > 0 && ++evalsWithoutBetter >= config.earlyStoppingPatience()) {
                            reason = TrainResult.StopReason.EARLY_STOPPING;
                            if (endOfEpoch) {
                                epoch++;
                                sampleInEpoch = 0;
                            }
                            break training;
                        }
                    }
                    if (config.checkpointDir() != null && config.checkpointSteps() > 0 && stepsDone % config.checkpointSteps() == 0) {
                        int ep = endOfEpoch ? epoch + 1 : epoch;
                        int pos = endOfEpoch ? 0 : sampleInEpoch;
                        listener.onCheckpoint(saveCheckpointAt(ep, pos));
                    }
                    if (stopRequested) {
                        reason = TrainResult.StopReason.STOP_REQUESTED;
                        if (endOfEpoch) {
                            epoch++;
                            sampleInEpoch = 0;
                        }
                        break training;
                    }
                }
            }
        }
        if (config.checkpointDir() != null) {
            listener.onCheckpoint(saveCheckpointAt(epoch, sampleInEpoch));
        }
        // the weights have not changed since an evaluation at this step: no need to run it again
        double finalVal = validation.isEmpty() ? Double.NaN : lastValStep == stepsDone ? lastVal : evaluate(validation);
        if (!validation.isEmpty() && (finalVal < bestVal || Double.isNaN(bestVal))) {
            bestVal = finalVal;
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        double epochs = epoch + (double) sampleInEpoch / train.size();
        return new TrainResult(stepsDone, epochs, tokensDone - tokensAtStart, seconds, firstLoss, lastLoss, initialVal, bestVal,
                finalVal, trainableParameters, model.parameterCount(), peakRss(), reason);
    }

    /** Mean loss per counted token over the samples (no training). */
    public double evaluate(List<TrainingSample> samples) {
        return session.evaluate(samples);
    }

    private static float[] read(MemorySegment tensor) {
        long n = ggml_nelements(tensor);
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment buf = tmp.allocate(ValueLayout.JAVA_FLOAT, n);
            ggml_backend_tensor_get(tensor, buf, 0, n * Float.BYTES);
            return buf.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private static void write(MemorySegment tensor, float[] data) {
        if (data.length != ggml_nelements(tensor)) {
            throw new IllegalArgumentException("size mismatch");
        }
        try (Arena tmp = Arena.ofConfined()) {
            ggml_backend_tensor_set(tensor, tmp.allocateFrom(ValueLayout.JAVA_FLOAT, data), 0, (long) data.length * Float.BYTES);
        }
    }

    /** The current A (PEFT layout, r × n_in) of every target. */
    public Map<String, float[]> loraA() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Pair p : pairs) {
            out.put(p.target(), read(p.a()));
        }
        return out;
    }

    /** The current true B (PEFT layout, n_out × r) of every target (LoRA+ reparametrisation undone). */
    public Map<String, float[]> loraB() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Pair p : pairs) {
            float[] b = read(p.b());
            if (config.loraPlusRatio() != 1f) {
                for (int i = 0; i < b.length; i++) {
                    b[i] *= config.loraPlusRatio();
                }
            }
            out.put(p.target(), b);
        }
        return out;
    }

    /** Overwrites A and B of the given targets (B as true B: the LoRA+ reparametrisation is applied here). */
    public void setWeights(Map<String, float[]> a, Map<String, float[]> b) {
        for (Pair p : pairs) {
            float[] av = a.get(p.target());
            float[] bv = b.get(p.target());
            if (av != null) {
                write(p.a(), av);
            }
            if (bv != null) {
                float[] scaled = bv.clone();
                for (int i = 0; i < scaled.length; i++) {
                    scaled[i] /= config.loraPlusRatio();
                }
                write(p.b(), scaled);
            }
        }
    }

    /** Overwrites one value of A or B (for gradient checks; B as stored, i.e. divided by the LoRA+ ratio). */
    public void setParameter(String target, boolean isB, int index, float value) {
        Pair p = pairs.stream().filter(x -> x.target().equals(target)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no target " + target));
        MemorySegment t = isB ? p.b() : p.a();
        float[] v = read(t);
        v[index] = value;
        write(t, v);
    }

    /** The stored value of A or B. */
    public float getParameter(String target, boolean isB, int index) {
        Pair p = pairs.stream().filter(x -> x.target().equals(target)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("no target " + target));
        return read(isB ? p.b() : p.a())[index];
    }

    /** Loss of one sample without training (for gradient checks). */
    public double loss(TrainingSample s) {
        return session.step(s, false)[0];
    }

    /** Trains on one sample (an optimizer step when it completes a step) and returns its loss. */
    public double trainOn(TrainingSample s) {
        session.setLearningRate(config.learningRate());
        return session.step(s, true)[0];
    }

    /** Writes the trained adapter (F32, F16 or BF16), loadable by llama.cpp ({@code llama_adapter_lora_init}). */
    public void saveAdapter(Path out, GgmlType type) {
        try (GgufFile base = GgufFile.open(basePath)) {
            LoraAdapterWriter w = new LoraAdapterWriter(base.architecture().orElse("llama"), lora.fileAlpha())
                    .name(out.getFileName().toString().replaceFirst("\\.gguf$", "")).type(type);
            Map<String, float[]> a = loraA();
            Map<String, float[]> b = loraB();
            for (Pair p : pairs) {
                w.add(p.target(), p.r(), p.nIn(), p.nOut(), a.get(p.target()), b.get(p.target()));
            }
            w.write(out);
        }
    }

    /** Writes a checkpoint now (at the current data position), atomically. */
    public Path saveCheckpoint(Path file) {
        writeCheckpoint(file, epoch, sampleInEpoch);
        return file;
    }

    private Path saveCheckpointAt(int ep, int pos) {
        try {
            Files.createDirectories(config.checkpointDir());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create the checkpoint directory " + config.checkpointDir(), e);
        }
        Path file = config.checkpointDir().resolve(String.format("checkpoint-%08d.gguf", stepsDone));
        writeCheckpoint(file, ep, pos);
        // keep the newest few
        try (Stream<Path> s = Files.list(config.checkpointDir())) {
            List<Path> all = s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+\\.gguf"))
                    .sorted(Comparator.comparingLong(LoraTrainer::stepOf)).toList();
            for (int i = 0; i < all.size() - config.keepCheckpoints(); i++) {
                Files.deleteIfExists(all.get(i));
            }
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, "could not delete old checkpoints: " + e);
        }
        return file;
    }

    private void writeCheckpoint(Path file, int ep, int pos) {
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
        Map<String, float[]> a = loraA();
        Map<String, float[]> b = loraB();
        for (Pair p : pairs) {
            w.addTensor(p.target() + ".lora_a", GgmlType.F32, new long[] {p.nIn(), p.r()}, GgmlQuant.quantize(GgmlType.F32, a.get(p.target())));
            w.addTensor(p.target() + ".lora_b", GgmlType.F32, new long[] {p.r(), p.nOut()}, GgmlQuant.quantize(GgmlType.F32, b.get(p.target())));
        }
        session.withContext(ctx -> {
            writeMoments(ctx, w);
            return null;
        });
        w.write(file);
    }

    private void writeMoments(MemorySegment ctx, GgufWriter w) {
        try (Arena tmp = Arena.ofConfined()) {
            int n = lora4j_h.lora4j_train_n_moments(ctx);
            MemorySegment name = tmp.allocate(ValueLayout.ADDRESS);
            MemorySegment m = tmp.allocate(ValueLayout.ADDRESS);
            MemorySegment v = tmp.allocate(ValueLayout.ADDRESS);
            for (int i = 0; i < n; i++) {
                TrainingSession.check(lora4j_h.lora4j_train_moments(ctx, i, name, m, v), "reading the optimizer state");
                String param = name.get(ValueLayout.ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0);
                MemorySegment mt = m.get(ValueLayout.ADDRESS, 0).reinterpret(ggml_tensor.sizeof());
                MemorySegment vt = v.get(ValueLayout.ADDRESS, 0).reinterpret(ggml_tensor.sizeof());
                long[] shape = {ggml_tensor.ne(mt, 0), ggml_tensor.ne(mt, 1)};
                w.addTensor(param + ".adam_m", GgmlType.F32, shape, GgmlQuant.quantize(GgmlType.F32, read(mt)));
                w.addTensor(param + ".adam_v", GgmlType.F32, shape, GgmlQuant.quantize(GgmlType.F32, read(vt)));
            }
        }
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException ignored) {
            // not Linux
        }
        return -1;
    }

    /** Frees the training context, the adapter and the model. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            session.close();
        } finally {
            model.close(); // closes the adapter
        }
    }

    /** A checkpoint file's contents. */
    private record Checkpoint(Path path, LoraConfig lora, long steps, int epoch, int sampleInEpoch, long tokens, int contextLength,
                              int samplesPerStep, String optimizer, float loraPlusRatio, long seed, String baseFile, long baseSize) {
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

        void restoreOptimizer(MemorySegment ctx) {
            try (GgufFile f = GgufFile.open(path); Arena arena = Arena.ofConfined()) {
                List<GgufTensorInfo> ms = f.tensors().stream().filter(t -> t.name().endsWith(".adam_m")).toList();
                int n = ms.size();
                MemorySegment names = arena.allocate(ValueLayout.ADDRESS, Math.max(1, n));
                MemorySegment mp = arena.allocate(ValueLayout.ADDRESS, Math.max(1, n));
                MemorySegment vp = arena.allocate(ValueLayout.ADDRESS, Math.max(1, n));
                MemorySegment ne = arena.allocate(ValueLayout.JAVA_LONG, Math.max(1, n));
                for (int i = 0; i < n; i++) {
                    String param = ms.get(i).name().substring(0, ms.get(i).name().length() - ".adam_m".length());
                    long count = ms.get(i).elementCount();
                    long vCount = f.tensor(param + ".adam_v").map(GgufTensorInfo::elementCount).orElse(-1L);
                    if (vCount != count) {
                        // the shim copies `count` floats of each: a shorter v would be read out of bounds
                        throw new dev.lora4j.Lora4jException("the checkpoint " + path.getFileName() + " is damaged: " + param
                                + ".adam_m has " + count + " values, " + param + ".adam_v "
                                + (vCount < 0 ? "is missing" : "has " + vCount));
                    }
                    names.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(param));
                    mp.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(ValueLayout.JAVA_FLOAT, f.tensorFloats(param + ".adam_m")));
                    vp.setAtIndex(ValueLayout.ADDRESS, i, arena.allocateFrom(ValueLayout.JAVA_FLOAT, f.tensorFloats(param + ".adam_v")));
                    ne.setAtIndex(ValueLayout.JAVA_LONG, i, ms.get(i).elementCount());
                }
                TrainingSession.check(lora4j_h.lora4j_train_restore(ctx, steps, n, names, mp, vp, ne), "restoring the optimizer state");
            }
        }
    }
}
