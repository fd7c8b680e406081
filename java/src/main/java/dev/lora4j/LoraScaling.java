package dev.lora4j;

/**
 * The one place where a LoRA adapter's effective scale is computed, for inference, merging and training alike:
 * {@code W' = W + scale · B·A} with {@code scale = userScale · alpha / r} (rsLoRA: {@code alpha / √r}); an adapter
 * without alpha (alpha = 0) is applied with {@code userScale} alone, as llama.cpp does.
 */
public final class LoraScaling {
    private LoraScaling() {}

    public static float scale(float userScale, float alpha, long rank, boolean rsLora) {
        if (rank <= 0) {
            throw new IllegalArgumentException("rank must be positive, got " + rank);
        }
        if (alpha == 0f) {
            return userScale;
        }
        return (float) (userScale * alpha / (rsLora ? Math.sqrt(rank) : rank));
    }

    /** llama.cpp's rule (alpha / r, no rsLoRA): what {@code llama_adapter_lora} and {@code llama-export-lora} use. */
    public static float scale(float userScale, float alpha, long rank) {
        return userScale * (alpha == 0f ? 1f : alpha / rank);
    }
}
