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
 * A base tensor of stacked experts ({@code ffn_gate_exps}, ... {@code [n_in, n_out, n_expert]}) gets one pair per
 * expert, stacked as llama.cpp's {@code build_lora_mm_id} reads them: {@code lora_a [n_in, r, n_expert]},
 * {@code lora_b [r, n_out, n_expert]}, expert {@code e}'s matrices the {@code e}-th block of the arrays.
 *
 * <pre>{@code
 * new LoraAdapterWriter("llama", 16f).add("blk.0.attn_q.weight", 8, 64, 64, a, b).write(Path.of("adapter.gguf"));
 * }</pre>
 */
public final class LoraAdapterWriter {
    /** One adapted tensor: a matrix ({@code experts} = 1) or a stack of {@code experts} expert matrices. */
    public record Weights(String target, int rank, int nIn, int nOut, int experts, float[] a, float[] b) {
        public Weights {
            Objects.requireNonNull(target, "target");
            if (rank <= 0 || nIn <= 0 || nOut <= 0 || experts <= 0) {
                throw new IllegalArgumentException(target + ": rank, nIn, nOut and experts must be positive");
            }
            String per = experts == 1 ? "" : " × experts";
            if (a.length != (long) rank * nIn * experts) {
                throw new IllegalArgumentException(target + ": lora_A must have r × n_in" + per + " = " + (long) rank * nIn * experts
                        + " values, got " + a.length);
            }
            if (b.length != (long) rank * nOut * experts) {
                throw new IllegalArgumentException(target + ": lora_B must have n_out × r" + per + " = " + (long) rank * nOut * experts
                        + " values, got " + b.length);
            }
        }

        /** A matrix (one expert). */
        public Weights(String target, int rank, int nIn, int nOut, float[] a, float[] b) {
            this(target, rank, nIn, nOut, 1, a, b);
        }

        /** ggml shape of lora_a: {@code [n_in, r]}, or {@code [n_in, r, experts]}. */
        public long[] shapeA() {
            return shape(nIn, rank);
        }

        /** ggml shape of lora_b: {@code [r, n_out]}, or {@code [r, n_out, experts]}. */
        public long[] shapeB() {
            return shape(rank, nOut);
        }

        private long[] shape(long ne0, long ne1) {
            return experts == 1 ? new long[] {ne0, ne1} : new long[] {ne0, ne1, experts};
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

    /** A stack of {@code experts} expert matrices ({@code a}: r × n_in per expert, {@code b}: n_out × r per expert). */
    public LoraAdapterWriter add(String target, int rank, int nIn, int nOut, int experts, float[] a, float[] b) {
        return add(new Weights(target, rank, nIn, nOut, experts, a, b));
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
            w.addTensor(x.target() + ".lora_a", type, x.shapeA(), GgmlQuant.quantize(type, x.a()));
            w.addTensor(x.target() + ".lora_b", type, x.shapeB(), GgmlQuant.quantize(type, x.b()));
        }
        w.write(out);
    }

    /**
     * An adapter with random A and B for the given base tensors (tests and benchmarks): A ~ N(0, stdA²), B ~ N(0, stdB²).
     * PEFT initialises B to zero (stdB = 0), which makes the adapter a no-op until trained. Expert stacks
     * ({@link LoraTargets} {@code experts}) get one pair per expert.
     */
    public static LoraAdapterWriter random(GgufFile base, List<String> targetModules, int rank, float alpha, float stdA, float stdB, long seed) {
        LoraAdapterWriter w = new LoraAdapterWriter(base.architecture().orElse("llama"), alpha);
        SplittableRandom root = new SplittableRandom(seed);
        for (GgufTensorInfo t : LoraTargets.tensors(base, targetModules)) {
            int nIn = Math.toIntExact(t.ne(0));
            int nOut = Math.toIntExact(t.ne(1));
            int experts = Math.toIntExact(t.ne(2));
            SplittableRandom r = root.split();
            w.add(t.name(), rank, nIn, nOut, experts, Gaussian.sample(r, Math.toIntExact((long) rank * nIn * experts), stdA),
                    Gaussian.sample(r, Math.toIntExact((long) rank * nOut * experts), stdB));
        }
        return w;
    }
}
