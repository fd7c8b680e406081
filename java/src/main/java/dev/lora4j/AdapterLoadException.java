package dev.lora4j;

import java.nio.file.Path;

/**
 * A LoRA adapter file could not be loaded: missing, or refused by llama.cpp (with its reason). An adapter that
 * loads but does not fit its base is an {@link AdapterMismatchException}.
 */
public class AdapterLoadException extends Lora4jException {
    private final Path file;

    public AdapterLoadException(Path file, String message) {
        super(file + ": " + message);
        this.file = file;
    }

    public Path file() {
        return file;
    }
}
