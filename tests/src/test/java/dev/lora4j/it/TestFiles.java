package dev.lora4j.it;

import dev.lora4j.cli.Main;
import dev.lora4j.testsupport.Requires;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/** Where the tests find real files: ../shared (models, data), the native build's tools and the pinned source. */
final class TestFiles {
    private TestFiles() {}

    static Path root() {
        return Path.of(System.getProperty("lora4j.root", "..")).toAbsolutePath().normalize();
    }

    /**
     * Whether this CPU has BF16 dot products (x86's AVX512-BF16), which ggml's CPU backend, built for the CPU it runs
     * on (GGML_NATIVE), then uses: the training copies of the base weights depend on it.
     */
    static boolean cpuHasBf16DotProducts() {
        try (Stream<String> lines = Files.lines(Path.of("/proc/cpuinfo"))) {
            return lines.anyMatch(l -> l.startsWith("flags") && List.of(l.split("\\s+")).contains("avx512_bf16"));
        } catch (IOException e) {
            return false;
        }
    }

    /** ../shared beside the checkout: CI has it, a user's fresh machine does not. */
    static Path shared() {
        Path s = root().resolveSibling("shared");
        Requires.that(Files.isDirectory(s.resolve("models")), "needs ../shared/models beside the checkout (CI has it)");
        return s;
    }

    static Path sharedModel(String name) {
        Path p = shared().resolve("models").resolve(name);
        Requires.that(Files.isRegularFile(p), "needs " + p);
        return p;
    }

    static List<Path> sharedModels() {
        try (Stream<Path> s = Files.list(shared().resolve("models"))) {
            return s.filter(p -> p.toString().endsWith(".gguf") && !p.getFileName().toString().startsWith(".")).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Properties nativeBuild() {
        Path p = root().resolve("native/target/native.properties");
        Properties props = new Properties();
        try {
            props.load(Files.newBufferedReader(p));
        } catch (IOException e) {
            throw new UncheckedIOException("the native build has not run (no " + p + ")", e);
        }
        return props;
    }

    /** A llama.cpp tool built from the same source and flags as the libraries (llama-completion, llama-bench, ...). */
    static Path tool(String name) {
        Path p = Path.of(nativeBuild().getProperty("bin")).resolve(name);
        if (!Files.isExecutable(p)) {
            throw new IllegalStateException("llama.cpp tool " + p + " is missing; rebuild the natives");
        }
        return p;
    }

    static Path llamaSource() {
        return Path.of(nativeBuild().getProperty("source"));
    }

    /** The command line of the CLI ({@code dev.lora4j.cli.Main}) in a JVM of its own: this JVM's class path and natives. */
    static List<String> cli(Object... args) {
        return javaCommand("dev.lora4j.cli.Main", args);
    }

    /** The command line of {@code mainClass} in a JVM of its own, with this JVM's class path and native directory. */
    static List<String> javaCommand(String mainClass, Object... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        String dir = System.getProperty("lora4j.native.dir");
        if (dir != null) {
            cmd.add("-Dlora4j.native.dir=" + dir);
        }
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(cmd(args));
        return cmd;
    }

    record Result(int exit, String stdout, String stderr) {}

    /**
     * Runs the CLI in this JVM ({@code Main.run}) with its stdout and stderr captured: one run at a time, since
     * {@code System.out} and {@code System.err} are the JVM's.
     */
    static synchronized Result cliInProcess(Object... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = Main.run(cmd(args).toArray(String[]::new));
            return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static Result run(List<String> command, long timeoutSeconds) {
        try {
            Path out = Files.createTempFile("lora4j-it", ".out");
            Path err = Files.createTempFile("lora4j-it", ".err");
            try {
                Process p = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
                p.getOutputStream().close();
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                    throw new IllegalStateException("timed out: " + command);
                }
                return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
            } finally {
                Files.deleteIfExists(out);
                Files.deleteIfExists(err);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /**
     * Asserts that {@code llama-completion} (greedy: {@code --temp 0 -no-cnv --no-display-prompt -t 2 --no-warmup}
     * and {@code args}) prints {@code expected}, then nothing but blanks. It prints through an asynchronous log thread;
     * on a loaded machine its last piece is sometimes lost at exit (a truncated stdout, seen once in CI): it is run
     * again then, at most twice.
     */
    static void assertLlamaCompletionPrints(String expected, String what, Object... args) {
        List<String> command = cmd(tool("llama-completion"), "--temp", 0, "-no-cnv", "--no-display-prompt", "-t", 2, "--no-warmup");
        command.addAll(cmd(args));
        Result ref = null;
        for (int attempt = 0; attempt < 3; attempt++) {
            ref = run(command, 120);
            org.junit.jupiter.api.Assertions.assertEquals(0, ref.exit(), what + ": llama-completion failed: " + ref.stderr());
            if (!(expected.startsWith(ref.stdout()) && expected.length() > ref.stdout().length())) {
                break;
            }
        }
        org.junit.jupiter.api.Assertions.assertTrue(ref.stdout().startsWith(expected) && ref.stdout().substring(expected.length()).isBlank(),
                what + ":\n llama.cpp: [" + ref.stdout() + "]\n lora4j:    [" + expected + "]");
    }

    static List<String> cmd(Object... parts) {
        List<String> l = new ArrayList<>();
        for (Object o : parts) {
            l.add(o.toString());
        }
        return l;
    }

    private static final java.lang.invoke.MethodHandle MALLINFO2;

    static {
        java.lang.foreign.Linker linker = java.lang.foreign.Linker.nativeLinker();
        java.lang.foreign.StructLayout mallinfo2 = java.lang.foreign.MemoryLayout.structLayout(
                java.lang.foreign.MemoryLayout.sequenceLayout(10, java.lang.foreign.ValueLayout.JAVA_LONG));
        MALLINFO2 = linker.defaultLookup().find("mallinfo2")
                .map(a -> linker.downcallHandle(a, java.lang.foreign.FunctionDescriptor.of(mallinfo2)))
                .orElse(null);
    }

    /**
     * Bytes of native heap in use (glibc mallinfo2: uordblks + hblkhd): what llama.cpp and ggml allocate with
     * malloc, without the Java heap. -1 where glibc has no mallinfo2.
     */
    static long nativeHeapBytes() {
        if (MALLINFO2 == null) {
            return -1;
        }
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment m = (java.lang.foreign.MemorySegment) MALLINFO2.invokeExact((java.lang.foreign.SegmentAllocator) arena);
            long hblkhd = m.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 4);
            long uordblks = m.getAtIndex(java.lang.foreign.ValueLayout.JAVA_LONG, 7);
            return uordblks + hblkhd;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    /** Resident set size of this process, KiB (Linux). */
    static long rssKiB() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return -1;
    }
}
