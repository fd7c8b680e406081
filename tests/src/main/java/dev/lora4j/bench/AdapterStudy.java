package dev.lora4j.bench;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.train.LossPlot;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.geom.AffineTransform;
import java.awt.geom.Line2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;
import org.openjdk.jmh.util.ListStatistics;

/**
 * Runs the {@link AdapterBenchmark} matrix in interleaved rounds and writes {@code results.md} (tables: mean ± 99.9%
 * confidence half-width over all measurement iterations of all rounds, overhead vs the base model in %, and the
 * expected extra FLOPs and weight bytes per token computed from the GGUF shapes), {@code results.csv} (every
 * measurement iteration) and {@code adapter-study.png} (overhead vs base, with error bars) into the output folder.
 *
 * <p>Each round runs, per model, every variant for prompt processing and token generation (one JMH fork each), the
 * hot-swap benchmarks, and the rank × targets sweep (lora1) on the sweep models; odd rounds run models and variants
 * in reverse order, so slow drifts of a shared machine spread over all variants instead of biasing one.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp tests/target/benchmarks.jar dev.lora4j.bench.AdapterStudy \
 *      --out DIR [--cache /tmp/lora4j-adapter-study] [--rounds 2] [--threads 2] [--rank 16] [--targets all]
 *      [--warmup 2] [--iterations 3] [--time 1] [--sweep-model M.gguf ...] [--no-swap] MODEL.gguf ...
 * java ... dev.lora4j.bench.AdapterStudy --out DIR --render DIR/results.csv MODEL.gguf ...   # tables + chart again
 * </pre>
 */
public final class AdapterStudy {
    static final String PP = "promptProcessing128";
    static final String TG = "tokenGeneration";
    static final String ONE = "decodeOneToken";
    static final String SWAP = "hotSwap";
    static final String SET = "setAdaptersOnly";
    static final List<String> VARIANTS = List.of("base", "lora1", "lora2", "lora4", "merged_f16", "merged_keep");

    record Key(String model, String benchmark, String variant, int rank, String targets) {
        static Key of(String model, String benchmark, String variant, int rank, String targets) {
            return variant.equals("base") ? new Key(model, benchmark, variant, 0, "-") : new Key(model, benchmark, variant, rank, targets);
        }
    }

    record Job(Path model, List<String> benchmarks, List<String> variants, List<Integer> ranks, List<String> targets) {}

    record Stat(double mean, double error, long n) {
        static Stat of(ListStatistics s) {
            double e = s.getN() > 1 ? s.getMeanErrorAt(0.999) : Double.NaN;
            return new Stat(s.getMean(), e, s.getN());
        }

        /** this / base - 1 in %, with the relative errors added in quadrature. */
        Stat overheadVs(Stat base) {
            double q = mean / base.mean;
            double e = q * Math.hypot(error / mean, base.error / base.mean);
            return new Stat(100 * (q - 1), 100 * e, Math.min(n, base.n));
        }
    }

    public static void main(String[] args) throws Exception {
        Path out = null;
        Path cache = AdapterBenchmark.cacheDir("");
        Path render = null;
        int rounds = 2;
        int threads = 2;
        int rank = 16;
        String targets = "all";
        int warmup = 2;
        int iterations = 3;
        double time = 1;
        boolean swap = true;
        boolean paired = false;
        int reps = 40;
        List<Path> models = new ArrayList<>();
        List<Path> sweep = new ArrayList<>();
        List<String> variants = new ArrayList<>(VARIANTS);
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--out" -> out = Path.of(args[++i]);
                case "--cache" -> cache = Path.of(args[++i]);
                case "--render" -> render = Path.of(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--rank" -> rank = Integer.parseInt(args[++i]);
                case "--targets" -> targets = args[++i];
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--iterations" -> iterations = Integer.parseInt(args[++i]);
                case "--time" -> time = Double.parseDouble(args[++i]);
                case "--variants" -> variants = List.of(args[++i].split(","));
                case "--sweep-model" -> sweep.add(Path.of(args[++i]));
                case "--no-swap" -> swap = false;
                case "--paired" -> {
                    paired = true;
                }
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                default -> {
                    if (args[i].startsWith("--")) {
                        usage();
                    }
                    models.add(Path.of(args[i]));
                }
            }
        }
        if (out == null || (models.isEmpty() && sweep.isEmpty())) {
            usage();
        }
        Files.createDirectories(out);
        if (paired) {
            String md = Paired.run(models, cache, rank, targets, threads, reps, out.resolve("paired.csv"));
            Files.writeString(out.resolve("paired.md"), md, StandardCharsets.UTF_8);
            System.out.println(md);
            return;
        }
        Map<Key, ListStatistics> stats = new LinkedHashMap<>();
        Path csv = out.resolve("results.csv");
        if (render != null) {
            readCsv(render, stats);
        } else {
            List<Job> jobs = new ArrayList<>();
            for (Path m : models) {
                jobs.add(new Job(m, List.of(PP, TG), variants, List.of(rank), List.of(targets)));
                if (swap) {
                    jobs.add(new Job(m, List.of(ONE, SWAP, SET), List.of("lora1"), List.of(rank), List.of(targets)));
                }
            }
            for (Path m : sweep) {
                jobs.add(new Job(m, List.of(PP, TG), List.of("lora1"), List.of(8, 16, 64), List.of("attn", "all")));
            }
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8))) {
                w.println("round,model,benchmark,variant,rank,targets,iteration,ms_per_op");
                long t0 = System.nanoTime();
                for (int round = 0; round < rounds; round++) {
                    List<Job> order = new ArrayList<>(jobs);
                    if (round % 2 == 1) {
                        java.util.Collections.reverse(order);
                    }
                    for (Job j : order) {
                        List<String> vs = new ArrayList<>(j.variants());
                        if (round % 2 == 1) {
                            java.util.Collections.reverse(vs);
                        }
                        System.err.printf(Locale.ROOT, "[%5.0fs] round %d/%d: %s %s %s r%s %s%n", (System.nanoTime() - t0) / 1e9,
                                round + 1, rounds, j.model().getFileName(), j.benchmarks(), vs, j.ranks(), j.targets());
                        Collection<RunResult> results = run(j, vs, threads, cache, warmup, iterations, time, out.resolve("jmh.log"));
                        for (RunResult rr : results) {
                            for (BenchmarkResult br : rr.getBenchmarkResults()) {
                                var p = br.getParams();
                                String bench = p.getBenchmark().substring(p.getBenchmark().lastIndexOf('.') + 1);
                                Key k = Key.of(name(Path.of(p.getParam("model"))), bench, p.getParam("variant"),
                                        Integer.parseInt(p.getParam("rank")), p.getParam("targets"));
                                int it = 0;
                                for (IterationResult ir : br.getIterationResults()) {
                                    double v = ir.getPrimaryResult().getScore();
                                    stats.computeIfAbsent(k, x -> new ListStatistics()).addValue(v);
                                    w.printf(Locale.ROOT, "%d,%s,%s,%s,%d,%s,%d,%.6g%n", round, k.model(), k.benchmark(), k.variant(),
                                            k.rank(), k.targets(), it++, v);
                                }
                            }
                        }
                        w.flush();
                    }
                }
                System.err.printf(Locale.ROOT, "done in %.0f s%n", (System.nanoTime() - t0) / 1e9);
            }
        }
        List<Path> all = new ArrayList<>(models);
        for (Path s : sweep) {
            if (!all.contains(s)) {
                all.add(s);
            }
        }
        String md = markdown(stats, all, models, sweep, rank, targets, variants);
        Files.writeString(out.resolve("results.md"), md, StandardCharsets.UTF_8);
        System.out.println(md);
        List<String> chartModels = models.stream().map(AdapterStudy::name).toList();
        LossPlot.writePng(render(stats, chartModels, variants, rank, targets), out.resolve("adapter-study.png"));
    }

    private static void usage() {
        System.err.println("usage: AdapterStudy --out DIR [--cache DIR] [--rounds N] [--threads N] [--rank R] [--targets attn|all] "
                + "[--warmup N] [--iterations N] [--time SECONDS] [--variants base,lora1,...] [--sweep-model M ...] [--no-swap] "
                + "[--render results.csv] MODEL...");
        System.exit(2);
    }

    static String name(Path model) {
        return model.getFileName().toString().replaceFirst("\\.gguf$", "");
    }

    private static Collection<RunResult> run(Job j, List<String> variants, int threads, Path cache, int warmup, int iterations,
            double time, Path log) throws Exception {
        String include = "^" + Pattern.quote(AdapterBenchmark.class.getName()) + "\\.(" + String.join("|", j.benchmarks()) + ")$";
        TimeValue t = TimeValue.milliseconds(Math.round(time * 1000));
        ChainedOptionsBuilder o = new OptionsBuilder().include(include)
                .param("model", j.model().toAbsolutePath().toString())
                .param("variant", variants.toArray(String[]::new))
                .param("rank", j.ranks().stream().map(String::valueOf).toArray(String[]::new))
                .param("targets", j.targets().toArray(String[]::new))
                .param("threads", String.valueOf(threads))
                .param("cacheDir", cache.toAbsolutePath().toString())
                .forks(1).warmupIterations(warmup).warmupTime(t).measurementIterations(iterations).measurementTime(t)
                .jvmArgsAppend("--enable-native-access=ALL-UNNAMED")
                .output(log.toString() + ".tmp");
        Collection<RunResult> r = new Runner(o.build()).run();
        // JMH truncates its output file: keep all runs in one log
        Files.writeString(log, Files.readString(log.resolveSibling(log.getFileName() + ".tmp")), StandardCharsets.UTF_8,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        return r;
    }

    private static void readCsv(Path csv, Map<Key, ListStatistics> stats) throws IOException {
        List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
        for (String line : lines.subList(1, lines.size())) {
            String[] f = line.split(",");
            Key k = Key.of(f[1], f[2], f[3], Integer.parseInt(f[4]), f[5]);
            stats.computeIfAbsent(k, x -> new ListStatistics()).addValue(Double.parseDouble(f[7]));
        }
    }

    // ---- expected cost per token, from the GGUF shapes ----

    static final Set<String> LINEAR = Set.of("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down");
    static final Set<String> ATTN = Set.of("attn_q", "attn_k", "attn_v", "attn_output");

    /** Matmul FLOPs and weight bytes per token of the base; what one adapter of rank r adds; the merged F16 model's bytes. */
    record Cost(double baseFlops, double baseBytes, long sumInOutAttn, long sumInOutAll, int nAttn, int nAll, double f16BytesAttn,
            double f16BytesAll, String shape) {
        double loraFlops(int r, String targets) {
            return 2.0 * r * (targets.equals("attn") ? sumInOutAttn : sumInOutAll);
        }

        double loraBytes(int r, String targets) { // F16 A and B
            return 2.0 * r * (targets.equals("attn") ? sumInOutAttn : sumInOutAll);
        }

        int matrices(String targets) {
            return targets.equals("attn") ? nAttn : nAll;
        }

        double mergedF16Bytes(String targets) {
            return targets.equals("attn") ? f16BytesAttn : f16BytesAll;
        }

        static Cost of(Path model) {
            try (GgufFile f = GgufFile.open(model)) {
                double flops = 0;
                double bytes = 0;
                long ioAttn = 0;
                long ioAll = 0;
                int nAttn = 0;
                int nAll = 0;
                double f16Attn = 0;
                double f16All = 0;
                boolean hasOutput = f.tensor("output.weight").isPresent();
                for (GgufTensorInfo t : f.tensors()) {
                    String[] p = t.name().split("\\.");
                    boolean linear = p.length == 4 && p[0].equals("blk") && LINEAR.contains(p[2]) && t.nDims() == 2;
                    boolean head = t.name().equals(hasOutput ? "output.weight" : "token_embd.weight");
                    if (!linear && !head) {
                        continue;
                    }
                    long nIn = t.ne(0);
                    long nOut = t.ne(1);
                    flops += 2.0 * nIn * nOut;
                    bytes += t.byteSize();
                    if (linear) {
                        ioAll += nIn + nOut;
                        nAll++;
                        f16All += 2.0 * nIn * nOut - t.byteSize();
                        if (ATTN.contains(p[2])) {
                            ioAttn += nIn + nOut;
                            nAttn++;
                            f16Attn += 2.0 * nIn * nOut - t.byteSize();
                        }
                    }
                }
                String shape = String.format(Locale.ROOT, "%d layers, n_embd %d, n_ff %d, vocab %d", f.getInt("llama.block_count", 0),
                        f.getInt("llama.embedding_length", 0), f.getInt("llama.feed_forward_length", 0),
                        f.tensor("token_embd.weight").map(x -> (int) x.ne(1)).orElse(0));
                return new Cost(flops, bytes, ioAttn, ioAll, nAttn, nAll, bytes + f16Attn, bytes + f16All, shape);
            }
        }
    }

    // ---- tables ----

    static String fmt(Stat s) {
        if (s == null) {
            return "n/a";
        }
        int d = s.mean >= 100 ? 1 : s.mean >= 10 ? 2 : s.mean >= 1 ? 3 : 4;
        return String.format(Locale.ROOT, "%." + d + "f ± %." + d + "f", s.mean, s.error);
    }

    static String pct(Stat s) {
        return s == null ? "n/a" : String.format(Locale.ROOT, "%+.1f ± %.1f %%", s.mean, s.error);
    }

    static String human(double v) {
        if (v >= 1e9) {
            return String.format(Locale.ROOT, "%.2f G", v / 1e9);
        }
        if (v >= 1e6) {
            return String.format(Locale.ROOT, "%.2f M", v / 1e6);
        }
        if (v >= 1e3) {
            return String.format(Locale.ROOT, "%.1f k", v / 1e3);
        }
        return String.format(Locale.ROOT, "%.0f", v);
    }

    static Stat stat(Map<Key, ListStatistics> stats, Key k) {
        ListStatistics s = stats.get(k);
        return s == null || s.getN() == 0 ? null : Stat.of(s);
    }

    static Stat over(Stat x, Stat base) {
        return x == null || base == null ? null : x.overheadVs(base);
    }

    static String markdown(Map<Key, ListStatistics> stats, List<Path> all, List<Path> models, List<Path> sweep, int rank, String targets,
            List<String> variants) {
        StringBuilder b = new StringBuilder();
        Map<String, Cost> costs = new LinkedHashMap<>();
        for (Path m : all) {
            costs.put(name(m), Cost.of(m));
        }
        b.append("Models (matmul weights per token: all blk linear weights + the output head; token_embd is a row lookup):\n\n");
        b.append("| model | shape | matmul FLOPs/token | matmul weight bytes/token |\n|---|---|---:|---:|\n");
        for (Map.Entry<String, Cost> e : costs.entrySet()) {
            b.append(String.format(Locale.ROOT, "| %s | %s | %s | %sB |%n", e.getKey(), e.getValue().shape(), human(e.getValue().baseFlops()),
                    human(e.getValue().baseBytes())));
        }
        b.append(String.format(Locale.ROOT, "%nVariants (rank %d, targets %s; adapters F16, scale 1; merged = adapter 1 merged). "
                + "pp128 = one 128-token batch (ms per prompt), tg = per generated token (ms, over 32 tokens from an empty context). "
                + "Δ = vs base of the same model. Expected: extra matmul FLOPs and weight bytes per token vs base, and extra graph "
                + "nodes (4 per adapted matrix per adapter: mul_mat A, mul_mat B, scale, add).%n%n", rank, targets));
        b.append("| model | variant | +FLOPs/token | +bytes/token | +nodes | pp128 (ms) | Δ pp | tg (ms/token) | Δ tg |\n");
        b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Path m : models) {
            String n = name(m);
            Cost c = costs.get(n);
            Stat bpp = stat(stats, Key.of(n, PP, "base", 0, "-"));
            Stat btg = stat(stats, Key.of(n, TG, "base", 0, "-"));
            for (String v : variants) {
                int k = AdapterBenchmark.adapterCount(v);
                String flops;
                String bytes;
                String nodes;
                if (v.equals("base")) {
                    flops = "—";
                    bytes = "—";
                    nodes = "—";
                } else if (k > 0) {
                    flops = String.format(Locale.ROOT, "+%.2f %%", 100 * k * c.loraFlops(rank, targets) / c.baseFlops());
                    bytes = String.format(Locale.ROOT, "+%.2f %%", 100 * k * c.loraBytes(rank, targets) / c.baseBytes());
                    nodes = String.valueOf(4 * k * c.matrices(targets));
                } else {
                    flops = "0";
                    double mb = v.equals("merged_f16") ? c.mergedF16Bytes(targets) : c.baseBytes();
                    bytes = String.format(Locale.ROOT, "%+.0f %%", 100 * (mb / c.baseBytes() - 1));
                    nodes = "0";
                }
                Stat pp = stat(stats, Key.of(n, PP, v, rank, targets));
                Stat tg = stat(stats, Key.of(n, TG, v, rank, targets));
                b.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |%n", n, v, flops, bytes, nodes, fmt(pp),
                        v.equals("base") ? "—" : pct(over(pp, bpp)), fmt(tg), v.equals("base") ? "—" : pct(over(tg, btg))));
            }
        }
        if (!sweep.isEmpty()) {
            b.append("\nRank × targets, one unmerged adapter (lora1), vs the base of the same model:\n\n");
            b.append("| model | targets | rank | +FLOPs/token | +bytes/token | +nodes | pp128 (ms) | Δ pp | tg (ms/token) | Δ tg |\n");
            b.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            for (Path m : sweep) {
                String n = name(m);
                Cost c = costs.get(n);
                Stat bpp = stat(stats, Key.of(n, PP, "base", 0, "-"));
                Stat btg = stat(stats, Key.of(n, TG, "base", 0, "-"));
                for (String t : List.of("attn", "all")) {
                    for (int r : List.of(8, 16, 64)) {
                        Stat pp = stat(stats, Key.of(n, PP, "lora1", r, t));
                        Stat tg = stat(stats, Key.of(n, TG, "lora1", r, t));
                        b.append(String.format(Locale.ROOT, "| %s | %s | %d | +%.2f %% | +%.2f %% | %d | %s | %s | %s | %s |%n", n, t, r,
                                100 * c.loraFlops(r, t) / c.baseFlops(), 100 * c.loraBytes(r, t) / c.baseBytes(), 4 * c.matrices(t),
                                fmt(pp), pct(over(pp, bpp)), fmt(tg), pct(over(tg, btg))));
                    }
                }
            }
        }
        boolean anySwap = models.stream().anyMatch(m -> stats.containsKey(Key.of(name(m), SWAP, "lora1", rank, targets)));
        if (anySwap) {
            b.append(String.format(Locale.ROOT, "%nHot swap (lora1, rank %d, %s): `decodeOneToken` = clear + decode 1 token with the same "
                    + "adapter; `hotSwap` = setAdapters to the other adapter (alternating between two, which clears the KV cache) "
                    + "+ decode 1 token; swap cost = hotSwap − decodeOneToken; `setAdaptersOnly` = the call alone (llama.cpp defers "
                    + "the graph re-reservation to the next decode).%n%n", rank, targets));
            b.append("| model | decodeOneToken (ms) | hotSwap (ms) | swap cost (ms) | setAdaptersOnly (µs) |\n|---|---:|---:|---:|---:|\n");
            for (Path m : models) {
                String n = name(m);
                Stat one = stat(stats, Key.of(n, ONE, "lora1", rank, targets));
                Stat sw = stat(stats, Key.of(n, SWAP, "lora1", rank, targets));
                Stat set = stat(stats, Key.of(n, SET, "lora1", rank, targets));
                String cost = one == null || sw == null ? "n/a"
                        : fmt(new Stat(sw.mean() - one.mean(), Math.hypot(sw.error(), one.error()), Math.min(sw.n(), one.n())));
                String setUs = set == null ? "n/a" : fmt(new Stat(set.mean() * 1000, set.error() * 1000, set.n()));
                b.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s |%n", n, fmt(one), fmt(sw), cost, setUs));
            }
        }
        long n = stats.values().stream().mapToLong(ListStatistics::getN).min().orElse(0);
        b.append(String.format(Locale.ROOT, "%nErrors: 99.9%% confidence half-width of the mean (Student t, as JMH) over the measurement "
                + "iterations of all rounds (at least %d per cell); Δ errors add the relative errors of both means in quadrature.%n", n));
        return b.toString();
    }

    // ---- the chart: overhead vs base, tg and pp panels, grouped bars per model ----

    static final int WIDTH = 1200;
    static final int HEIGHT = 560;
    private static final Color GRID = new Color(232, 232, 232);
    private static final Color AXIS = new Color(120, 120, 120);
    private static final Color TEXT = new Color(40, 40, 40);
    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(230, 100, 10), new Color(44, 160, 44),
        new Color(214, 39, 40), new Color(148, 103, 189), new Color(140, 86, 75)};

    static BufferedImage render(Map<Key, ListStatistics> stats, List<String> models, List<String> variants, int rank, String targets) {
        List<String> bars = variants.stream().filter(v -> !v.equals("base")).toList();
        return LossPlot.canvas(WIDTH, HEIGHT, g -> {
            int panelW = (WIDTH - 40) / 2;
            String[] benches = {TG, PP};
            String[] titles = {"token generation (per token)", "prompt processing (128 tokens)"};
            // one y scale for both panels
            double lo = 0;
            double hi = 0;
            Stat[][][] s = new Stat[2][models.size()][bars.size()];
            for (int p = 0; p < 2; p++) {
                for (int i = 0; i < models.size(); i++) {
                    Stat base = stat(stats, Key.of(models.get(i), benches[p], "base", 0, "-"));
                    for (int j = 0; j < bars.size(); j++) {
                        Stat o = over(stat(stats, Key.of(models.get(i), benches[p], bars.get(j), rank, targets)), base);
                        s[p][i][j] = o;
                        if (o != null) {
                            double e = Double.isFinite(o.error()) ? o.error() : 0;
                            lo = Math.min(lo, o.mean() - e);
                            hi = Math.max(hi, o.mean() + e);
                        }
                    }
                }
            }
            if (hi - lo < 1) {
                hi = lo + 1;
            }
            double step = LossPlot.niceStep(hi - lo, 8);
            double y0 = Math.floor(lo / step) * step;
            double y1 = Math.ceil(hi / step) * step;
            for (int p = 0; p < 2; p++) {
                Rectangle2D.Double area = new Rectangle2D.Double(20 + p * (panelW + 20) + 64, 78, panelW - 64 - 10, HEIGHT - 78 - 96);
                panel(g, area, titles[p], models, bars, s[p], y0, y1, step);
            }
            try {
                g.setColor(TEXT);
                g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
                FontMetrics fm = g.getFontMetrics();
                String t = String.format(Locale.ROOT, "LoRA at inference: latency vs the base model (rank %d, %s; 99.9%% CI)", rank,
                        targets.equals("all") ? "all-linear" : "attention only");
                g.drawString(t, (WIDTH - fm.stringWidth(t)) / 2f, 28);
                legend(g, bars);
            } catch (RuntimeException | Error e) { // no fonts: keep the bars
                System.err.println("chart drawn without text: " + e);
            }
        });
    }

    private static void panel(Graphics2D g, Rectangle2D.Double area, String title, List<String> models, List<String> bars, Stat[][] s,
            double y0, double y1, double step) {
        java.util.function.DoubleUnaryOperator py = y -> area.y + area.height - (y - y0) / (y1 - y0) * area.height;
        g.setStroke(new BasicStroke(1f));
        for (double y = y0; y <= y1 + step / 2; y += step) {
            g.setColor(Math.abs(y) < step / 1e6 ? AXIS : GRID);
            g.draw(new Line2D.Double(area.x, py.applyAsDouble(y), area.x + area.width, py.applyAsDouble(y)));
        }
        g.setColor(AXIS);
        g.draw(new Line2D.Double(area.x, area.y, area.x, area.y + area.height));
        double groupW = area.width / models.size();
        double barW = groupW * 0.8 / bars.size();
        for (int i = 0; i < models.size(); i++) {
            for (int j = 0; j < bars.size(); j++) {
                Stat o = s[i][j];
                if (o == null) {
                    continue;
                }
                double x = area.x + i * groupW + groupW * 0.1 + j * barW;
                double yz = py.applyAsDouble(0);
                double yv = py.applyAsDouble(o.mean());
                g.setColor(PALETTE[j % PALETTE.length]);
                g.fill(new Rectangle2D.Double(x + 1, Math.min(yz, yv), barW - 2, Math.max(1, Math.abs(yv - yz))));
                if (Double.isFinite(o.error()) && o.error() > 0) {
                    double cx = x + barW / 2;
                    double ya = py.applyAsDouble(o.mean() - o.error());
                    double yb = py.applyAsDouble(o.mean() + o.error());
                    g.setColor(TEXT);
                    g.setStroke(new BasicStroke(1.2f));
                    g.draw(new Line2D.Double(cx, ya, cx, yb));
                    g.draw(new Line2D.Double(cx - barW * 0.25, ya, cx + barW * 0.25, ya));
                    g.draw(new Line2D.Double(cx - barW * 0.25, yb, cx + barW * 0.25, yb));
                    g.setStroke(new BasicStroke(1f));
                }
            }
        }
        try {
            Font base = new Font(Font.SANS_SERIF, Font.PLAIN, 12);
            g.setFont(base.deriveFont(Font.BOLD, 14f));
            g.setColor(TEXT);
            FontMetrics fm = g.getFontMetrics();
            g.drawString(title, (float) (area.x + area.width / 2 - fm.stringWidth(title) / 2.0), (float) area.y - 12);
            g.setFont(base);
            fm = g.getFontMetrics();
            int d = step >= 1 ? 0 : step >= 0.1 ? 1 : 2;
            for (double y = y0; y <= y1 + step / 2; y += step) {
                String lab = String.format(Locale.ROOT, "%+." + d + "f%%", y);
                g.drawString(lab, (float) (area.x - 8 - fm.stringWidth(lab)), (float) (py.applyAsDouble(y) + fm.getAscent() / 2.0 - 2));
            }
            for (int i = 0; i < models.size(); i++) {
                String lab = models.get(i);
                double cx = area.x + i * groupW + groupW / 2;
                while (fm.stringWidth(lab) > groupW - 4 && lab.length() > 6) {
                    lab = lab.substring(0, lab.length() - 2);
                }
                g.drawString(lab, (float) (cx - fm.stringWidth(lab) / 2.0), (float) (area.y + area.height + 18));
            }
            AffineTransform at = g.getTransform();
            g.rotate(-Math.PI / 2);
            String yl = "latency vs base";
            g.drawString(yl, (float) -(area.y + area.height / 2 + fm.stringWidth(yl) / 2.0), (float) area.x - 52);
            g.setTransform(at);
        } catch (RuntimeException | Error e) {
            // no fonts
        }
    }

    private static void legend(Graphics2D g, List<String> bars) {
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        FontMetrics fm = g.getFontMetrics();
        int x = 0;
        List<Integer> widths = new ArrayList<>();
        for (String b : bars) {
            int w = 18 + fm.stringWidth(label(b)) + 24;
            widths.add(w);
            x += w;
        }
        double sx = (WIDTH - x) / 2.0;
        double y = HEIGHT - 30;
        for (int j = 0; j < bars.size(); j++) {
            g.setColor(PALETTE[j % PALETTE.length]);
            g.fill(new Rectangle2D.Double(sx, y - 10, 12, 12));
            g.setColor(TEXT);
            g.drawString(label(bars.get(j)), (float) sx + 18, (float) y);
            sx += widths.get(j);
        }
    }

    static String label(String variant) {
        return switch (variant) {
            case "lora1" -> "1 adapter (unmerged)";
            case "lora2" -> "2 adapters";
            case "lora4" -> "4 adapters";
            case "merged_f16" -> "merged, F16";
            case "merged_keep" -> "merged, base type";
            default -> variant;
        };
    }

    /**
     * {@code --paired}: all variants of a model loaded in one process, and in each repetition every variant runs
     * once (pp128, then tg32) in a fresh random order; the overhead is the median over repetitions of the ratio to the
     * base in the same repetition, so load bursts of a shared machine hit both sides of each ratio. The interval is
     * the 2.5–97.5% range of a bootstrap of that median (2000 resamples).
     */
    static final class Paired {
        static String run(List<Path> models, Path cache, int rank, String targets, int threads, int reps, Path csv) throws IOException {
            StringBuilder b = new StringBuilder();
            b.append(String.format(Locale.ROOT, "Paired, in-process, interleaved (%d repetitions; rank %d, %s; %d thread(s)): median per "
                    + "operation, and the median of the per-repetition ratio to the base with its 95%% bootstrap interval.%n%n",
                    reps, rank, targets, threads));
            b.append("| model | variant | pp128 (ms, median) | Δ pp (median, 95% CI) | tg (ms/token, median) | Δ tg (median, 95% CI) |\n");
            b.append("|---|---|---:|---:|---:|---:|\n");
            try (PrintWriter w = new PrintWriter(Files.newBufferedWriter(csv, StandardCharsets.UTF_8))) {
                w.println("model,rep,variant,pp128_ms,tg_ms_per_token");
                for (Path m : models) {
                    List<String> vs = List.of("base", "merged_keep", "merged_f16", "lora1", "lora2", "lora4");
                    List<dev.lora4j.Model> open = new ArrayList<>();
                    List<dev.lora4j.Context> ctxs = new ArrayList<>();
                    List<dev.lora4j.LoraAdapter> ads = new ArrayList<>();
                    try {
                        dev.lora4j.Model base = dev.lora4j.Model.load(m);
                        open.add(base);
                        for (String v : vs) {
                            dev.lora4j.Model mm = switch (v) {
                                case "merged_keep" -> dev.lora4j.Model.load(AdapterBenchmark.merged(m, cache, targets, rank,
                                        dev.lora4j.merge.OutputType.KEEP, "keep", threads));
                                case "merged_f16" -> dev.lora4j.Model.load(AdapterBenchmark.merged(m, cache, targets, rank,
                                        dev.lora4j.merge.OutputType.of(dev.lora4j.gguf.GgmlType.F16), "f16", threads));
                                default -> base;
                            };
                            if (mm != base) {
                                open.add(mm);
                            }
                            dev.lora4j.Context c = mm.newContext(dev.lora4j.ContextParams.defaults()
                                    .withContextSize(AdapterBenchmark.PROMPT + AdapterBenchmark.GEN).withBatchSize(AdapterBenchmark.PROMPT)
                                    .withThreads(threads).withThreadsBatch(threads));
                            int k = AdapterBenchmark.adapterCount(v);
                            Map<dev.lora4j.LoraAdapter, Float> set = new LinkedHashMap<>();
                            for (int i = 0; i < k; i++) {
                                dev.lora4j.LoraAdapter a = dev.lora4j.LoraAdapter.load(base, AdapterBenchmark.adapter(m, cache, targets, rank, 1 + i));
                                ads.add(a);
                                set.put(a, 1f);
                            }
                            if (!set.isEmpty()) {
                                c.setAdapters(set);
                            }
                            ctxs.add(c);
                        }
                        java.util.Random r = new java.util.Random(42);
                        int nVocab = base.vocabulary().size();
                        int[] prompt = r.ints(AdapterBenchmark.PROMPT, 0, nVocab).toArray();
                        int[] gen = r.ints(AdapterBenchmark.GEN, 0, nVocab).toArray();
                        double[][] pp = new double[vs.size()][reps];
                        double[][] tg = new double[vs.size()][reps];
                        java.util.Random shuffle = new java.util.Random(7);
                        for (int rep = -3; rep < reps; rep++) { // 3 warm-up repetitions
                            List<Integer> order = new ArrayList<>();
                            for (int i = 0; i < vs.size(); i++) {
                                order.add(i);
                            }
                            java.util.Collections.shuffle(order, shuffle);
                            for (int i : order) {
                                dev.lora4j.Context c = ctxs.get(i);
                                long t0 = System.nanoTime();
                                c.clear();
                                c.decode(prompt);
                                long t1 = System.nanoTime();
                                c.clear();
                                for (int t : gen) {
                                    c.decode(t);
                                }
                                long t2 = System.nanoTime();
                                if (rep >= 0) {
                                    pp[i][rep] = (t1 - t0) / 1e6;
                                    tg[i][rep] = (t2 - t1) / 1e6 / gen.length;
                                }
                            }
                            if (rep >= 0) {
                                for (int i = 0; i < vs.size(); i++) {
                                    w.printf(Locale.ROOT, "%s,%d,%s,%.6g,%.6g%n", name(m), rep, vs.get(i), pp[i][rep], tg[i][rep]);
                                }
                            }
                        }
                        for (int i = 0; i < vs.size(); i++) {
                            String dpp = i == 0 ? "—" : ratio(pp[i], pp[0]);
                            String dtg = i == 0 ? "—" : ratio(tg[i], tg[0]);
                            b.append(String.format(Locale.ROOT, "| %s | %s | %.3f | %s | %.4f | %s |%n", name(m), vs.get(i), median(pp[i]), dpp,
                                    median(tg[i]), dtg));
                        }
                    } finally {
                        for (dev.lora4j.Context c : ctxs) {
                            c.close();
                        }
                        for (dev.lora4j.LoraAdapter a : ads) {
                            a.close();
                        }
                        for (dev.lora4j.Model mm : open) {
                            mm.close();
                        }
                    }
                }
            }
            return b.toString();
        }

        static double median(double[] x) {
            double[] s = x.clone();
            java.util.Arrays.sort(s);
            int n = s.length;
            return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
        }

        static String ratio(double[] x, double[] base) {
            double[] m = medianRatio(x, base);
            return String.format(Locale.ROOT, "%+.1f %% [%+.1f, %+.1f]", 100 * (m[0] - 1), 100 * (m[1] - 1), 100 * (m[2] - 1));
        }

        /** The median of the per-round ratios x[i]/base[i] and its 95% bootstrap interval: {median, low, high}. */
        static double[] medianRatio(double[] x, double[] base) {
            double[] q = new double[x.length];
            for (int i = 0; i < q.length; i++) {
                q[i] = x[i] / base[i];
            }
            java.util.SplittableRandom r = new java.util.SplittableRandom(1);
            double[] boot = new double[2000];
            double[] s = new double[q.length];
            for (int bi = 0; bi < boot.length; bi++) {
                for (int i = 0; i < s.length; i++) {
                    s[i] = q[r.nextInt(q.length)];
                }
                boot[bi] = median(s);
            }
            java.util.Arrays.sort(boot);
            return new double[] {median(q), boot[50], boot[1949]};
        }
    }
}
