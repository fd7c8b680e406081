package dev.lora4j.bindings;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.GroupLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;

/** The bound symbols as symbols.txt lists them, and reflective access to struct classes. */
final class StructClasses {
    static final String PACKAGE = "dev.lora4j.bindings";

    private StructClasses() {}

    /** symbols.txt rows (comments dropped): {@code [name, kind, header-or-reason...]}. */
    static List<String[]> symbols() {
        try {
            return Files.readAllLines(GeneratorSupport.bindingsDir().resolve("symbols.txt"), StandardCharsets.UTF_8).stream()
                    .filter(l -> !l.isBlank() && !l.startsWith("#"))
                    .map(l -> l.split(" ", 3))
                    .toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<String> names(String kind) {
        return symbols().stream().filter(r -> r[1].equals(kind)).map(r -> r[0]).toList();
    }

    static List<String> structNames() {
        return symbols().stream().filter(r -> r[1].equals("struct") || r[1].equals("union")).map(r -> r[0]).toList();
    }

    static GroupLayout layoutOf(Class<?> c) {
        try {
            return (GroupLayout) c.getMethod("layout").invoke(null);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError("cannot call " + c.getName() + ".layout()", e);
        }
    }
}
