package dev.lora4j.gguf;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Locates the shared GGUF files the tests read. */
final class GgufTestFiles {
    static final String PINNED_LLAMA_CPP = "llama.cpp-fd570ef54b10ec5fecb739e7e04c8ce44a6f415a";

    private GgufTestFiles() {
    }

    /** {@code shared/models} in the working directory or a parent of it. */
    static Optional<Path> sharedModels() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path m = p.resolve("shared").resolve("models");
            if (Files.isDirectory(m)) {
                return Optional.of(m);
            }
        }
        return Optional.empty();
    }

    static Optional<Path> sharedModel(String name) {
        return sharedModels().map(d -> d.resolve(name)).filter(Files::isRegularFile);
    }

    /** The pinned llama.cpp source ($LORA4J_LLAMA_CPP_SRC, else $LORA4J_CACHE or ~/.cache/lora4j, src/<pinned>). */
    static Optional<Path> llamaCppSource() {
        String env = System.getenv("LORA4J_LLAMA_CPP_SRC");
        String cache = System.getenv("LORA4J_CACHE");
        Path p = env != null ? Path.of(env)
                : (cache != null ? Path.of(cache) : Path.of(System.getProperty("user.home"), ".cache", "lora4j")).resolve("src").resolve(PINNED_LLAMA_CPP);
        return Files.isDirectory(p.resolve("models")) ? Optional.of(p) : Optional.empty();
    }

    static List<Path> ggufsIn(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(f -> f.getFileName().toString().endsWith(".gguf")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Path> sharedGgufs() {
        return sharedModels().map(GgufTestFiles::ggufsIn).orElse(List.of());
    }

    static List<Path> vocabGgufs() {
        return llamaCppSource().map(src -> ggufsIn(src.resolve("models")).stream()
                .filter(f -> f.getFileName().toString().startsWith("ggml-vocab-")).toList()).orElse(List.of());
    }
}
