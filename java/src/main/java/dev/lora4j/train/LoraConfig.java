package dev.lora4j.train;

import dev.lora4j.LoraTargets;
import java.util.List;
import java.util.Objects;

/**
 * What to train, in PEFT's words: rank {@code r}, {@code lora_alpha}, {@code target_modules} ({@code q, k, v, o,
 * gate, up, down} or {@code all-linear}), {@code use_rslora} (scale alpha/√r instead of alpha/r), the
 * initialisation of A ({@code B} starts at zero, so training starts from the base model exactly) and the seed.
 */
public record LoraConfig(int r, float alpha, List<String> targetModules, boolean useRsLora, Init init, long seed) {
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

    public LoraConfig {
        if (r < 1 || r > 4096) {
            throw new IllegalArgumentException("r must be in [1, 4096], got " + r);
        }
        if (!Float.isFinite(alpha) || alpha <= 0) {
            throw new IllegalArgumentException("lora_alpha must be finite and > 0, got " + alpha);
        }
        Objects.requireNonNull(targetModules, "targetModules");
        if (targetModules.isEmpty()) {
            throw new IllegalArgumentException("targetModules is empty; e.g. q,v or all-linear");
        }
        targetModules = List.copyOf(targetModules);
        LoraTargets.modules(targetModules); // rejects unknown names
        Objects.requireNonNull(init, "init");
        if (init == Init.PISSA) {
            throw new IllegalArgumentException("init PISSA is not supported: it needs the base rewritten as W - BA, which a frozen"
                    + " quantised base cannot take; use KAIMING or GAUSSIAN");
        }
    }

    /** r = 8, alpha = 16, q and v, kaiming, seed 42 (PEFT's usual starting point). */
    public static LoraConfig defaults() {
        return new LoraConfig(8, 16f, List.of("q", "v"), false, Init.KAIMING, 42);
    }

    public LoraConfig withR(int newR) {
        return new LoraConfig(newR, alpha, targetModules, useRsLora, init, seed);
    }

    public LoraConfig withAlpha(float newAlpha) {
        return new LoraConfig(r, newAlpha, targetModules, useRsLora, init, seed);
    }

    public LoraConfig withTargetModules(List<String> modules) {
        return new LoraConfig(r, alpha, modules, useRsLora, init, seed);
    }

    public LoraConfig withRsLora(boolean rs) {
        return new LoraConfig(r, alpha, targetModules, rs, init, seed);
    }

    public LoraConfig withInit(Init i) {
        return new LoraConfig(r, alpha, targetModules, useRsLora, i, seed);
    }

    public LoraConfig withSeed(long s) {
        return new LoraConfig(r, alpha, targetModules, useRsLora, init, s);
    }

    /**
     * The alpha written into the adapter file, for llama.cpp's rule scale = alpha / r: with rsLoRA it is
     * alpha·√r, so that llama.cpp applies alpha/√r.
     */
    public float fileAlpha() {
        return useRsLora ? (float) (alpha * Math.sqrt(r)) : alpha;
    }
}
