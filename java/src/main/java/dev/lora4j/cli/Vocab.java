package dev.lora4j.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A vocabulary GGUF: the user's, or the LLaMA SPM vocabulary of the pinned llama.cpp source that the natives jar
 * carries ({@code dev/lora4j/vocab/ggml-vocab-llama-spm.gguf}), copied to a temporary file while in use.
 */
record Vocab(Path path, boolean temporary) implements AutoCloseable {
    static final String RESOURCE = "dev/lora4j/vocab/ggml-vocab-llama-spm.gguf";

    static Vocab open(Path user) {
        if (user != null) {
            return new Vocab(user, false);
        }
        try (InputStream in = Vocab.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException("the default vocabulary (" + RESOURCE + ") is not on the class path; pass --vocab FILE");
            }
            Path tmp = Files.createTempFile("lora4j-vocab-", ".gguf");
            Files.copy(in, tmp, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            return new Vocab(tmp, true);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        if (temporary) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException ignored) {
                // a temp file
            }
        }
    }
}
