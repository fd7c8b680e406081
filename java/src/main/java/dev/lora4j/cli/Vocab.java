package dev.lora4j.cli;

import dev.lora4j.gguf.ModelSpec;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A vocabulary GGUF: the user's, or one of the vocabularies of the pinned llama.cpp source that the natives jar
 * carries ({@code dev/lora4j/vocab/}: {@code ggml-vocab-llama-spm.gguf}, {@code ggml-vocab-llama-bpe.gguf},
 * {@code ggml-vocab-qwen2.gguf}, {@code ggml-vocab-phi-3.gguf}), copied to a temporary file while in use.
 */
record Vocab(Path path, boolean temporary) implements AutoCloseable {
    static final String RESOURCE_DIR = "dev/lora4j/vocab/";
    static final String RESOURCE = RESOURCE_DIR + "ggml-vocab-llama-spm.gguf";

    /** The user's vocabulary, or else the LLaMA SPM one. */
    static Vocab open(Path user) {
        return open(user, ModelSpec.Arch.LLAMA);
    }

    /** The user's vocabulary, or else the default vocabulary of {@code arch} ({@link ModelSpec.Arch#defaultVocabulary()}). */
    static Vocab open(Path user, ModelSpec.Arch arch) {
        if (user != null) {
            return new Vocab(user, false);
        }
        String resource = RESOURCE_DIR + arch.defaultVocabulary();
        try (InputStream in = Vocab.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("the default vocabulary of " + arch.id() + " (" + resource
                        + ") is not on the class path; pass --vocab FILE");
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
