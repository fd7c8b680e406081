package dev.lora4j;

/**
 * The one place where a LoRA adapter's effective scale is computed, for inference, merging and training alike:
 * {@code W' = W + scale · B·A} with {@code scale = userScale · alpha / r} (rsLoRA: {@code alpha / √r}); an adapter
 * without alpha (alpha = 0) is applied with {@code userScale} alone, as llama.cpp does. Adapter files hold llama.cpp's
 * alpha ({@link #fileAlpha}), so every reader applies {@link #scale}; training applies its adapter with the user
 * scale 1 (LoRA+: its ratio, see {@code LoraTrainer}).
 */
public final class LoraScaling {
    private LoraScaling() {}

    /**
     * llama.cpp's rule (alpha / r, no rsLoRA), with its float arithmetic ({@code user_scale * alpha / rank}, left to
     * right): what {@code llama_adapter_lora} and {@code llama-export-lora} compute, to the last bit.
     */
    public static float scale(float userScale, float alpha, long rank) {
        if (rank <= 0) {
            throw new IllegalArgumentException("rank must be positive, got " + rank);
        }
        return alpha == 0f ? userScale : userScale * alpha / (float) rank;
    }

    /**
     * The alpha to write into an adapter file so that llama.cpp's rule ({@link #scale}: alpha / r) gives PEFT's scale:
     * {@code alpha} itself, or with rsLoRA {@code alpha·√r} (then alpha·√r / r = alpha / √r).
     */
    public static float fileAlpha(float alpha, long rank, boolean rsLora) {
        return rsLora ? (float) (alpha * Math.sqrt(rank)) : alpha;
    }
}
