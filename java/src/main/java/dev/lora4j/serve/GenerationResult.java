package dev.lora4j.serve;

/**
 * What a {@link BatchEngine} request produced: the text (ending before the stop string when one stopped it), the
 * tokens sampled (the prompt excluded; with a stop string, all of them, the stop string's included), the prompt's
 * length in tokens, why it stopped, and how long it waited in the queue for a sequence, then took to decode its prompt
 * and to generate (both in steps shared with the other requests).
 */
public record GenerationResult(String text, int[] tokens, int promptTokens, StopReason stopReason, long queueNanos,
                               long promptNanos, long generateNanos) {
    public enum StopReason { MAX_TOKENS, END_OF_GENERATION, STOP_STRING, CONTEXT_FULL }

    /** Generation speed of this request, tokens per second (the first sampled token included). */
    public double tokensPerSecond() {
        return generateNanos == 0 ? 0 : tokens.length * 1e9 / generateNanos;
    }
}
