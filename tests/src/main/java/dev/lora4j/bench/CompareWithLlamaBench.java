package dev.lora4j.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs {@link InferenceBenchmark} (JMH) and {@code llama-bench} (built from the same source and flags) on the same
 * models and threads (llama-bench before and after lora4j), and prints a Markdown table of tokens/s with the ratio lora4j/llama.cpp.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp tests/target/benchmarks.jar dev.lora4j.bench.CompareWithLlamaBench \
 *      --llama-bench PATH --threads 2 MODEL.gguf [MODEL.gguf ...]
 * </pre>
 */
public final class CompareWithLlamaBench {
    record Figure(double tokensPerSecond, double error) {}

    public static void main(String[] args) throws Exception {
        String llamaBench = null;
        int threads = 2;
        int pp = 128;
        int tg = 32;
        int iterations = 5;
        List<String> models = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--llama-bench" -> llamaBench = args[++i];
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--pp" -> pp = Integer.parseInt(args[++i]);
                case "--tg" -> tg = Integer.parseInt(args[++i]);
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                default -> models.add(args[i]);
            }
        }
        if (llamaBench == null || models.isEmpty()) {
            System.err.println("usage: CompareWithLlamaBench --llama-bench PATH [--threads N] [--pp N] [--tg N] [--iterations N] MODEL...");
            System.exit(2);
        }
        StringBuilder table = new StringBuilder();
        table.append("| model | test | llama.cpp tok/s | lora4j tok/s | lora4j / llama.cpp |\n|---|---|---:|---:|---:|\n");
        for (String model : models) {
            // llama-bench before and after the JMH run: this machine's speed drifts, so the reference is the mean of
            // both, with their spread counted in its error
            Figure[] before = llamaBench(llamaBench, model, threads, pp, tg, iterations);
            Figure[] ours = jmh(model, threads, pp, tg, iterations);
            Figure[] after = llamaBench(llamaBench, model, threads, pp, tg, iterations);
            Figure[] ref = {mean(before[0], after[0]), mean(before[1], after[1])};
            String name = Path.of(model).getFileName().toString();
            row(table, name, "pp" + pp, ref[0], ours[0]);
            row(table, name, "tg" + tg, ref[1], ours[1]);
            System.out.print(table);
        }
        System.out.println();
        System.out.println(table);
    }

    private static Figure mean(Figure a, Figure b) {
        double m = (a.tokensPerSecond + b.tokensPerSecond) / 2;
        double spread = Math.abs(a.tokensPerSecond - b.tokensPerSecond) / 2;
        return new Figure(m, Math.max(spread, Math.max(a.error, b.error)));
    }

    private static void row(StringBuilder t, String model, String test, Figure ref, Figure ours) {
        t.append(String.format(Locale.ROOT, "| %s | %s | %.1f ± %.1f | %.1f ± %.1f | %.1f%% |%n", model, test,
                ref.tokensPerSecond, ref.error, ours.tokensPerSecond, ours.error, 100 * ours.tokensPerSecond / ref.tokensPerSecond));
    }

    static Figure[] llamaBench(String exe, String model, int threads, int pp, int tg, int reps) throws IOException, InterruptedException {
        Path out = Files.createTempFile("llama-bench", ".json");
        try {
            Process p = new ProcessBuilder(exe, "-m", model, "-t", String.valueOf(threads), "-p", String.valueOf(pp),
                    "-n", String.valueOf(tg), "-r", String.valueOf(reps), "-o", "json")
                    .redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            if (p.waitFor() != 0) {
                throw new IllegalStateException("llama-bench failed on " + model);
            }
            JsonArray results = JsonParser.parseString(Files.readString(out, StandardCharsets.UTF_8)).getAsJsonArray();
            Figure ppF = null;
            Figure tgF = null;
            for (JsonElement e : results) {
                JsonObject o = e.getAsJsonObject();
                Figure f = new Figure(o.get("avg_ts").getAsDouble(), o.get("stddev_ts").getAsDouble());
                if (o.get("n_prompt").getAsInt() > 0) {
                    ppF = f;
                } else {
                    tgF = f;
                }
            }
            return new Figure[] {ppF, tgF};
        } finally {
            Files.deleteIfExists(out);
        }
    }

    static Figure[] jmh(String model, int threads, int pp, int tg, int iterations) throws Exception {
        Options opt = new OptionsBuilder()
                .include(InferenceBenchmark.class.getName())
                .param("model", model).param("threads", String.valueOf(threads))
                .param("promptTokens", String.valueOf(pp)).param("genTokens", String.valueOf(tg))
                .forks(1).warmupIterations(2).warmupTime(TimeValue.seconds(2))
                .measurementIterations(iterations).measurementTime(TimeValue.seconds(2))
                .jvmArgsAppend("--enable-native-access=ALL-UNNAMED")
                .build();
        Collection<RunResult> results = new Runner(opt).run();
        Figure ppF = null;
        Figure tgF = null;
        for (RunResult r : results) {
            double msPerOp = r.getPrimaryResult().getScore();
            double err = r.getPrimaryResult().getScoreError();
            boolean isPp = r.getParams().getBenchmark().endsWith("promptProcessing");
            int n = isPp ? pp : tg;
            double ts = n * 1000.0 / msPerOp;
            double tsErr = Double.isNaN(err) ? 0 : ts * err / msPerOp;
            if (isPp) {
                ppF = new Figure(ts, tsErr);
            } else {
                tgF = new Figure(ts, tsErr);
            }
        }
        return new Figure[] {ppF, tgF};
    }
}
