package dev.lora4j.train;

import dev.lora4j.Context;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.internal.Llama;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;

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
 *
 * <p>The parts: {@link LoraInit} (the initial adapter), {@link AdapterTensors} (A and B in native memory, LoRA+),
 * {@link TrainingSession} (context, optimizer, one step), {@link TrainingLoop} (epochs and steps, shared with
 * {@link FullFineTuner}) and {@link Checkpoint} (the file format).
 */
public final class LoraTrainer implements AutoCloseable {
    private final Path basePath;
    private final LoraConfig lora;
    private final TrainConfig config;
    private final Model model;
    private final LoraAdapter adapter;
    private final TrainingSession session;
    private final AdapterTensors tensors;
    private final TrainingLoop.Position at = new TrainingLoop.Position(); // restored by resume
    private final TrainingLoop loop;
    private boolean closed;

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
            LoraInit.write(basePath, lora, initialAdapter != null ? initialAdapter : resumeFrom != null ? resumeFrom.path() : null,
                    config.loraPlusRatio(), tmpAdapter);
            this.model = m;
            this.adapter = LoraAdapter.load(m, tmpAdapter);
            this.session = new TrainingSession(m, config);
            // LoRA+: the trained tensor is B/ratio, applied with scale ratio
            session.context().setAdapter(adapter, config.loraPlusRatio());
            this.tensors = new AdapterTensors(adapter, config.loraPlusRatio());
            session.initLora(adapter);
            if (resumeFrom != null) {
                resumeFrom.restoreOptimizer(session.training());
                at.steps = resumeFrom.steps();
                at.epoch = resumeFrom.epoch();
                at.sampleInEpoch = resumeFrom.sampleInEpoch();
                at.tokens = resumeFrom.tokens();
            }
            this.loop = new TrainingLoop(session, config, m, at, config.checkpointDir() == null ? null : this::saveCheckpointAt);
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
        return new LoraTrainer(base, c.lora(), config, null, c);
    }

    /** The LoRA configuration a checkpoint was trained with (what {@link #resume} continues with). */
    public static LoraConfig checkpointLoraConfig(Path checkpoint) {
        return Checkpoint.read(checkpoint).lora();
    }

    /** The newest checkpoint in a directory, if any. */
    public static Optional<Path> latestCheckpoint(Path dir) {
        return Checkpoint.latest(dir);
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
        return tensors.parameterCount();
    }

    /**
     * Memory held by the copies of the frozen base weights that speed up training ({@link TrainConfig#baseCopies()}),
     * in bytes: made in the first step, 0 before it or without copies.
     */
    public long baseCopiesBytes() {
        return session.training().baseCopiesBytes();
    }

    public long stepsDone() {
        return at.steps;
    }

    /** Asks a running {@link #train} to stop after the current optimizer step (thread-safe; e.g. from a Ctrl-C hook). */
    public void requestStop() {
        loop.requestStop();
    }

    /** Optimizer steps a full run over {@code nTrain} samples takes. */
    public long plannedSteps(int nTrain) {
        return TrainingLoop.plannedSteps(config, nTrain);
    }

    /**
     * Runs training (or the rest of it, after {@link #resume}). Returns when the epochs or max steps are done, early
     * stopping triggers, or {@link #requestStop()} was called — then a checkpoint is written first (when a checkpoint
     * directory is set).
     */
    public TrainResult train(TrainingData data, TrainListener listener) {
        return train(data.train(), data.validation(), listener);
    }

    public TrainResult train(List<TrainingSample> train, List<TrainingSample> validation, TrainListener listener) {
        if (closed) {
            throw new IllegalStateException("this trainer is closed");
        }
        return loop.run(train, validation, listener == null ? new TrainListener() {} : listener, tensors.parameterCount());
    }

    /** Mean loss per counted token over the samples (no training). */
    public double evaluate(List<TrainingSample> samples) {
        return session.evaluate(samples);
    }

    /** The current A (PEFT layout, r × n_in; expert after expert for stacked experts) of every target. */
    public Map<String, float[]> loraA() {
        return tensors.a();
    }

    /** The current true B (PEFT layout, n_out × r; expert after expert) of every target (LoRA+ reparametrisation undone). */
    public Map<String, float[]> loraB() {
        return tensors.trueB();
    }

    /** Overwrites A and B of the given targets (B as true B: the LoRA+ reparametrisation is applied here). */
    public void setWeights(Map<String, float[]> a, Map<String, float[]> b) {
        tensors.set(a, b);
    }

    /** Writes the trained adapter (F32, F16 or BF16), loadable by llama.cpp ({@code llama_adapter_lora_init}). */
    public void saveAdapter(Path out, GgmlType type) {
        try (GgufFile base = GgufFile.open(basePath)) {
            LoraAdapterWriter w = new LoraAdapterWriter(base.architecture().orElse("llama"), lora.fileAlpha())
                    .name(out.getFileName().toString().replaceFirst("\\.gguf$", "")).type(type);
            Map<String, float[]> a = tensors.a();
            Map<String, float[]> b = tensors.trueB();
            for (AdapterTensors.Pair p : tensors.pairs()) {
                w.add(p.weights(a.get(p.target()), b.get(p.target())));
            }
            w.write(out);
        }
    }

    /** Writes a checkpoint now (at the current data position), atomically. */
    public Path saveCheckpoint(Path file) {
        writeCheckpoint(file, at.epoch, at.sampleInEpoch);
        return file;
    }

    private Path saveCheckpointAt(int ep, int pos) {
        Path file = Checkpoint.fileFor(config.checkpointDir(), at.steps);
        writeCheckpoint(file, ep, pos);
        Checkpoint.keepNewest(config.checkpointDir(), config.keepCheckpoints());
        return file;
    }

    private void writeCheckpoint(Path file, int ep, int pos) {
        Checkpoint.write(file, basePath, lora, config, tensors, session, at.steps, ep, pos, at.tokens);
    }

    // test hooks, package-private: reached by the tests through a class of this package in the tests module

    /** Overwrites one value of A or B (for gradient checks; B as stored, i.e. divided by the LoRA+ ratio). */
    void setParameter(String target, boolean isB, int index, float value) {
        tensors.setStored(target, isB, index, value);
    }

    /** Loss of one sample without training (for gradient checks). */
    double loss(TrainingSample s) {
        return session.step(s, false)[0];
    }

    /** Trains on one sample (an optimizer step when it completes a step) and returns its loss. */
    double trainOn(TrainingSample s) {
        session.setOptimizerParams(config.learningRate());
        return session.step(s, true)[0];
    }

    /** The training context (for tests that decode on it between steps). */
    Context context() {
        return session.context();
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
}
