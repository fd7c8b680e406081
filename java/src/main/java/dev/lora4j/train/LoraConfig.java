package dev.lora4j.train;

import dev.lora4j.LoraScaling;
import dev.lora4j.LoraTargets;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * What to train, in PEFT's words: rank {@code r}, {@code lora_alpha}, {@code target_modules} ({@code q, k, v, o,
 * gate, up, down}, {@code all-linear}, or the MoE experts: see {@link LoraTargets}), {@code use_rslora} (scale
 * alpha/√r instead of alpha/r), the initialisation of A ({@code B} starts at zero, so training starts from the
 * base model exactly) and the seed. Start from {@link #defaults()} (each default is defined once, there) and change
 * what you need with the {@code with...} methods; every value is checked.
 *
 * <pre>{@code
 * LoraConfig lora = LoraConfig.defaults().withR(16).withAlpha(32).withTargetModules(List.of("all-linear"));
 * }</pre>
 */
public final class LoraConfig {
    /** How A is initialised (B is zero). */
    public enum Init {
        /** PEFT's default: A ~ U(-1/√n_in, 1/√n_in) (kaiming-uniform with a = √5). */
        KAIMING,
        /** PEFT's "gaussian": A ~ N(0, 1/r²). */
        GAUSSIAN,
        /**
         * PiSSA (principal singular vectors of W). Not supported: it rewrites the frozen base as W − BA, which a
         * quantised base cannot take without re-quantising it; rejected with that explanation.
         */
        PISSA
    }

    /** The values; their initial values are the defaults. */
    private static final class Values implements Cloneable {
        int r = 8;
        float alpha = 16f;
        List<String> targetModules = List.of("q", "v");
        boolean useRsLora;
        Init init = Init.KAIMING;
        long seed = 42;

        Values copy() {
            try {
                return (Values) clone(); // every field is immutable
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private static final LoraConfig DEFAULTS = new LoraConfig(new Values());

    private final Values v; // never changed

    private LoraConfig(Values v) {
        this.v = v;
        if (v.r < 1 || v.r > 4096) {
            throw new IllegalArgumentException("r must be in [1, 4096], got " + v.r);
        }
        if (!Float.isFinite(v.alpha) || v.alpha <= 0) {
            throw new IllegalArgumentException("lora_alpha must be finite and > 0, got " + v.alpha);
        }
        Objects.requireNonNull(v.targetModules, "targetModules");
        if (v.targetModules.isEmpty()) {
            throw new IllegalArgumentException("targetModules is empty; e.g. q,v or all-linear");
        }
        v.targetModules = List.copyOf(v.targetModules);
        LoraTargets.modules(v.targetModules); // rejects unknown names
        Objects.requireNonNull(v.init, "init");
        if (v.init == Init.PISSA) {
            throw new IllegalArgumentException("init PISSA is not supported: it needs the base rewritten as W - BA, which a frozen"
                    + " quantised base cannot take; use KAIMING or GAUSSIAN");
        }
    }

    /** r = 8, alpha = 16, q and v, kaiming, seed 42 (PEFT's usual starting point). */
    public static LoraConfig defaults() {
        return DEFAULTS;
    }

    private LoraConfig with(Consumer<Values> change) {
        Values copy = v.copy();
        change.accept(copy);
        return new LoraConfig(copy);
    }

    /** The rank. */
    public int r() {
        return v.r;
    }

    /** lora_alpha: the scale is alpha / r (rsLoRA: alpha / √r). */
    public float alpha() {
        return v.alpha;
    }

    /** The target modules as given (q, k, v, o, gate, up, down, lm_head, all-linear, experts, ...). */
    public List<String> targetModules() {
        return v.targetModules;
    }

    /** rsLoRA: scale alpha / √r instead of alpha / r. */
    public boolean useRsLora() {
        return v.useRsLora;
    }

    /** The initialisation of A. */
    public Init init() {
        return v.init;
    }

    /** The seed of A's initialisation. */
    public long seed() {
        return v.seed;
    }

    public LoraConfig withR(int r) {
        return with(c -> c.r = r);
    }

    public LoraConfig withAlpha(float alpha) {
        return with(c -> c.alpha = alpha);
    }

    public LoraConfig withTargetModules(List<String> modules) {
        return with(c -> c.targetModules = modules);
    }

    public LoraConfig withRsLora(boolean rs) {
        return with(c -> c.useRsLora = rs);
    }

    public LoraConfig withInit(Init init) {
        return with(c -> c.init = init);
    }

    public LoraConfig withSeed(long seed) {
        return with(c -> c.seed = seed);
    }

    /**
     * The alpha written into the adapter file, for llama.cpp's rule scale = alpha / r
     * ({@link LoraScaling#fileAlpha}).
     */
    public float fileAlpha() {
        return LoraScaling.fileAlpha(v.alpha, v.r, v.useRsLora);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof LoraConfig c && ConfigFields.equal(v, c.v);
    }

    @Override
    public int hashCode() {
        return ConfigFields.hash(v);
    }

    @Override
    public String toString() {
        return ConfigFields.string("LoraConfig", v);
    }
}
