package dev.lora4j.loader;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Loads lora4j's native libraries (llama.cpp, ggml and the lora4j shim) once per JVM and gives the generated
 * bindings their {@link SymbolLookup}.
 *
 * <p>The libraries come from the {@code lora4j-natives} jar: {@code dev/lora4j/native/<os>-<arch>/} holds one
 * file per library named by its SONAME and {@code load-order.txt} (dependencies first). They are extracted
 * into one private temporary directory (so their SONAME links resolve to each other) and loaded with
 * {@link System#load} in that order. {@code -Dlora4j.native.dir=DIR} loads them from a directory of the same
 * shape instead (a development build).
 */
public final class NativeLibraries {
    private static final String RESOURCE_ROOT = "dev/lora4j/native/";
    private static volatile SymbolLookup lookup;
    private static volatile Path directory;

    private NativeLibraries() {}

    /** Loads the natives if that has not happened yet, and returns the lookup over them. */
    public static SymbolLookup lookup() {
        SymbolLookup l = lookup;
        if (l == null) {
            synchronized (NativeLibraries.class) {
                l = lookup;
                if (l == null) {
                    directory = load();
                    l = SymbolLookup.loaderLookup().or(Linker.nativeLinker().defaultLookup());
                    lookup = l;
                }
            }
        }
        return l;
    }

    /** The directory the natives were loaded from (loading them first if needed). */
    public static Path directory() {
        lookup();
        return directory;
    }

    /** {@code <os>-<arch>} as the natives jar names its folders, e.g. {@code linux-x86_64}. */
    public static String platform() {
        String os = System.getProperty("os.name").toLowerCase(Locale.ROOT);
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "darwin" : os.contains("win") ? "windows" : os;
        String arch = System.getProperty("os.arch").toLowerCase(Locale.ROOT);
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    private static Path load() {
        String dirProperty = System.getProperty("lora4j.native.dir");
        Path dir = dirProperty != null ? Path.of(dirProperty) : extract();
        Path order = dir.resolve("load-order.txt");
        List<String> names;
        try {
            names = Files.readAllLines(order, StandardCharsets.UTF_8).stream().map(String::strip).filter(s -> !s.isEmpty()).toList();
        } catch (IOException e) {
            throw new UncheckedIOException("lora4j: cannot read " + order, e);
        }
        for (String name : names) {
            Path lib = dir.resolve(name);
            try {
                System.load(lib.toAbsolutePath().toString());
            } catch (UnsatisfiedLinkError e) {
                throw new UnsatisfiedLinkError("lora4j: cannot load native library " + lib + ": " + e.getMessage());
            }
        }
        return dir;
    }

    private static Path extract() {
        String base = RESOURCE_ROOT + platform() + "/";
        ClassLoader cl = NativeLibraries.class.getClassLoader();
        List<String> names = new ArrayList<>();
        try (InputStream in = cl.getResourceAsStream(base + "load-order.txt")) {
            if (in == null) {
                throw new UnsatisfiedLinkError("lora4j: no native libraries for platform " + platform()
                        + " on the class path (expected " + base + "load-order.txt in lora4j-natives); build them with"
                        + " native/build.sh, or point -Dlora4j.native.dir at a directory holding them");
            }
            new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().map(String::strip).filter(s -> !s.isEmpty()).forEach(names::add);
        } catch (IOException e) {
            throw new UncheckedIOException("lora4j: cannot read the native load order", e);
        }
        try {
            Path dir = Files.createTempDirectory("lora4j-native-");
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteQuietly(dir), "lora4j-native-cleanup"));
            for (String name : names) {
                try (InputStream in = cl.getResourceAsStream(base + name)) {
                    if (in == null) {
                        throw new UnsatisfiedLinkError("lora4j: " + base + name + " is listed in load-order.txt but missing");
                    }
                    Files.copy(in, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Files.writeString(dir.resolve("load-order.txt"), String.join("\n", names) + "\n");
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("lora4j: cannot extract the native libraries to a temporary directory", e);
        }
    }

    private static void deleteQuietly(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException | RuntimeException ignored) {
            // best effort at exit
        }
    }
}
