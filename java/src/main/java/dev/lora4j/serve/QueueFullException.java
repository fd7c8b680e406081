package dev.lora4j.serve;

import dev.lora4j.Lora4jException;

/** {@link BatchEngine#submit} refused a request at once: its queue holds {@link #capacity()} requests already. */
public class QueueFullException extends Lora4jException {
    private final int capacity;

    public QueueFullException(int capacity) {
        super("the request queue is full (capacity " + capacity + "); retry later or raise EngineParams.queueCapacity");
        this.capacity = capacity;
    }

    public int capacity() {
        return capacity;
    }
}
