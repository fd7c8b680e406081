package dev.lora4j.serve;

import dev.lora4j.Lora4jException;

/** The {@link BatchEngine} was closed (or its context was) before the request finished. */
public class EngineClosedException extends Lora4jException {
    public EngineClosedException(String message) {
        super(message);
    }

    public EngineClosedException(String message, Throwable cause) {
        super(message, cause);
    }
}
