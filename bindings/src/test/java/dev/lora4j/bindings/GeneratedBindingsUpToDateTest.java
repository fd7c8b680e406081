package dev.lora4j.bindings;

import dev.lora4j.testsupport.Requires;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Runs bindings/generator/generate.py into a temporary directory and checks that the committed generated
 * sources, symbols.txt and generator/layout_check.c are exactly what it writes (regenerate with
 * bindings/generate.sh).
 */
class GeneratedBindingsUpToDateTest {
    private static final String PKG = "src/main/java/dev/lora4j/bindings";

    @TempDir
    Path tmp;

    @Test
    void committedBindingsMatchTheGenerator() throws IOException {
        Requires.that(GeneratorSupport.libclangAvailable(),
                GeneratorSupport.PYTHON + " cannot import clang.cindex, so the generator cannot run; " + GeneratorSupport.INSTALL_HINT);
        Path src = GeneratorSupport.llamaSource();
        Requires.that(src != null, "no llama.cpp source found (--llama-src / LLAMA_CPP_DIR / native/target/native.properties / "
                + "~/.cache/lora4j/src/llama.cpp-" + GeneratorSupport.PINNED_TREE + "); build native/ first");
        Path root = GeneratorSupport.projectRoot();
        Path bindings = GeneratorSupport.bindingsDir();
        Path out = tmp.resolve("out");
        var result = GeneratorSupport.run(List.of(GeneratorSupport.PYTHON, bindings.resolve("generator/generate.py").toString(),
                "--llama-src", src.toString(), "--out", out.toString()), root, 600);
        assertEquals(0, result.exitCode(), "generate.py failed:\n" + result.output());

        List<String> problems = new ArrayList<>();
        TreeSet<String> expected = listFiles(out.resolve(PKG));
        TreeSet<String> actual = listFiles(bindings.resolve(PKG));
        for (String f : expected) {
            if (!actual.contains(f)) {
                problems.add("missing from the committed tree: " + PKG + "/" + f);
            }
        }
        for (String f : actual) {
            if (!expected.contains(f)) {
                problems.add("not generated (stale?): " + PKG + "/" + f);
            }
        }
        for (String f : expected) {
            if (actual.contains(f)) {
                compare(PKG + "/" + f, out.resolve(PKG).resolve(f), bindings.resolve(PKG).resolve(f), problems);
            }
        }
        compare("symbols.txt", out.resolve("symbols.txt"), bindings.resolve("symbols.txt"), problems);
        compare("generator/layout_check.c", out.resolve("generator/layout_check.c"), bindings.resolve("generator/layout_check.c"), problems);
        if (!problems.isEmpty()) {
            fail("the committed bindings are not what the generator writes; run bindings/generate.sh\n  "
                    + String.join("\n  ", problems));
        }
    }

    private static TreeSet<String> listFiles(Path dir) throws IOException {
        TreeSet<String> files = new TreeSet<>();
        if (!Files.isDirectory(dir)) {
            return files;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            s.filter(Files::isRegularFile).sorted(Comparator.naturalOrder())
                    .forEach(p -> files.add(dir.relativize(p).toString().replace('\\', '/')));
        }
        return files;
    }

    private static void compare(String name, Path generated, Path committed, List<String> problems) throws IOException {
        if (!Files.isRegularFile(committed)) {
            problems.add("missing from the committed tree: bindings/" + name);
            return;
        }
        if (!Files.isRegularFile(generated)) {
            problems.add("not written by the generator: bindings/" + name);
            return;
        }
        List<String> a = Files.readAllLines(generated, StandardCharsets.UTF_8);
        List<String> b = Files.readAllLines(committed, StandardCharsets.UTF_8);
        int n = Math.min(a.size(), b.size());
        for (int i = 0; i < n; i++) {
            if (!a.get(i).equals(b.get(i))) {
                problems.add("bindings/" + name + ":" + (i + 1) + " differs\n      generated: " + a.get(i) + "\n      committed: " + b.get(i));
                return;
            }
        }
        if (a.size() != b.size()) {
            problems.add("bindings/" + name + ": " + b.size() + " lines committed, " + a.size() + " generated (first difference at line " + (n + 1) + ")");
            return;
        }
        if (!java.util.Arrays.equals(Files.readAllBytes(generated), Files.readAllBytes(committed))) {
            problems.add("bindings/" + name + ": line endings differ");
        }
    }
}
