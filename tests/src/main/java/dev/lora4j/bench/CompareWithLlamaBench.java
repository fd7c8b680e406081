package dev.lora4j.bench;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Model;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Random;
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
 *      --llama-bench PATH --threads 2 [--paired ROUNDS] MODEL.gguf [MODEL.gguf ...]
 * </pre>
 *
 * With {@code --paired ROUNDS} it does not use JMH: per model, each round runs {@code llama-bench -r ITERATIONS} and
 * the same repetitions through lora4j in this process, timed as llama-bench times them (an empty context per
 * repetition, the mean of the per-repetition rates, after a warm-up run of each test in each round, as each
 * llama-bench run warms up before its repetitions), the two in alternating order; it prints the median over the
 * rounds of the per-round ratio lora4j/llama.cpp, its 95% bootstrap interval and its range. Pairing the rounds takes
 * this VM's drift (5-25% between runs of the same command) out of the ratio.
 */
public final class CompareWithLlamaBench {
    record Figure(double tokensPerSecond, double error) {}

    public static void main(String[] args) throws Exception {
        String llamaBench = null;
        int threads = 2;
        int pp = 128;
        int tg = 32;
        int iterations = 5;
        int rounds = 0;
        List<String> models = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--llama-bench" -> llamaBench = args[++i];
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--pp" -> pp = Integer.parseInt(args[++i]);
                case "--tg" -> tg = Integer.parseInt(args[++i]);
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                case "--paired" -> rounds = Integer.parseInt(args[++i]);
                default -> models.add(args[i]);
            }
        }
        if (llamaBench == null || models.isEmpty()) {
            System.err.println("usage: CompareWithLlamaBench --llama-bench PATH [--threads N] [--pp N] [--tg N] [--iterations N] [--paired ROUNDS] MODEL...");
            System.exit(2);
        }
        if (rounds > 0) {
            paired(llamaBench, models, threads, pp, tg, iterations, rounds);
            return;
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

    static void paired(String exe, List<String> models, int threads, int pp, int tg, int reps, int rounds) throws Exception {
        StringBuilder table = new StringBuilder(String.format(Locale.ROOT,
                "Paired: %d rounds of %d repetitions, %d thread(s); tokens/s are medians over the rounds, the ratio is the median "
                + "of the per-round ratios [its 95%% bootstrap interval] (min-max)%n%n| model | test | llama.cpp tok/s | lora4j tok/s | lora4j / llama.cpp |%n|---|---|---:|---:|---:|%n",
                rounds, reps, threads));
        for (String model : models) {
            double[][] ref = new double[2][rounds];
            double[][] ours = new double[2][rounds];
            try (Model m = Model.load(Path.of(model));
                 Context ctx = m.newContext(ContextParams.defaults().withContextSize(pp + tg).withBatchSize(Math.max(pp, 1))
                         .withThreads(threads).withThreadsBatch(threads))) {
                Random r = new Random(42);
                int[] prompt = r.ints(pp, 0, m.vocabulary().size()).toArray();
                int[] gen = r.ints(tg, 0, m.vocabulary().size()).toArray();
                for (int k = 0; k < rounds; k++) {
                    if (k % 2 == 1) {
                        store(ref, k, llamaBench(exe, model, threads, pp, tg, reps));
                    }
                    double ppRate = 0;
                    double tgRate = 0;
                    ctx.clear();
                    ctx.decode(prompt); // each round's warm-up, as each llama-bench run has its own
                    for (int i = 0; i < reps; i++) {
                        ctx.clear();
                        long t0 = System.nanoTime();
                        ctx.decode(prompt);
                        ppRate += pp / ((System.nanoTime() - t0) * 1e-9) / reps;
                    }
                    ctx.clear();
                    ctx.decode(gen[0]);
                    for (int i = 0; i < reps; i++) {
                        ctx.clear();
                        long t0 = System.nanoTime();
                        for (int t : gen) {
                            ctx.decode(t);
                        }
                        tgRate += tg / ((System.nanoTime() - t0) * 1e-9) / reps;
                    }
                    ours[0][k] = ppRate;
                    ours[1][k] = tgRate;
                    if (k % 2 == 0) {
                        store(ref, k, llamaBench(exe, model, threads, pp, tg, reps));
                    }
                    System.err.printf(Locale.ROOT, "%s round %d: pp%d %.1f vs %.1f, tg%d %.1f vs %.1f tok/s (lora4j vs llama-bench)%n",
                            Path.of(model).getFileName(), k + 1, pp, ours[0][k], ref[0][k], tg, ours[1][k], ref[1][k]);
                }
            }
            String name = Path.of(model).getFileName().toString();
            for (int test = 0; test < 2; test++) {
                double[] m = AdapterStudy.Paired.medianRatio(ours[test], ref[test]);
                double[] ratio = new double[rounds];
                for (int k = 0; k < rounds; k++) {
                    ratio[k] = ours[test][k] / ref[test][k];
                }
                Arrays.sort(ratio);
                table.append(String.format(Locale.ROOT, "| %s | %s | %.1f | %.1f | %.1f%% [%.1f-%.1f%%] (%.1f-%.1f%%) |%n", name,
                        test == 0 ? "pp" + pp : "tg" + tg, AdapterStudy.Paired.median(ref[test]), AdapterStudy.Paired.median(ours[test]),
                        100 * m[0], 100 * m[1], 100 * m[2], 100 * ratio[0], 100 * ratio[rounds - 1]));
            }
        }
        System.out.println();
        System.out.print(table);
    }

    private static void store(double[][] ref, int k, Figure[] f) {
        ref[0][k] = f[0].tokensPerSecond;
        ref[1][k] = f[1].tokensPerSecond;
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
