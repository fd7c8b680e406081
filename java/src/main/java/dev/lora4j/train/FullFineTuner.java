package dev.lora4j.train;

import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.internal.Llama;
import dev.lora4j.internal.TrainingHandle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.ObjLongConsumer;

/**
 * Full fine-tuning of an F32 model's own weights with ggml-opt — every F32 weight except {@code token_embd}
 * (llama.cpp's rule) — for pre-training small models (the demo's base). LoRA training is {@link LoraTrainer}.
 */
public final class FullFineTuner implements AutoCloseable {
    private final Path basePath;
    private final TrainConfig config;
    private final Model model;
    private final TrainingSession session;
    private long stepsDone;

    public FullFineTuner(Path base, TrainConfig config) {
        this.basePath = base;
        this.config = config;
        Llama.init();
        try (GgufFile f = GgufFile.open(base)) {
            long nonF32 = f.tensors().stream().filter(t -> t.nDims() == 2 && !t.name().equals("token_embd.weight") && t.type() != GgmlType.F32).count();
            if (nonF32 > 0) {
                throw new Lora4jException(base + ": full fine-tuning needs F32 weights (" + nonF32 + " weights are not F32); use LoRA for quantised bases");
            }
        }
        // the optimizer writes the weights in place: they must not live in the read-only file mapping (as
        // llama-finetune, which forces load_mode = none), nor in repacked buffers
        this.model = Model.load(base, ModelParams.defaults().withExtraBufts(false).withMmap(false));
        try {
            this.session = new TrainingSession(model, config);
            session.initFull();
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /**
     * Trains over the samples for the configured epochs / max steps (from epoch 0 on each call; the steps count on);
     * {@code onStep} gets (loss, step). Returns the last step's loss.
     */
    public double train(List<TrainingSample> samples, ObjLongConsumer<Double> onStep) {
        TrainingLoop.Position at = new TrainingLoop.Position();
        at.steps = stepsDone;
        TrainListener listener = new TrainListener() {
            @Override
            public void onStep(Progress p) {
                if (onStep != null) {
                    onStep.accept(p.trainLoss(), p.step());
                }
            }
        };
        try {
            return new TrainingLoop(session, config, model, at, null).run(samples, List.of(), listener, 0).lastTrainLoss();
        } finally {
            stepsDone = at.steps;
        }
    }

    public double evaluate(List<TrainingSample> samples) {
        return session.evaluate(samples);
    }

    public long stepsDone() {
        return stepsDone;
    }

    /** Writes the model with its trained weights (metadata and the other tensors as in the base file), atomically. */
    public void save(Path out) {
        try (GgufFile base = GgufFile.open(basePath); Arena arena = Arena.ofConfined()) {
            GgufWriter w = new GgufWriter();
            for (Map.Entry<String, GgufValue> e : base.metadata().entrySet()) {
                w.put(e.getKey(), e.getValue());
            }
            for (GgufTensorInfo t : base.tensors()) {
                if (t.type() == GgmlType.F32 && !t.name().equals("token_embd.weight")) {
                    TrainingHandle.Tensor tensor = TrainingHandle.modelTensor(model.handle(), t.name());
                    long n = tensor.byteSize();
                    if (n != t.byteSize()) {
                        throw new Lora4jException(t.name() + ": " + n + " bytes loaded, " + t.byteSize() + " in the file");
                    }
                    MemorySegment buf = arena.allocate(n);
                    tensor.readInto(buf);
                    w.addTensor(t.name(), t.type(), t.shape(), buf);
                } else {
                    w.addTensor(t.name(), t.type(), t.shape(), base.tensorData(t.name()));
                }
            }
            w.write(out);
        }
    }

    @Override
    public void close() {
        try {
            session.close();
        } finally {
            model.close();
        }
    }
}
