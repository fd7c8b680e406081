package dev.lora4j;

/**
 * The result of {@link Context#generate}: the text and tokens generated (the prompt excluded), why it stopped,
 * and timings.
 */
public record Generation(String text, int[] tokens, int promptTokens, StopReason stopReason, long promptNanos,
                         long generateNanos) {
    public enum StopReason { MAX_TOKENS, END_OF_GENERATION, CONTEXT_FULL }

    /** Prompt processing speed, tokens per second. */
    public double promptTokensPerSecond() {
        return promptNanos == 0 ? 0 : promptTokens * 1e9 / promptNanos;
    }

    /** Generation speed, tokens per second (the first sampled token included). */
    public double tokensPerSecond() {
        return generateNanos == 0 ? 0 : tokens.length * 1e9 / generateNanos;
    }
}
