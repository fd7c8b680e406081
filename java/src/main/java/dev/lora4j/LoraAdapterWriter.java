package dev.lora4j;

import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.internal.Gaussian;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Writes GGUF LoRA adapters that stock llama.cpp loads ({@code llama_adapter_lora_init}) and
 * {@code llama-export-lora} accepts: {@code general.type=adapter}, {@code adapter.type=lora},
 * {@code adapter.lora.alpha}, and per target tensor {@code <name>.lora_a} ({@code [n_in, r]}) and
 * {@code <name>.lora_b} ({@code [r, n_out]}). Matrices are given as PEFT holds them, row-major:
 * {@code lora_A} is {@code r × n_in}, {@code lora_B} is {@code n_out × r} (the same bytes as ggml's layout).
 *
 * <pre>{@code
 * new LoraAdapterWriter("llama", 16f).add("blk.0.attn_q.weight", 8, 64, 64, a, b).write(Path.of("adapter.gguf"));
 * }</pre>
 */
public final class LoraAdapterWriter {
    /** One adapted tensor. */
    public record Weights(String target, int rank, int nIn, int nOut, float[] a, float[] b) {
        public Weights {
            Objects.requireNonNull(target, "target");
            if (rank <= 0 || nIn <= 0 || nOut <= 0) {
                throw new IllegalArgumentException(target + ": rank, nIn and nOut must be positive");
            }
            if (a.length != (long) rank * nIn) {
                throw new IllegalArgumentException(target + ": lora_A must have r × n_in = " + (long) rank * nIn + " values, got " + a.length);
            }
            if (b.length != (long) rank * nOut) {
                throw new IllegalArgumentException(target + ": lora_B must have n_out × r = " + (long) rank * nOut + " values, got " + b.length);
            }
        }
    }

    private final String architecture;
    private final float alpha;
    private final List<Weights> weights = new ArrayList<>();
    private GgmlType type = GgmlType.F32;
    private String taskName;
    private String promptPrefix;
    private String name = "lora4j adapter";

    /** @param alpha {@code lora_alpha}: llama.cpp applies {@code scale · alpha / r} */
    public LoraAdapterWriter(String architecture, float alpha) {
        this.architecture = Objects.requireNonNull(architecture, "architecture");
        if (!Float.isFinite(alpha) || alpha < 0) {
            throw new IllegalArgumentException("alpha must be finite and >= 0, got " + alpha);
        }
        this.alpha = alpha;
    }

    /** Tensor type of A and B: F32 (default), F16 or BF16. */
    public LoraAdapterWriter type(GgmlType t) {
        if (t != GgmlType.F32 && t != GgmlType.F16 && t != GgmlType.BF16) {
            throw new IllegalArgumentException("LoRA tensors are written as F32, F16 or BF16, not " + t);
        }
        this.type = t;
        return this;
    }

    public LoraAdapterWriter name(String n) {
        this.name = Objects.requireNonNull(n);
        return this;
    }

    public LoraAdapterWriter taskName(String t) {
        this.taskName = t;
        return this;
    }

    public LoraAdapterWriter promptPrefix(String p) {
        this.promptPrefix = p;
        return this;
    }

    public LoraAdapterWriter add(Weights w) {
        if (weights.stream().anyMatch(x -> x.target().equals(w.target()))) {
            throw new IllegalArgumentException("target " + w.target() + " added twice");
        }
        weights.add(w);
        return this;
    }

    public LoraAdapterWriter add(String target, int rank, int nIn, int nOut, float[] a, float[] b) {
        return add(new Weights(target, rank, nIn, nOut, a, b));
    }

    /** Writes the adapter atomically (temp file + rename). */
    public void write(Path out) {
        if (weights.isEmpty()) {
            throw new IllegalStateException("no tensors added");
        }
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", architecture);
        w.putString("general.type", "adapter");
        w.putString("general.name", name);
        w.putString("adapter.type", "lora");
        w.putFloat32("adapter.lora.alpha", alpha);
        if (taskName != null) {
            w.putString("adapter.lora.task_name", taskName);
        }
        if (promptPrefix != null) {
            w.putString("adapter.lora.prompt_prefix", promptPrefix);
        }
        for (Weights x : weights) {
            w.addTensor(x.target() + ".lora_a", type, new long[] {x.nIn(), x.rank()}, GgmlQuant.quantize(type, x.a()));
            w.addTensor(x.target() + ".lora_b", type, new long[] {x.rank(), x.nOut()}, GgmlQuant.quantize(type, x.b()));
        }
        w.write(out);
    }

    /**
     * An adapter with random A and B for the given base tensors (tests and benchmarks): A ~ N(0, stdA²), B ~ N(0, stdB²).
     * PEFT initialises B to zero (stdB = 0), which makes the adapter a no-op until trained.
     */
    public static LoraAdapterWriter random(GgufFile base, List<String> targetModules, int rank, float alpha, float stdA, float stdB, long seed) {
        LoraAdapterWriter w = new LoraAdapterWriter(base.architecture().orElse("llama"), alpha);
        SplittableRandom root = new SplittableRandom(seed);
        for (GgufTensorInfo t : LoraTargets.tensors(base, targetModules)) {
            int nIn = Math.toIntExact(t.ne(0));
            int nOut = Math.toIntExact(t.ne(1));
            SplittableRandom r = root.split();
            w.add(t.name(), rank, nIn, nOut, Gaussian.sample(r, rank * nIn, stdA), Gaussian.sample(r, rank * nOut, stdB));
        }
        return w;
    }
}
