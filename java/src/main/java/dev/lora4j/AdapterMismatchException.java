package dev.lora4j;

import java.nio.file.Path;

/** A LoRA adapter does not fit the base model: names the adapter, the first mismatch and what was expected. */
public class AdapterMismatchException extends Lora4jException {
    private final Path adapter;

    public AdapterMismatchException(Path adapter, String message) {
        super(adapter + ": " + message);
        this.adapter = adapter;
    }

    public Path adapter() {
        return adapter;
    }
}
