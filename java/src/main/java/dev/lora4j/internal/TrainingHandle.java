package dev.lora4j.internal;

import static dev.lora4j.bindings.ggml_backend_h.ggml_backend_tensor_get;
import static dev.lora4j.bindings.ggml_backend_h.ggml_backend_tensor_set;
import static dev.lora4j.bindings.ggml_h.ggml_nbytes;
import static dev.lora4j.bindings.ggml_h.ggml_nelements;

import dev.lora4j.Lora4jException;
import dev.lora4j.bindings.ggml_opt_h;
import dev.lora4j.bindings.ggml_opt_optimizer_params;
import dev.lora4j.bindings.ggml_tensor;
import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.bindings.lora4j_train_params;
import dev.lora4j.train.TrainConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The shim's training state on one context ({@code lora4j_train_*}): ggml-opt's optimizer parameters (read before
 * every optimizer step, so they can change between steps), one step on one sample, the AdamW moments for
 * checkpoints; plus the tensors training reads and writes (an adapter's lora_a/lora_b pairs, a model's weights).
 * Every call takes exclusive use of the context.
 */
public final class TrainingHandle {
    /** A ggml tensor of a loaded model or adapter (F32 where training uses it); valid while its owner lives. */
    public static final class Tensor {
        private final MemorySegment tensor;

        private Tensor(MemorySegment tensor) {
            this.tensor = tensor.reinterpret(ggml_tensor.sizeof());
        }

        /** ne[0], ne[1] in ggml order, and ne[2] when it is above 1 (stacked experts). */
        public long[] shape() {
            long ne2 = ggml_tensor.ne(tensor, 2);
            return ne2 > 1 ? new long[] {ggml_tensor.ne(tensor, 0), ggml_tensor.ne(tensor, 1), ne2}
                    : new long[] {ggml_tensor.ne(tensor, 0), ggml_tensor.ne(tensor, 1)};
        }

        public long elementCount() {
            return ggml_nelements(tensor);
        }

        public long byteSize() {
            return ggml_nbytes(tensor);
        }

        /** The values of an F32 tensor. */
        public float[] read() {
            long n = elementCount();
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment buf = tmp.allocate(ValueLayout.JAVA_FLOAT, n);
                ggml_backend_tensor_get(tensor, buf, 0, n * Float.BYTES);
                return buf.toArray(ValueLayout.JAVA_FLOAT);
            }
        }

        /** Copies all {@link #byteSize()} bytes into {@code dst}. */
        public void readInto(MemorySegment dst) {
            ggml_backend_tensor_get(tensor, dst, 0, byteSize());
        }

        /** Sets the values of an F32 tensor. */
        public void write(float[] data) {
            if (data.length != elementCount()) {
                throw new IllegalArgumentException("size mismatch");
            }
            try (Arena tmp = Arena.ofConfined()) {
                ggml_backend_tensor_set(tensor, tmp.allocateFrom(ValueLayout.JAVA_FLOAT, data), 0, (long) data.length * Float.BYTES);
            }
        }
    }

    /** An adapter's pair for base tensor {@code target}: lora_a [n_in, r] and lora_b [r, n_out] (per expert: [.., n_expert]). */
    public record LoraPair(String target, Tensor a, Tensor b) {}

    /** AdamW's moments of one trained parameter (e.g. {@code blk.0.attn_q.weight.lora_a}). */
    public record Moments(String parameter, Tensor m, Tensor v) {}

    private final ContextHandle context;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment optParams;
    private boolean closed;

    /** Training state for {@code context}, not yet initialised (set the optimizer, then {@link #initLora} or {@link #initFull}). */
    public TrainingHandle(ContextHandle context) {
        this.context = context;
        this.optParams = ggml_opt_optimizer_params.allocate(arena);
    }

    /** The optimizer parameters of the next optimizer steps: learning rate {@code lr}, the rest from {@code config}. */
    public void setOptimizer(float lr, TrainConfig config) {
        MemorySegment adamw = ggml_opt_optimizer_params.adamw(optParams);
        ggml_opt_optimizer_params.adamw.alpha(adamw, lr);
        ggml_opt_optimizer_params.adamw.beta1(adamw, config.beta1());
        ggml_opt_optimizer_params.adamw.beta2(adamw, config.beta2());
        ggml_opt_optimizer_params.adamw.eps(adamw, config.epsilon());
        ggml_opt_optimizer_params.adamw.wd(adamw, config.weightDecay());
        MemorySegment sgd = ggml_opt_optimizer_params.sgd(optParams);
        ggml_opt_optimizer_params.sgd.alpha(sgd, lr);
        ggml_opt_optimizer_params.sgd.wd(sgd, config.weightDecay());
    }

    /** Trains the adapter's tensors (set on the context) as {@code config} says. */
    public void initLora(AdapterHandle adapter, TrainConfig config) {
        MemorySegment c = context.enter();
        try (Arena tmp = Arena.ofConfined()) {
            NativeErrors.clear();
            NativeErrors.check(lora4j_h.lora4j_train_init(c, adapter.pointer(), params(tmp, config), optParams), "initialising training");
        } finally {
            context.exit();
        }
    }

    /** Trains the model's own F32 weights (but token_embd) as {@code config} says. */
    public void initFull(TrainConfig config) {
        MemorySegment c = context.enter();
        try (Arena tmp = Arena.ofConfined()) {
            NativeErrors.clear();
            NativeErrors.check(lora4j_h.lora4j_train_init_full(c, params(tmp, config), optParams), "initialising full fine-tuning");
        } finally {
            context.exit();
        }
    }

    /** The shim's training options ({@code struct lora4j_train_params}) of a configuration. */
    private static MemorySegment params(Arena arena, TrainConfig config) {
        MemorySegment p = lora4j_train_params.allocate(arena);
        lora4j_train_params.n_tokens(p, config.contextLength());
        lora4j_train_params.grad_accum(p, config.samplesPerStep());
        lora4j_train_params.optimizer(p, switch (config.optimizer()) {
            case ADAMW -> ggml_opt_h.GGML_OPT_OPTIMIZER_TYPE_ADAMW();
            case SGD -> ggml_opt_h.GGML_OPT_OPTIMIZER_TYPE_SGD();
        });
        lora4j_train_params.max_grad_norm(p, config.maxGradNorm());
        long available = SystemMemory.availableBytes(); // 0: unknown
        long budget = config.baseCopiesMaxBytes() >= 0 ? config.baseCopiesMaxBytes() : available > 0 ? Math.max(1, available / 2) : 0;
        boolean none = config.gpuLayers() != 0 || config.baseCopiesMaxBytes() == 0;
        lora4j_train_params.base_copies(p, none ? lora4j_h.LORA4J_BASE_COPIES_NONE() : switch (config.baseCopies()) {
            case NONE -> lora4j_h.LORA4J_BASE_COPIES_NONE();
            case BACKWARD -> lora4j_h.LORA4J_BASE_COPIES_BACKWARD();
            case ALL -> lora4j_h.LORA4J_BASE_COPIES_ALL();
        });
        lora4j_train_params.base_copies_budget(p, budget); // 0: no limit (for the native side)
        return p;
    }

    /** One sample, with a backward pass when {@code train}: {mean loss per counted token, counted tokens}. */
    public double[] step(int[] tokens, int[] labels, boolean train) {
        MemorySegment c = context.enter();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment loss = tmp.allocate(ValueLayout.JAVA_DOUBLE);
            MemorySegment counted = tmp.allocate(ValueLayout.JAVA_INT);
            NativeErrors.clear();
            NativeErrors.check(lora4j_h.lora4j_train_step(c, tmp.allocateFrom(ValueLayout.JAVA_INT, tokens),
                    tmp.allocateFrom(ValueLayout.JAVA_INT, labels), tokens.length, train, loss, counted),
                    train ? "training step" : "evaluation");
            return new double[] {loss.get(ValueLayout.JAVA_DOUBLE, 0), counted.get(ValueLayout.JAVA_INT, 0)};
        } finally {
            context.exit();
        }
    }

    /** Bytes held by the copies of the frozen base weights ({@link TrainConfig#baseCopies()}; 0 before the first step). */
    public long baseCopiesBytes() {
        MemorySegment c = context.enter();
        try {
            NativeErrors.clear();
            return NativeErrors.check(lora4j_h.lora4j_train_base_copies_bytes(c), "reading the base copies' size");
        } finally {
            context.exit();
        }
    }

    /** AdamW's moments of every trained parameter (none before the first optimizer step). */
    public List<Moments> moments() {
        MemorySegment c = context.enter();
        try {
            NativeErrors.clear();
            int n = NativeErrors.check(lora4j_h.lora4j_train_n_moments(c), "reading the optimizer state");
            return namedPairs(n, (i, name, m, v) -> lora4j_h.lora4j_train_moments(c, i, name, m, v), Moments::new,
                    "reading the optimizer state");
        } finally {
            context.exit();
        }
    }

    /** Restores a checkpoint's optimizer state: steps done, and per parameter name its m and v (same lengths). */
    public void restore(long stepsDone, List<String> parameters, List<float[]> m, List<float[]> v) {
        int n = parameters.size();
        MemorySegment c = context.enter();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment names = tmp.allocate(ValueLayout.ADDRESS, Math.max(1, n));
            MemorySegment mp = tmp.allocate(ValueLayout.ADDRESS, Math.max(1, n));
            MemorySegment vp = tmp.allocate(ValueLayout.ADDRESS, Math.max(1, n));
            MemorySegment ne = tmp.allocate(ValueLayout.JAVA_LONG, Math.max(1, n));
            for (int i = 0; i < n; i++) {
                if (m.get(i).length != v.get(i).length) {
                    throw new IllegalArgumentException(parameters.get(i) + ": m has " + m.get(i).length + " values, v " + v.get(i).length);
                }
                names.setAtIndex(ValueLayout.ADDRESS, i, tmp.allocateFrom(parameters.get(i)));
                mp.setAtIndex(ValueLayout.ADDRESS, i, tmp.allocateFrom(ValueLayout.JAVA_FLOAT, m.get(i)));
                vp.setAtIndex(ValueLayout.ADDRESS, i, tmp.allocateFrom(ValueLayout.JAVA_FLOAT, v.get(i)));
                ne.setAtIndex(ValueLayout.JAVA_LONG, i, m.get(i).length);
            }
            NativeErrors.clear();
            NativeErrors.check(lora4j_h.lora4j_train_restore(c, stepsDone, n, names, mp, vp, ne), "restoring the optimizer state");
        } finally {
            context.exit();
        }
    }

    /** The lora_a/lora_b pairs of an adapter, in base-tensor-name order. */
    public static List<LoraPair> pairs(AdapterHandle adapter) {
        MemorySegment ap = adapter.pointer();
        NativeErrors.clear();
        int n = NativeErrors.check(lora4j_h.lora4j_adapter_n_pairs(ap), "reading the adapter's tensors");
        return namedPairs(n, (i, name, a, b) -> lora4j_h.lora4j_adapter_pair(ap, i, name, a, b), LoraPair::new,
                "reading the adapter's tensors");
    }

    /** A shim getter of the i-th (name, tensor, tensor): {@code f(i, &name, &x, &y)}. */
    private interface NamedPairGetter {
        int get(int i, MemorySegment name, MemorySegment x, MemorySegment y);
    }

    private interface NamedPairMaker<T> {
        T make(String name, Tensor x, Tensor y);
    }

    private static <T> List<T> namedPairs(int n, NamedPairGetter getter, NamedPairMaker<T> maker, String what) {
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment name = tmp.allocate(ValueLayout.ADDRESS);
            MemorySegment x = tmp.allocate(ValueLayout.ADDRESS);
            MemorySegment y = tmp.allocate(ValueLayout.ADDRESS);
            List<T> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                NativeErrors.check(getter.get(i, name, x, y), what);
                out.add(maker.make(name.get(ValueLayout.ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0),
                        new Tensor(x.get(ValueLayout.ADDRESS, 0)), new Tensor(y.get(ValueLayout.ADDRESS, 0))));
            }
            return out;
        }
    }

    /** A weight of the model by its GGUF name; {@link Lora4jException} when the model has none. */
    public static Tensor modelTensor(ModelHandle model, String name) {
        try (Arena tmp = Arena.ofConfined()) {
            NativeErrors.clear();
            MemorySegment t = lora4j_h.lora4j_model_tensor(model.pointer(), tmp.allocateFrom(name));
            if (t.equals(MemorySegment.NULL)) {
                throw NativeErrors.error(Lora4jException::new, "the loaded model has no tensor " + name);
            }
            return new Tensor(t);
        }
    }

    /** Forgets the training state (before the context is freed). Idempotent. */
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            if (context.isOpen()) {
                MemorySegment c = context.enter();
                try {
                    lora4j_h.lora4j_train_free(c);
                } finally {
                    context.exit();
                }
            }
        } finally {
            arena.close();
        }
    }
}
