package dev.lora4j.train;

import java.util.Arrays;
import java.util.Objects;

/**
 * One training window of exactly the context length: the model reads {@code tokens} and should predict
 * {@code labels[i]} after position {@code i} ({@code labels[i] == tokens[i + 1]} inside a window of one stream);
 * {@link #IGNORE} where the loss does not count (prompt, padding, the start of the next document).
 * The arrays are shared, not copied: do not modify them.
 *
 * @param tokens the input tokens (padding is the EOS token)
 * @param labels the next-token targets, {@link #IGNORE} where masked; same length as {@code tokens}
 * @param source index (0-based, in file order) of the first document in this window; with a separate
 *               validation file, the index in that file
 */
public record TrainingSample(int[] tokens, int[] labels, int source) {
    /** The label of a position whose prediction is not part of the loss. */
    public static final int IGNORE = -1;

    public TrainingSample {
        Objects.requireNonNull(tokens, "tokens");
        Objects.requireNonNull(labels, "labels");
        if (tokens.length != labels.length) {
            throw new IllegalArgumentException("tokens (" + tokens.length + ") and labels (" + labels.length + ") differ in length");
        }
        if (source < 0) {
            throw new IllegalArgumentException("source must be >= 0, got " + source);
        }
    }

    public int length() {
        return tokens.length;
    }

    /** Positions whose prediction counts in the loss (labels that are not {@link #IGNORE}). */
    public int lossTokens() {
        int n = 0;
        for (int l : labels) {
            if (l != IGNORE) {
                n++;
            }
        }
        return n;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TrainingSample s && source == s.source && Arrays.equals(tokens, s.tokens)
                && Arrays.equals(labels, s.labels);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Arrays.hashCode(tokens) + Arrays.hashCode(labels)) + source;
    }

    @Override
    public String toString() {
        return "TrainingSample[source=" + source + ", length=" + tokens.length + ", lossTokens=" + lossTokens() + "]";
    }
}
