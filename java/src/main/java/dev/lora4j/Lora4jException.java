package dev.lora4j;

/**
 * Root of every exception lora4j throws for a failure of its own (bad files, native errors, adapters that
 * do not fit). Misuse of the API gets the JDK's types ({@link IllegalArgumentException},
 * {@link IllegalStateException}) and I/O failures {@link java.io.UncheckedIOException}.
 */
public class Lora4jException extends RuntimeException {
    public Lora4jException(String message) {
        super(message);
    }

    public Lora4jException(String message, Throwable cause) {
        super(message, cause);
    }
}
