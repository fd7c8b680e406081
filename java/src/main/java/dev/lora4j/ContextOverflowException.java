package dev.lora4j;

/** The tokens do not fit in the context: {@code needed} positions, {@code available} left of {@code contextSize}. */
public class ContextOverflowException extends Lora4jException {
    private final int needed;
    private final int available;
    private final int contextSize;

    public ContextOverflowException(int needed, int available, int contextSize) {
        super("the input needs " + needed + " token positions but only " + available + " of the context's " + contextSize
                + " are free; use a larger context (contextSize) or a shorter input");
        this.needed = needed;
        this.available = available;
        this.contextSize = contextSize;
    }

    public int needed() {
        return needed;
    }

    public int available() {
        return available;
    }

    public int contextSize() {
        return contextSize;
    }
}
