package dev.lora4j.bindings;

import dev.lora4j.testsupport.Requires;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Runs bindings/generator/generate.py into a temporary directory and checks that the type tables it writes into the
 * Java library (the generated regions of GgmlType.java and FileType.java) are the committed ones (regenerate with
 * bindings/generate.sh).
 */
class GeneratedTypeTablesUpToDateTest {
    private static final List<String> TABLES = List.of("dev/lora4j/gguf/GgmlType.java", "dev/lora4j/FileType.java");

    @TempDir
    Path tmp;

    @Test
    void committedTypeTablesMatchTheGenerator() throws IOException {
        Requires.that(GeneratorSupport.libclangAvailable(),
                GeneratorSupport.PYTHON + " cannot import clang.cindex, so the generator cannot run; " + GeneratorSupport.INSTALL_HINT);
        Path src = GeneratorSupport.llamaSource();
        Requires.that(src != null, "no llama.cpp source found; build native/ first");
        Path root = GeneratorSupport.projectRoot();
        var result = GeneratorSupport.run(List.of(GeneratorSupport.PYTHON, root.resolve("bindings/generator/generate.py").toString(),
                "--llama-src", src.toString(), "--out", tmp.resolve("bindings").toString()), root, 600);
        assertEquals(0, result.exitCode(), "generate.py failed:\n" + result.output());
        for (String table : TABLES) {
            Path java = Path.of("java/src/main/java").resolve(table);
            assertEquals(Files.readString(root.resolve(java)), Files.readString(tmp.resolve(java)),
                    java + " is not what the generator writes; run bindings/generate.sh");
        }
    }
}
