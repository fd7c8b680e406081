package dev.lora4j.bench;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.Model;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.merge.LoraMerger;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.merge.OutputType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * Inference latency with LoRA adapters, unmerged (applied at run time by llama.cpp: two extra small matmuls, a scale
 * and an add per adapted matrix and adapter) and merged into the weights (the base model's graph), against the base
 * model. See {@link AdapterStudy} for the runner that produces {@code docs/adapter-study.md}.
 *
 * <p>Variants ({@code variant}): {@code base} (no adapter); {@code lora1}, {@code lora2}, {@code lora4} (1, 2 or 4
 * adapters of rank {@code rank} on {@code targets} applied together, scale 1 each); {@code merged_f16} and
 * {@code merged_keep} (adapter 1 merged with {@link LoraMerger}: merged tensors written as F16, or re-quantised to
 * the base tensor's own type; untouched tensors are copied). {@code targets}: {@code attn} (q, k, v, o) or
 * {@code all} (all-linear: also gate, up, down). Adapters have random A and B (F16, alpha = rank), written by
 * {@link LoraAdapterWriter#random}; their values do not change the work.
 *
 * <p>Adapters and merged models are written once into {@code cacheDir} (default
 * {@code $java.io.tmpdir/lora4j-adapter-study}), named by the base model (its name, size and modification time), the
 * targets, the rank and the seed, so later trials and forks reuse them. Delete the folder afterwards.
 *
 * <p>Benchmarks, like llama-bench and {@link InferenceBenchmark} (random token ids, an empty context each time,
 * context size 128 + 32):
 * <ul>
 *   <li>{@code promptProcessing128}: clear + decode of 128 tokens in one batch; time per prompt.</li>
 *   <li>{@code tokenGeneration}: clear + 32 single-token decodes; reported per token
 *       ({@code @OperationsPerInvocation(32)}).</li>
 *   <li>{@code hotSwap} (loraN variants only): {@code setAdapters} to the other of two sets of N adapters (loaded
 *       once, different seeds), then decode one token — what switching adapters between two requests costs, since
 *       llama.cpp only marks the scheduler for a new graph reservation in {@code set_adapters_lora} and does the
 *       work in the next decode. Compare with {@code decodeOneToken} (clear + decode one token, same set);
 *       {@code setAdaptersOnly} is the call alone (alternating sets; the deferred reservation is not in it).</li>
 * </ul>
 *
 * <pre>
 * java --enable-native-access=ALL-UNNAMED -cp tests/target/benchmarks.jar org.openjdk.jmh.Main AdapterBenchmark \
 *      -p model=/work/shared/models/stories260K.gguf -p variant=base,lora1,merged_keep -p rank=16 -p targets=all
 * </pre>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class AdapterBenchmark {
    public static final int PROMPT = 128;
    public static final int GEN = 32;

    @Param("")
    public String model;

    @Param({"base", "lora1", "lora2", "lora4", "merged_f16", "merged_keep"})
    public String variant;

    @Param("16")
    public int rank;

    @Param({"all"})
    public String targets;

    @Param("2")
    public int threads;

    @Param("")
    public String cacheDir;

    private Model m;
    private Context ctx;
    private final List<LoraAdapter> loaded = new ArrayList<>();
    private Map<LoraAdapter, Float> setA = Map.of();
    private Map<LoraAdapter, Float> setB = Map.of();
    private boolean onA = true;
    private int[] prompt;
    private int[] gen;
    private int one;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams bp) {
        if (model.isEmpty()) {
            throw new IllegalArgumentException("pass -p model=PATH");
        }
        Path base = Path.of(model);
        Path cache = cacheDir(cacheDir);
        boolean swap = bp.getBenchmark().endsWith("hotSwap") || bp.getBenchmark().endsWith("setAdaptersOnly");
        int nAdapters = adapterCount(variant);
        if (swap && nAdapters == 0) {
            throw new IllegalArgumentException("hotSwap needs a loraN variant, not " + variant);
        }
        Path load = switch (variant) {
            case "merged_f16" -> merged(base, cache, targets, rank, OutputType.of(GgmlType.F16), "f16", threads);
            case "merged_keep" -> merged(base, cache, targets, rank, OutputType.KEEP, "keep", threads);
            default -> base;
        };
        List<Path> filesA = new ArrayList<>();
        List<Path> filesB = new ArrayList<>();
        for (int i = 0; i < nAdapters; i++) {
            filesA.add(adapter(base, cache, targets, rank, 1 + i));
            if (swap) {
                filesB.add(adapter(base, cache, targets, rank, 101 + i));
            }
        }
        m = Model.load(load);
        setA = loadSet(filesA);
        setB = loadSet(filesB);
        ctx = m.newContext(ContextParams.defaults().withContextSize(PROMPT + GEN).withBatchSize(PROMPT)
                .withThreads(threads).withThreadsBatch(threads));
        if (!setA.isEmpty()) {
            ctx.setAdapters(setA);
        }
        onA = true;
        Random r = new Random(42);
        int nVocab = m.vocabulary().size();
        prompt = r.ints(PROMPT, 0, nVocab).toArray();
        gen = r.ints(GEN, 0, nVocab).toArray();
        one = gen[0];
    }

    private Map<LoraAdapter, Float> loadSet(List<Path> files) {
        Map<LoraAdapter, Float> set = new LinkedHashMap<>();
        for (Path f : files) {
            LoraAdapter a = LoraAdapter.load(m, f);
            loaded.add(a);
            set.put(a, 1f);
        }
        return set;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
        for (LoraAdapter a : loaded) {
            a.close();
        }
        loaded.clear();
        m.close();
    }

    @Benchmark
    public void promptProcessing128() {
        ctx.clear();
        ctx.decode(prompt);
    }

    @Benchmark
    @OperationsPerInvocation(GEN)
    public void tokenGeneration() {
        ctx.clear();
        for (int t : gen) {
            ctx.decode(t);
        }
    }

    @Benchmark
    public void decodeOneToken() {
        ctx.clear();
        ctx.decode(one);
    }

    @Benchmark
    public void hotSwap() {
        onA = !onA;
        ctx.setAdapters(onA ? setA : setB); // also clears the KV cache
        ctx.decode(one);
    }

    @Benchmark
    public void setAdaptersOnly() {
        onA = !onA;
        ctx.setAdapters(onA ? setA : setB);
    }

    /** The number of unmerged adapters of a variant (0 for base and merged). */
    public static int adapterCount(String variant) {
        return switch (variant) {
            case "base", "merged_f16", "merged_keep" -> 0;
            case "lora1" -> 1;
            case "lora2" -> 2;
            case "lora4" -> 4;
            default -> throw new IllegalArgumentException("unknown variant '" + variant
                    + "' (base, lora1, lora2, lora4, merged_f16, merged_keep)");
        };
    }

    /** PEFT target names for {@code attn} / {@code all}. */
    public static List<String> targetModules(String targets) {
        return switch (targets) {
            case "attn" -> List.of("q", "k", "v", "o");
            case "all" -> List.of("all-linear");
            default -> throw new IllegalArgumentException("unknown targets '" + targets + "' (attn, all)");
        };
    }

    /** A cache key of the base file: its name, size and modification time. */
    static String baseKey(Path base) {
        try {
            String stem = base.getFileName().toString().replaceFirst("\\.gguf$", "");
            long tag = Files.size(base) * 31 + Files.getLastModifiedTime(base).toMillis();
            return stem + "-" + Long.toHexString(Long.hashCode(tag) & 0xffffffffL);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Where adapters and merged models are written once: {@code dir}, or {@code $java.io.tmpdir/lora4j-adapter-study}. */
    public static Path cacheDir(String dir) {
        return dir.isEmpty() ? Path.of(System.getProperty("java.io.tmpdir"), "lora4j-adapter-study") : Path.of(dir);
    }

    /** Adapter {@code seed} for the base (written when not cached): random F16 A and B, alpha = rank. */
    public static Path adapter(Path base, Path cache, String targets, int rank, int seed) {
        Path out = cache.resolve(String.format(Locale.ROOT, "%s-lora-%s-r%d-s%d.gguf", baseKey(base), targets, rank, seed));
        if (Files.isRegularFile(out)) {
            return out;
        }
        try {
            Files.createDirectories(cache);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        try (GgufFile bf = GgufFile.open(base)) {
            // small random values (they do not change the work: dense matmuls, no data-dependent paths)
            LoraAdapterWriter.random(bf, targetModules(targets), rank, rank, 0.02f, 0.02f, seed).type(GgmlType.F16).write(out);
        }
        return out;
    }

    /** Adapter 1 merged into the base (written when not cached). */
    public static Path merged(Path base, Path cache, String targets, int rank, OutputType type, String typeName, int threads) {
        Path out = cache.resolve(String.format(Locale.ROOT, "%s-merged-%s-r%d-%s.gguf", baseKey(base), targets, rank, typeName));
        if (Files.isRegularFile(out)) {
            return out;
        }
        Path a = adapter(base, cache, targets, rank, 1);
        LoraMerger.merge(base, MergeOptions.of(a).withType(type).withThreads(threads).withMeasureErrors(false), out);
        return out;
    }
}
