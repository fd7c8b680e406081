package dev.lora4j;

import java.nio.file.Path;

/**
 * llama.cpp could not quantise (or convert) a model file, with its reason. A subclass of
 * {@link ModelLoadException}: llama.cpp's quantiser fails mostly on what it cannot load.
 */
public class QuantizationException extends ModelLoadException {
    public QuantizationException(Path input, String message) {
        super(input, message);
    }
}
