package dev.lora4j.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;

/** Shared helpers of the generator tests: where things are, and skip-or-fail when a tool is missing. */
final class GeneratorSupport {
    static final String PINNED_TREE = "fd570ef54b10ec5fecb739e7e04c8ce44a6f415a";
    static final String PYTHON = "/usr/bin/python3";
    static final String INSTALL_HINT = "apt-get install python3-clang-16 libclang1-16 libclang-16-dev";

    private GeneratorSupport() {}

    /** The project root: the working directory is bindings/ under Maven, or the root itself. */
    static Path projectRoot() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("bindings/generator/generate.py"))) {
                return p;
            }
        }
        throw new IllegalStateException("cannot find the project root (bindings/generator/generate.py) above " + dir);
    }

    static Path bindingsDir() {
        return projectRoot().resolve("bindings");
    }

    /** The llama.cpp source, found as generate.py finds it; null when none has llama.h. */
    static Path llamaSource() {
        String prop = System.getProperty("lora4j.llamaSrc");
        String env = System.getenv("LLAMA_CPP_DIR");
        Path candidate = null;
        if (prop != null && !prop.isEmpty()) {
            candidate = Path.of(prop);
        } else if (env != null && !env.isEmpty()) {
            candidate = Path.of(env);
        } else {
            Path props = projectRoot().resolve("native/target/native.properties");
            if (Files.isRegularFile(props)) {
                Properties p = new Properties();
                try (InputStream in = Files.newInputStream(props)) {
                    p.load(in);
                } catch (IOException e) {
                    throw new IllegalStateException("cannot read " + props, e);
                }
                String src = p.getProperty("source");
                if (src != null && !src.isBlank() && Files.isDirectory(Path.of(src.strip()))) {
                    candidate = Path.of(src.strip());
                }
            }
            if (candidate == null) {
                String cache = System.getenv("LORA4J_CACHE");
                Path cacheDir = cache != null && !cache.isEmpty() ? Path.of(cache)
                        : Path.of(System.getProperty("user.home"), ".cache", "lora4j");
                candidate = cacheDir.resolve("src").resolve("llama.cpp-" + PINNED_TREE);
            }
        }
        return Files.isRegularFile(candidate.resolve("include/llama.h")) ? candidate.toAbsolutePath() : null;
    }

    record Result(int exitCode, String output) {}

    /** Runs a command, merging stdout and stderr; exit code -1 when it cannot be started. */
    static Result run(List<String> command, Path dir, long timeoutSeconds) {
        try {
            ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
            if (dir != null) {
                pb.directory(dir.toFile());
            }
            Process p = pb.start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return new Result(-2, "timed out: " + command);
            }
            return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8));
        } catch (IOException e) {
            return new Result(-1, String.valueOf(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(-1, String.valueOf(e));
        }
    }

    /** Whether {@code /usr/bin/python3} can import libclang's bindings. */
    static boolean libclangAvailable() {
        return run(List.of(PYTHON, "-c", "import clang.cindex"), null, 60).exitCode() == 0;
    }
}
