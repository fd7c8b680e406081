package dev.lora4j.bindings;

import dev.lora4j.testsupport.Requires;
import java.io.IOException;
import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Compiles bindings/generator/layout_check.c against the llama.cpp headers with the C compiler, runs it, and
 * checks every bound struct's size and every field's offset and size against the Java layouts (anonymous union
 * members through the path of the union's group, nested anonymous structs through their nested class), and
 * the generated {@code <field>$offset()} accessors.
 */
class StructLayoutTest {
    @TempDir
    Path tmp;

    private static String findCompiler() {
        for (String cc : new String[] {System.getenv("CC"), "cc", "gcc", "clang"}) {
            if (cc != null && !cc.isBlank() && GeneratorSupport.run(List.of(cc, "--version"), null, 60).exitCode() == 0) {
                return cc;
            }
        }
        return null;
    }

    @Test
    void javaLayoutsMatchTheCCompiler() throws Exception {
        String cc = findCompiler();
        Requires.that(cc != null, "no C compiler (cc, gcc, clang or $CC) to compile bindings/generator/layout_check.c");
        Path src = GeneratorSupport.llamaSource();
        Requires.that(src != null, "no llama.cpp source found (LLAMA_CPP_DIR / native/target/native.properties / "
                + "~/.cache/lora4j/src/llama.cpp-" + GeneratorSupport.PINNED_TREE + "); build native/ first");
        Path root = GeneratorSupport.projectRoot();
        Path exe = tmp.resolve("layout_check");
        var compile = GeneratorSupport.run(List.of(cc, "-std=gnu11", "-o", exe.toString(),
                "-I" + src.resolve("include"), "-I" + src.resolve("ggml/include"), "-I" + root.resolve("native/include"),
                root.resolve("bindings/generator/layout_check.c").toString()), root, 300);
        assertEquals(0, compile.exitCode(), "compiling layout_check.c failed:\n" + compile.output());
        var run = GeneratorSupport.run(List.of(exe.toString()), tmp, 60);
        assertEquals(0, run.exitCode(), "layout_check failed:\n" + run.output());

        List<String> mismatches = new ArrayList<>();
        Map<String, GroupLayout> layouts = new HashMap<>();
        Set<String> seenStructs = new LinkedHashSet<>();
        int fields = 0;
        for (String line : run.output().split("\n")) {
            line = line.strip();
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split(" ");
            String cls = parts[0];
            Class<?> c = Class.forName(StructClasses.PACKAGE + "." + cls.replace('.', '$'));
            GroupLayout layout = layouts.computeIfAbsent(cls, k -> StructClasses.layoutOf(c));
            if (parts[1].equals("sizeof")) {
                seenStructs.add(cls);
                long size = Long.parseLong(parts[2]);
                if (layout.byteSize() != size) {
                    mismatches.add(cls + ": layout().byteSize() " + layout.byteSize() + ", C sizeof " + size);
                }
                continue;
            }
            fields++;
            String[] path = parts[1].split("/");
            long offset = Long.parseLong(parts[2]);
            long size = Long.parseLong(parts[3]);
            MemoryLayout.PathElement[] elements = Arrays.stream(path).map(MemoryLayout.PathElement::groupElement)
                    .toArray(MemoryLayout.PathElement[]::new);
            long javaOffset;
            long javaSize;
            try {
                javaOffset = layout.byteOffset(elements);
                javaSize = layout.select(elements).byteSize();
            } catch (IllegalArgumentException e) {
                mismatches.add(cls + "." + parts[1] + ": not in the Java layout (" + e.getMessage() + ")");
                continue;
            }
            if (javaOffset != offset) {
                mismatches.add(cls + "." + parts[1] + ": Java offset " + javaOffset + ", C offsetof " + offset);
            }
            if (javaSize != size) {
                mismatches.add(cls + "." + parts[1] + ": Java size " + javaSize + ", C sizeof " + size);
            }
            String field = path[path.length - 1];
            try {
                Method m = c.getMethod(field + "$offset");
                long accessorOffset = (long) m.invoke(null);
                if (accessorOffset != offset) {
                    mismatches.add(cls + "." + field + "$offset() " + accessorOffset + ", C offsetof " + offset);
                }
            } catch (NoSuchMethodException e) {
                mismatches.add(cls + ": no accessor " + field + "$offset()");
            }
        }
        for (String s : StructClasses.structNames()) {
            if (!seenStructs.contains(s)) {
                mismatches.add(s + ": bound (symbols.txt) but not checked by layout_check.c");
            }
        }
        if (!mismatches.isEmpty()) {
            fail(mismatches.size() + " layout mismatch(es):\n  " + String.join("\n  ", mismatches));
        }
        if (seenStructs.size() < 30 || fields < 150) {
            fail("layout_check.c checked suspiciously little: " + seenStructs.size() + " structs, " + fields + " fields");
        }
    }
}
