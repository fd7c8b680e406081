package dev.lora4j;

import java.util.Arrays;

/**
 * Tokens of several sequences for one {@link Context#decode(Batch)}: each token goes at the next position of its
 * sequence, and the tokens asked for get logits, read by the index {@link #add} returned. Reusable: {@link #clear()}
 * it for the next step. Not thread-safe.
 */
public final class Batch {
    private final int capacity;
    int[] tokens;
    int[] seqs;
    boolean[] logits;
    private int size;

    /** A batch of at most {@code capacity} tokens (at most the context's {@link Context#batchSize()}). */
    public Batch(int capacity) {
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
        }
        this.capacity = capacity;
        this.tokens = new int[Math.min(capacity, 64)];
        this.seqs = new int[tokens.length];
        this.logits = new boolean[tokens.length];
    }

    /**
     * Appends {@code token} to sequence {@code seq}, after what the context holds of it and its earlier tokens in
     * this batch. Returns its index in the batch.
     */
    public int add(int seq, int token, boolean wantLogits) {
        if (size == capacity) {
            throw new IllegalStateException("the batch is full (" + capacity + " tokens)");
        }
        if (size == tokens.length) {
            int n = Math.min(capacity, tokens.length * 2);
            tokens = Arrays.copyOf(tokens, n);
            seqs = Arrays.copyOf(seqs, n);
            logits = Arrays.copyOf(logits, n);
        }
        tokens[size] = token;
        seqs[size] = seq;
        logits[size] = wantLogits;
        return size++;
    }

    public int size() {
        return size;
    }

    public int capacity() {
        return capacity;
    }

    public void clear() {
        size = 0;
    }
}
