package dev.lora4j.bench;

import dev.lora4j.Batch;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Serving {@value #SEQS} requests on one base, each of {@value #PROMPT} prompt tokens and {@value #GEN} generated
 * tokens (random token ids, no sampling: the work of a greedy request), reported per generated token. Variants:
 * <ul>
 *   <li>{@code base}: the {@value #SEQS} sequences in one batch per step, no adapter;</li>
 *   <li>{@code shared_stock}: the same, one adapter on the whole context (llama.cpp's own path,
 *       {@link Context#setAdapter});</li>
 *   <li>{@code shared}: the same adapter given to every sequence ({@link Context#setSequenceAdapter});</li>
 *   <li>{@code mixed}: a different adapter for every sequence, in the same batch;</li>
 *   <li>{@code hotswap}: what serving {@value #SEQS} adapters took before per-sequence adapters: one request at a
 *       time, {@link Context#setAdapter} to its adapter, then its prompt and single-token decodes.</li>
 * </ul>
 * Adapters: {@link AdapterBenchmark#adapter} (F16, random, alpha = rank, all-linear by default), written once into
 * {@code cacheDir}.
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp tests/target/benchmarks.jar org.openjdk.jmh.Main MultiAdapterBenchmark \
 *      -p model=/tmp/base-100M-q8_0.gguf -f 1 -wi 1 -i 5
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class MultiAdapterBenchmark {
    public static final int SEQS = 8;
    public static final int PROMPT = 16;
    public static final int GEN = 16;

    @Param("")
    public String model;

    @Param({"base", "shared_stock", "shared", "mixed", "hotswap"})
    public String variant;

    @Param("16")
    public int rank;

    @Param("all")
    public String targets;

    @Param("2")
    public int threads;

    @Param("")
    public String cacheDir;

    private Model m;
    private Context ctx;
    private final List<LoraAdapter> adapters = new ArrayList<>();
    private Batch batch;
    private int[][] prompts;
    private int[][] gens;

    @Setup(Level.Trial)
    public void setup() {
        if (model.isEmpty()) {
            throw new IllegalArgumentException("pass -p model=PATH");
        }
        Path base = Path.of(model);
        Path cache = AdapterBenchmark.cacheDir(cacheDir);
        m = Model.load(base);
        int nAdapters = switch (variant) {
            case "base" -> 0;
            case "shared_stock", "shared" -> 1;
            case "mixed", "hotswap" -> SEQS;
            default -> throw new IllegalArgumentException("unknown variant " + variant);
        };
        for (int i = 0; i < nAdapters; i++) {
            adapters.add(LoraAdapter.load(m, AdapterBenchmark.adapter(base, cache, targets, rank, 1 + i)));
        }
        ctx = m.newContext(ContextParams.defaults().withContextSize(SEQS * (PROMPT + GEN)).withBatchSize(SEQS * PROMPT)
                .withSequences(SEQS).withThreads(threads).withThreadsBatch(threads));
        switch (variant) {
            case "shared_stock" -> ctx.setAdapter(adapters.get(0), 1f);
            case "shared" -> {
                for (int s = 0; s < SEQS; s++) {
                    ctx.setSequenceAdapter(s, adapters.get(0), 1f);
                }
            }
            case "mixed" -> {
                for (int s = 0; s < SEQS; s++) {
                    ctx.setSequenceAdapter(s, adapters.get(s), 1f);
                }
            }
            default -> { }
        }
        batch = new Batch(ctx.batchSize());
        Random r = new Random(42);
        int nVocab = m.vocabulary().size();
        prompts = new int[SEQS][];
        gens = new int[SEQS][];
        for (int s = 0; s < SEQS; s++) {
            prompts[s] = r.ints(PROMPT, 0, nVocab).toArray();
            gens[s] = r.ints(GEN, 0, nVocab).toArray();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
        adapters.forEach(LoraAdapter::close);
        m.close();
    }

    @Benchmark
    @OperationsPerInvocation(SEQS * GEN)
    public float serve() {
        return variant.equals("hotswap") ? oneAtATime() : together();
    }

    private float together() {
        ctx.clear();
        batch.clear();
        for (int s = 0; s < SEQS; s++) {
            for (int i = 0; i < PROMPT; i++) {
                batch.add(s, prompts[s][i], i == PROMPT - 1);
            }
        }
        ctx.decode(batch);
        float sum = 0;
        for (int step = 0; step < GEN; step++) {
            batch.clear();
            for (int s = 0; s < SEQS; s++) {
                batch.add(s, gens[s][step], true);
            }
            ctx.decode(batch);
            sum += ctx.logits(SEQS - 1)[0];
        }
        return sum;
    }

    /**
     * Paired, in-process: every variant's state set up at once on one model file, then {@code reps} repetitions that
     * each run every variant once in a fresh random order (the machine's noise hits all variants alike); prints the
     * median ms per generated token of each variant and its ratio to {@code shared}, and writes the samples as CSV.
     * Arguments: MODEL REPS [THREADS] [CSV].
     */
    public static void main(String[] args) throws Exception {
        String modelPath = args[0];
        int reps = Integer.parseInt(args[1]);
        int nThreads = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        Path csv = args.length > 3 ? Path.of(args[3]) : null;
        String[] variants = {"base", "shared_stock", "shared", "mixed", "hotswap"};
        // one model per variant (each MultiAdapterBenchmark loads its own; the file is mmapped, so shared pages)
        MultiAdapterBenchmark[] states = new MultiAdapterBenchmark[variants.length];
        for (int v = 0; v < variants.length; v++) {
            states[v] = new MultiAdapterBenchmark();
            states[v].model = modelPath;
            states[v].variant = variants[v];
            states[v].rank = 16;
            states[v].targets = "all";
            states[v].threads = nThreads;
            states[v].cacheDir = "";
            states[v].setup();
            states[v].serve(); // warm-up
        }
        double[][] msPerToken = new double[variants.length][reps];
        Random order = new Random(7);
        StringBuilder rows = new StringBuilder("rep,variant,ms_per_token\n");
        for (int r = 0; r < reps; r++) {
            List<Integer> idx = new ArrayList<>(List.of(0, 1, 2, 3, 4));
            java.util.Collections.shuffle(idx, order);
            for (int v : idx) {
                long t0 = System.nanoTime();
                states[v].serve();
                msPerToken[v][r] = (System.nanoTime() - t0) / 1e6 / (SEQS * GEN);
                rows.append(r).append(',').append(variants[v]).append(',').append(msPerToken[v][r]).append('\n');
            }
        }
        double shared = AdapterStudy.Paired.median(msPerToken[2]);
        System.out.printf("%s, %d threads, %d sequences x (%d prompt + %d generated), %d paired repetitions%n",
                Path.of(modelPath).getFileName(), nThreads, SEQS, PROMPT, GEN, reps);
        System.out.printf("%-14s %12s %12s %14s%n", "variant", "ms/token", "tokens/s", "vs shared");
        for (int v = 0; v < variants.length; v++) {
            double med = AdapterStudy.Paired.median(msPerToken[v]);
            System.out.printf("%-14s %12.3f %12.1f %13.1f%%%n", variants[v], med, 1000 / med, 100 * shared / med);
        }
        if (csv != null) {
            java.nio.file.Files.writeString(csv, rows);
        }
        for (MultiAdapterBenchmark st : states) {
            st.tearDown();
        }
    }

    private float oneAtATime() {
        float sum = 0;
        for (int s = 0; s < SEQS; s++) {
            ctx.setAdapter(adapters.get(s), 1f); // clears the KV cache
            ctx.decode(prompts[s], 0, false);
            for (int step = 0; step < GEN; step++) {
                ctx.decode(new int[] {gens[s][step]}, 0, false);
                sum += ctx.logits()[0];
            }
        }
        return sum;
    }
}
