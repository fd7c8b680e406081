package dev.lora4j;

/**
 * The one place where a LoRA adapter's effective scale is computed, for inference, merging and training alike:
 * {@code W' = W + scale · B·A} with {@code scale = userScale · alpha / r} (rsLoRA: {@code alpha / √r}); an adapter
 * without alpha (alpha = 0) is applied with {@code userScale} alone, as llama.cpp does.
 */
public final class LoraScaling {
    private LoraScaling() {}

    public static float scale(float userScale, float alpha, long rank, boolean rsLora) {
        if (!rsLora) {
            return scale(userScale, alpha, rank);
        }
        if (rank <= 0) {
            throw new IllegalArgumentException("rank must be positive, got " + rank);
        }
        return alpha == 0f ? userScale : userScale * alpha / (float) Math.sqrt(rank);
    }

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
}
