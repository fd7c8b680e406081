package dev.lora4j.bench;

import dev.lora4j.gguf.GgmlQuant;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Times {@code llama-export-lora} (F16 output, the only one it writes) against {@code lora4j merge} re-quantising
 * ({@code --type keep}: Q8_0 for a Q8_0 base) and writing F16, on the same base, adapter and threads, in one run;
 * each command runs as its own process under {@code /usr/bin/time} (wall time and peak RSS). The base is a random
 * llama model built with {@code lora4j build-model} (default ~1B parameters, Q8_0) and the adapter an all-linear
 * (attn_q/k/v/output, ffn_gate/up/down of every layer) LoRA of rank r with random A and B. Prints a Markdown table;
 * also checks that lora4j's F16 tensors equal export-lora's byte for byte.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp tests/target/benchmarks.jar dev.lora4j.bench.MergeBenchmark \
 *      [--params 1B] [--type q8_0] [--rank 16] [--threads 2] [--repeat 1] [--dir /tmp/lora4j-merge-bench] [--keep-files]
 * </pre>
 */
public final class MergeBenchmark {
    record Run(String what, String command, double seconds, long peakRssKiB, long outputBytes) {}

    public static void main(String[] args) throws Exception {
        String params = "1B";
        String type = "q8_0";
        int rank = 16;
        int threads = 2;
        int repeat = 1;
        boolean keepFiles = false;
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "lora4j-merge-bench");
        String exportLora = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--params" -> params = args[++i];
                case "--type" -> type = args[++i];
                case "--rank" -> rank = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--repeat" -> repeat = Integer.parseInt(args[++i]);
                case "--dir" -> dir = Path.of(args[++i]);
                case "--export-lora" -> exportLora = args[++i];
                case "--keep-files" -> keepFiles = true;
                default -> {
                    System.err.println("usage: MergeBenchmark [--params 1B] [--type q8_0] [--rank 16] [--threads 2] [--repeat 1] [--dir DIR] "
                            + "[--export-lora PATH] [--keep-files]");
                    System.exit(2);
                }
            }
        }
        if (exportLora == null) {
            exportLora = toolFromNativeBuild("llama-export-lora");
        }
        Files.createDirectories(dir);
        Path base = dir.resolve("base-" + params + "-" + type + ".gguf");
        Path adapter = dir.resolve("lora-r" + rank + "-" + params + ".gguf");
        if (!Files.exists(base)) {
            System.err.println("building " + base + " ...");
            int rc = dev.lora4j.cli.Main.run("build-model", "--params", params, "--type", type, "-o", base.toString(), "-t",
                    String.valueOf(threads));
            if (rc != 0) {
                throw new IllegalStateException("build-model failed: " + rc);
            }
        }
        if (!Files.exists(adapter)) {
            System.err.println("writing " + adapter + " ...");
            writeAllLinearAdapter(base, adapter, rank, 16f, 1);
        }
        warm(base);
        warm(adapter);

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String cp = System.getProperty("java.class.path");
        Path ref = dir.resolve("export-lora-f16.gguf");
        Path keep = dir.resolve("lora4j-keep.gguf");
        Path f16 = dir.resolve("lora4j-f16.gguf");
        List<Run> runs = new ArrayList<>();
        for (int r = 0; r < repeat; r++) {
            runs.add(timed("llama-export-lora (F16 out)", List.of(exportLora, "-m", base.toString(), "--lora", adapter.toString(), "-o",
                    ref.toString(), "-t", String.valueOf(threads)), ref));
            runs.add(timed("lora4j merge --type keep (" + type.toUpperCase(Locale.ROOT) + " out, re-quantised)", List.of(java,
                    "--enable-native-access=ALL-UNNAMED", "-cp", cp, "dev.lora4j.cli.MergeCommand", "--base", base.toString(), "--lora",
                    adapter.toString(), "--out", keep.toString(), "--type", "keep", "-t", String.valueOf(threads), "--quiet"), keep));
            runs.add(timed("lora4j merge --type f16", List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", cp,
                    "dev.lora4j.cli.MergeCommand", "--base", base.toString(), "--lora", adapter.toString(), "--out", f16.toString(), "--type",
                    "f16", "-t", String.valueOf(threads), "--quiet"), f16));
            if (r < repeat - 1) {
                Files.deleteIfExists(keep);
                Files.deleteIfExists(f16);
                Files.deleteIfExists(ref);
            }
        }
        String identical = compareTensors(f16, ref);

        long nParams;
        try (GgufFile f = GgufFile.open(base)) {
            nParams = f.tensors().stream().mapToLong(GgufTensorInfo::elementCount).sum();
        }
        StringBuilder t = new StringBuilder();
        t.append(String.format(Locale.ROOT, "Base: %s (%,d parameters, %s, %,d bytes); adapter: all-linear r=%d (%,d bytes, F32); %d threads; "
                + "%s%n%n", base.getFileName(), nParams, type.toUpperCase(Locale.ROOT), Files.size(base), rank, Files.size(adapter), threads,
                "lora4j F16 tensors vs export-lora's: " + identical));
        t.append("| run | wall s | peak RSS MiB | output MiB |\n|---|---:|---:|---:|\n");
        for (Run r : runs) {
            t.append(String.format(Locale.ROOT, "| %s | %.2f | %,d | %,d |%n", r.what, r.seconds, r.peakRssKiB / 1024, r.outputBytes >> 20));
        }
        System.out.println();
        System.out.print(t);
        if (!keepFiles) {
            for (Path p : List.of(ref, keep, f16)) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** Runs a command under /usr/bin/time; wall seconds (our clock) and peak RSS (time's %M). */
    static Run timed(String what, List<String> command, Path output) throws IOException, InterruptedException {
        Files.deleteIfExists(output);
        List<String> cmd = new ArrayList<>(List.of("/usr/bin/time", "-f", "LORA4J_TIME %e %M"));
        cmd.addAll(command);
        System.err.println("running: " + String.join(" ", command));
        Path log = Files.createTempFile("merge-bench", ".log");
        long t0 = System.nanoTime();
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        int rc = p.waitFor();
        double seconds = (System.nanoTime() - t0) / 1e9;
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Files.deleteIfExists(log);
        if (rc != 0) {
            throw new IllegalStateException(what + " failed (" + rc + "):\n" + out);
        }
        Matcher m = Pattern.compile("LORA4J_TIME ([0-9.]+) ([0-9]+)").matcher(out);
        long rss = m.find() ? Long.parseLong(m.group(2)) : -1;
        System.err.printf(Locale.ROOT, "  %.2f s, peak RSS %,d KiB%n", seconds, rss);
        return new Run(what, String.join(" ", command), seconds, rss, Files.size(output));
    }

    /** Reads a file once so that every run finds it in the page cache. */
    static void warm(Path p) throws IOException {
        byte[] buf = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(p)) {
            while (in.read(buf) >= 0) {
                // reading
            }
        }
    }

    static String compareTensors(Path ours, Path ref) {
        int same = 0;
        List<String> differ = new ArrayList<>();
        try (GgufFile a = GgufFile.open(ours); GgufFile b = GgufFile.open(ref)) {
            for (GgufTensorInfo t : b.tensors()) {
                var ta = a.tensor(t.name());
                if (ta.isPresent() && ta.get().type() == t.type() && a.tensorData(t.name()).mismatch(b.tensorData(t.name())) == -1) {
                    same++;
                } else {
                    differ.add(t.name());
                }
            }
        }
        return differ.isEmpty() ? "all " + same + " tensors byte-identical" : differ.size() + " tensors differ, e.g. " + differ.get(0);
    }

    /** A LoRA adapter of rank r on every attn_q/k/v/output and ffn_gate/up/down of the base: A ~ N(0, 0.02), B ~ N(0, 0.02). */
    static void writeAllLinearAdapter(Path base, Path out, int rank, float alpha, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        GgufWriter w = new GgufWriter();
        w.putString("general.type", "adapter");
        try (GgufFile f = GgufFile.open(base)) {
            w.putString("general.architecture", f.architecture().orElseThrow());
            w.putString("adapter.type", "lora");
            w.putFloat32("adapter.lora.alpha", alpha);
            for (GgufTensorInfo t : f.tensors()) {
                if (!t.name().matches("blk\\.\\d+\\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\\.weight")) {
                    continue;
                }
                long nIn = t.ne(0);
                long nOut = t.ne(1);
                w.addTensor(t.name() + ".lora_a", GgmlType.F32, new long[] {nIn, rank}, GgmlQuant.quantize(GgmlType.F32, gaussian(rnd, nIn * rank, 0.02)));
                w.addTensor(t.name() + ".lora_b", GgmlType.F32, new long[] {rank, nOut}, GgmlQuant.quantize(GgmlType.F32, gaussian(rnd, rank * nOut, 0.02)));
            }
            w.write(out);
        }
    }

    static float[] gaussian(SplittableRandom rnd, long n, double std) {
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (rnd.nextGaussian() * std);
        }
        return v;
    }

    static String toolFromNativeBuild(String name) throws IOException {
        for (Path root = Path.of("").toAbsolutePath(); root != null; root = root.getParent()) {
            Path p = root.resolve("native/target/native.properties");
            if (Files.isRegularFile(p)) {
                Properties props = new Properties();
                try (var r = Files.newBufferedReader(p)) {
                    props.load(r);
                }
                return Path.of(props.getProperty("bin")).resolve(name).toString();
            }
        }
        throw new IllegalStateException("no native/target/native.properties above the working directory; pass --export-lora PATH");
    }
}
