package dev.lora4j;

import java.nio.file.Path;

/** A model file could not be loaded: the file is named, with llama.cpp's reason where it gave one. */
public class ModelLoadException extends Lora4jException {
    private final Path file;

    public ModelLoadException(Path file, String message) {
        super(file + ": " + message);
        this.file = file;
    }

    public Path file() {
        return file;
    }
}
