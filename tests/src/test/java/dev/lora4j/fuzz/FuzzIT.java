package dev.lora4j.fuzz;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.LoraTargets;
import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufValueType;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import dev.lora4j.gguf.ProgressListener;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Coverage-guided fuzzing with Jazzer (libFuzzer): each target runs in its own JVM for
 * {@code -Dlora4j.fuzz.seconds} (default 15: the CI smoke; use 600+ on demand) and must end without a finding — an
 * uncaught exception other than the library's typed ones, an assertion of the target, a timeout, or a JVM crash.
 * Corpora persist in {@code tests/target/fuzz/<target>/corpus}, so repeated runs go deeper; findings are written
 * to {@code tests/target/fuzz/<target>/artifacts}. The report (executions, coverage, outcomes) goes to the output
 * and to {@code tests/target/fuzz/report.md}.
 *
 * <pre>mvn -q -B install -pl tests -Dtest=FuzzIT -Dlora4j.fuzz.seconds=600 [-Dlora4j.fuzz.targets=ModelLoadFuzz,...]</pre>
 */
class FuzzIT {
    static final List<String> TARGETS = List.of("GgufReaderFuzz", "ModelLoadFuzz", "AdapterLoadFuzz", "TokenizerFuzz",
            "TrainingDataFuzz", "MergeFuzz", "CheckpointFuzz");

    static Path work;
    static Path shared;
    static Path base;

    @BeforeAll
    static void prepare() throws IOException {
        Path root = Path.of(System.getProperty("lora4j.root", "..")).toAbsolutePath().normalize();
        shared = root.resolveSibling("shared");
        Requires.that(Files.isDirectory(shared.resolve("models")),
                "needs ../shared/models beside the checkout (CI has it): the fuzz seeds are its models");
        work = Path.of(System.getProperty("lora4j.fuzz.dir", root.resolve("tests/target/fuzz").toString()));
        Files.createDirectories(work);
        base = shared.resolve("models/stories260K.gguf");
        seedModels(work.resolve("models"));
        seedAdapters(work.resolve("adapters"));
        seedReader(work.resolve("reader-seeds"));
        seedCheckpoints(work.resolve("checkpoints"));
        Files.createDirectories(work.resolve("scratch"));
    }

    /** The shared models, and llama models built here in F32, Q8_0 and Q4_0 with grouped-query attention. */
    static void seedModels(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (var s = Files.list(shared.resolve("models"))) {
            for (Path p : s.filter(p -> p.toString().endsWith(".gguf") && !p.getFileName().toString().startsWith(".")).toList()) {
                Path link = dir.resolve(p.getFileName());
                if (!Files.exists(link)) {
                    Files.createSymbolicLink(link, p);
                }
            }
        }
        try (GgufFile vocab = GgufFile.open(base)) {
            ModelSpec spec = new ModelSpec("fuzz-gqa", ModelBuilder.vocabSize(vocab), 32, 2, 4, 2, 64, 128,
                    10000f, 1e-5f, false);
            for (GgmlType t : List.of(GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0)) {
                Path out = dir.resolve("built-gqa-" + t.name().toLowerCase(Locale.ROOT) + ".gguf");
                if (!Files.exists(out)) {
                    ModelBuilder.write(spec, vocab, out, t, 7, ProgressListener.NONE);
                }
            }
        }
    }

    /** Adapters for stories260K (all-linear r4, q/v r2 with lm_head) and one for another base (TinyStories-656K). */
    static void seedAdapters(Path dir) throws IOException {
        Files.createDirectories(dir);
        try (GgufFile b = GgufFile.open(base); GgufFile other = GgufFile.open(shared.resolve("models/TinyStories-656K.f16.gguf"))) {
            write(dir.resolve("all-linear-r4.gguf"), LoraAdapterWriter.random(b, List.of(LoraTargets.ALL_LINEAR), 4, 8, 0.1f, 0.1f, 1));
            write(dir.resolve("qv-lmhead-r2.gguf"), LoraAdapterWriter.random(b, List.of("q", "v", "lm_head"), 2, 2, 0.1f, 0.1f, 2));
            write(dir.resolve("other-base.gguf"), LoraAdapterWriter.random(other, List.of("q", "o"), 2, 4, 0.1f, 0.1f, 3));
        }
    }

    private static void write(Path p, LoraAdapterWriter w) {
        if (!Files.exists(p)) {
            w.write(p);
        }
    }

    /** Checkpoints of stories260K (q,v r2 and all-linear r4), made with {@link CheckpointFuzz#CONFIG}. */
    static void seedCheckpoints(Path dir) throws IOException {
        Files.createDirectories(dir);
        int[] tokens = new int[16];
        int[] labels = new int[16];
        for (int i = 0; i < 16; i++) {
            tokens[i] = 1 + i * 7;
            labels[i] = 1 + (i + 1) * 7;
        }
        List<dev.lora4j.train.TrainingSample> samples = List.of(new dev.lora4j.train.TrainingSample(tokens, labels, 0));
        for (var lora : List.of(dev.lora4j.train.LoraConfig.defaults().withR(2),
                dev.lora4j.train.LoraConfig.defaults().withR(4).withTargetModules(List.of(LoraTargets.ALL_LINEAR)))) {
            Path out = dir.resolve("r" + lora.r() + ".gguf");
            if (!Files.exists(out)) {
                try (dev.lora4j.train.LoraTrainer t = dev.lora4j.train.LoraTrainer.create(base, lora,
                        CheckpointFuzz.CONFIG.toBuilder().maxSteps(2).build())) {
                    t.train(samples, List.of(), null);
                    t.saveCheckpoint(out);
                }
            }
        }
    }

    /** Small complete GGUFs: every metadata type and five tensor types; the metadata of a real model; version 2. */
    static void seedReader(Path dir) throws IOException {
        Files.createDirectories(dir);
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama").putUint32("u32", 7).putInt32("i32", -7)
                .put("u8", GgufValue.ofUint8(200)).put("i16", GgufValue.ofInt16(-300)).putUint64("u64", 1L << 40)
                .put("f64", GgufValue.ofFloat64(0.5)).putFloat32("f32", 1.5f).putBool("b", true)
                .put("strings", GgufValue.ofStringArray(List.of("a", "ü", "")))
                .put("ints", GgufValue.ofIntArray(GgufValueType.INT32, new int[] {1, 2, 3}))
                .put("nested", GgufValue.ofArrayArray(List.of(GgufValue.ofFloatArray(new float[] {1f}))));
        float[] x = new float[64];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) Math.sin(i);
        }
        for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
            w.addTensor("t." + t.name(), t, new long[] {32, 2}, GgmlQuant.quantize(t, x));
        }
        w.write(dir.resolve("all-types.gguf"));
        try (GgufFile f = GgufFile.open(base)) {
            GgufWriter m = new GgufWriter();
            f.metadata().forEach(m::put);
            m.trailingPadding(false).write(dir.resolve("stories260K-metadata.gguf"));
        }
        new GgufWriter().version(2).putString("general.name", "v2").addTensor("v", GgmlType.F32, new long[] {4},
                new byte[16]).write(dir.resolve("v2.gguf"));
    }

    @Test
    void fuzz() throws Exception {
        List<String> failures = campaign(Integer.getInteger("lora4j.fuzz.seconds", 15),
                List.of(System.getProperty("lora4j.fuzz.targets", String.join(",", TARGETS)).split(",")));
        assertTrue(failures.isEmpty(), "fuzzing found:\n" + String.join("\n\n", failures));
    }

    /**
     * A longer campaign outside Maven (same targets, corpora and report):
     * {@code java -cp <test class path> -Dlora4j.root=. dev.lora4j.fuzz.FuzzIT SECONDS [TARGET,...]}.
     */
    public static void main(String[] args) throws Exception {
        prepare();
        List<String> failures = campaign(Integer.parseInt(args[0]),
                List.of((args.length > 1 ? args[1] : String.join(",", TARGETS)).split(",")));
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    /** Runs the targets one after the other; returns the findings (empty when none). */
    static List<String> campaign(int seconds, List<String> targets) throws Exception {
        List<String> failures = new ArrayList<>();
        StringBuilder report = new StringBuilder(String.format(Locale.ROOT,
                "| target | seconds (wall) | executions | exec/s | coverage (edges) | features | corpus | outcomes | result |%n"
                        + "|---|---:|---:|---:|---:|---:|---:|---|---|%n"));
        long total = 0;
        for (String t : targets) {
            Run r = run(t.strip(), seconds);
            total += r.executions;
            report.append(String.format(Locale.ROOT, "| %s | %d | %,d | %,d | %d | %d | %d | %s | %s |%n", r.target, r.seconds,
                    r.executions, r.executions / Math.max(1, r.seconds), r.coverage, r.features, r.corpus, r.outcomes,
                    r.exit == 0 ? "no finding" : "FINDING (exit " + r.exit + ")"));
            if (r.exit != 0) {
                failures.add(r.target + " (exit " + r.exit + "):\n" + r.finding);
            }
            Files.writeString(work.resolve("report.md"), report);
        }
        report.append(String.format(Locale.ROOT, "%nTotal: %,d executions, %d finding(s).%n", total, failures.size()));
        Files.writeString(work.resolve("report.md"), report);
        System.out.println("Fuzzing (Jazzer), " + seconds + " s per target:\n" + report);
        return failures;
    }

    record Run(String target, int exit, long seconds, long executions, long coverage, long features, long corpus, String outcomes,
               String finding) {}

    private static final Pattern DONE = Pattern.compile("#(\\d+)\\s+DONE\\s+cov: (\\d+) ft: (\\d+) corp: (\\d+)");
    private static final Pattern PROGRESS = Pattern.compile("#(\\d+)\\s+\\w+\\s+cov: (\\d+) ft: (\\d+) corp: (\\d+)");

    static Run run(String target, int seconds) throws Exception {
        Path dir = work.resolve(target);
        Path corpus = Files.createDirectories(dir.resolve("corpus"));
        Path artifacts = Files.createDirectories(dir.resolve("artifacts"));
        Path stats = dir.resolve("outcomes.txt");
        Files.deleteIfExists(stats);
        Path log = dir.resolve("jazzer.log");
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xmx2g", "-XX:+EnableDynamicAgentLoading",
                "-Dlora4j.fuzz.models=" + work.resolve("models"),
                "-Dlora4j.fuzz.adapters=" + work.resolve("adapters"),
                "-Dlora4j.fuzz.checkpoints=" + work.resolve("checkpoints"),
                "-Dlora4j.fuzz.vocabs=" + vocabs(),
                "-Dlora4j.fuzz.base=" + base,
                "-Dlora4j.fuzz.work=" + work.resolve("scratch"),
                "-Dlora4j.fuzz.stats=" + stats,
                "-cp", classPath(),
                "com.code_intelligence.jazzer.Jazzer",
                "--target_class=dev.lora4j.fuzz." + target,
                "--instrumentation_includes=dev.lora4j.**",
                "--keep_going=" + Integer.getInteger("lora4j.fuzz.keepGoing", 1),
                "--reproducer_path=" + artifacts, // Jazzer's Crash_<hash>.java reproducers, beside the inputs
                // a fixed seed (default 1) makes the CI smoke repeatable; -Dlora4j.fuzz.seed=0 draws one
                "-seed=" + Long.getLong("lora4j.fuzz.seed", 1),
                "-max_total_time=" + seconds, "-timeout=60", "-rss_limit_mb=8192", "-print_final_stats=1",
                "-artifact_prefix=" + artifacts + "/",
                corpus.toString()));
        if (target.equals("GgufReaderFuzz")) {
            cmd.add(work.resolve("reader-seeds").toString());
            cmd.add("-max_len=65536");
        } else {
            // the structured targets need a few hundred bytes of choices from the start (libFuzzer begins at 4)
            cmd.add("-max_len=2048");
            cmd.add("-len_control=0");
        }
        List<String> before = newFindings(artifacts, List.of());
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(seconds + 300L, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException(target + " did not stop; see " + log);
        }
        long elapsed = (System.nanoTime() - t0) / 1_000_000_000L;
        String out = Files.readString(log, StandardCharsets.ISO_8859_1);
        long execs = 0, cov = 0, ft = 0, corp = 0;
        Matcher m = DONE.matcher(out);
        if (!m.find()) {
            m = PROGRESS.matcher(out);
            while (m.find()) {
                execs = Long.parseLong(m.group(1));
                cov = Long.parseLong(m.group(2));
                ft = Long.parseLong(m.group(3));
                corp = Long.parseLong(m.group(4));
            }
        } else {
            execs = Long.parseLong(m.group(1));
            cov = Long.parseLong(m.group(2));
            ft = Long.parseLong(m.group(3));
            corp = Long.parseLong(m.group(4));
        }
        // with --keep_going the statistics are printed after each finding, cumulatively: the last one counts
        Matcher runs = Pattern.compile("stat::number_of_executed_units: (\\d+)").matcher(out);
        while (runs.find()) {
            execs = Long.parseLong(runs.group(1));
        }
        String outcomes = "";
        if (Files.exists(stats)) {
            // lines "outcome=count"; the outcome may hold ':' and spaces
            outcomes = String.join(", ", Files.readAllLines(stats).stream()
                    .map(l -> l.substring(0, l.lastIndexOf('=')) + " " + l.substring(l.lastIndexOf('=') + 1)).toList());
        }
        String finding = "";
        int exit = p.exitValue();
        // --keep_going ends with exit 0 after findings: its inputs in the artifacts folder say so
        List<String> found = newFindings(artifacts, before);
        if (exit == 0 && !found.isEmpty()) {
            exit = -1;
        }
        if (exit != 0) {
            int i = Math.max(out.indexOf("== Java Exception"), out.indexOf("# A fatal error"));
            finding = (i >= 0 ? out.substring(i, Math.min(out.length(), i + 3000)) : tail(out)) + "\n(log: " + log + ")";
        }
        return new Run(target, exit, elapsed, execs, cov, ft, corp, outcomes, finding);
    }

    /** The crash, timeout and out-of-memory inputs in {@code artifacts} that are not in {@code known}. */
    private static List<String> newFindings(Path artifacts, List<String> known) throws IOException {
        try (var s = Files.list(artifacts)) {
            return s.map(p -> p.getFileName().toString())
                    .filter(n -> n.startsWith("crash-") || n.startsWith("timeout-") || n.startsWith("oom-"))
                    .filter(n -> !known.contains(n)).sorted().toList();
        }
    }

    private static String tail(String s) {
        return s.substring(Math.max(0, s.length() - 3000));
    }

    /** llama.cpp's vocabulary GGUFs (every tokenizer type) from the pinned source the natives were built from. */
    static Path vocabs() throws IOException {
        Path root = Path.of(System.getProperty("lora4j.root", "..")).toAbsolutePath().normalize();
        Properties props = new Properties();
        try (var r = Files.newBufferedReader(root.resolve("native/target/native.properties"))) {
            props.load(r);
        }
        return Path.of(props.getProperty("source")).resolve("models");
    }

    /** This JVM's class path; surefire's manifest-only booter jar is expanded to its entries. */
    static String classPath() throws IOException {
        List<String> entries = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(java.io.File.pathSeparator)) {
            if (e.endsWith(".jar") && e.contains("surefire")) {
                try (JarFile j = new JarFile(e)) {
                    String cp = j.getManifest().getMainAttributes().getValue("Class-Path");
                    if (cp != null) {
                        for (String u : cp.trim().split("\\s+")) {
                            entries.add(Path.of(URI.create(u)).toString());
                        }
                        continue;
                    }
                }
            }
            entries.add(e);
        }
        return String.join(java.io.File.pathSeparator, entries);
    }

}
