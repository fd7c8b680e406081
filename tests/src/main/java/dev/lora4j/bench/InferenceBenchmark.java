package dev.lora4j.bench;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Model;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The work {@code llama-bench} measures, done through lora4j: prompt processing of {@code promptTokens} tokens
 * in one batch ({@code llama-bench -p N -n 0}) and generation of {@code genTokens} tokens one at a time
 * ({@code llama-bench -p 0 -n N}), on an empty context each time, with random token ids as llama-bench uses.
 * Tokens per second = tokens / (seconds per operation). See {@link CompareWithLlamaBench}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class InferenceBenchmark {
    @Param("")
    public String model;

    @Param("2")
    public int threads;

    @Param("128")
    public int promptTokens;

    @Param("32")
    public int genTokens;

    private Model m;
    private Context ctx;
    private int[] prompt;
    private int[] gen;

    @Setup(Level.Trial)
    public void setup() {
        if (model.isEmpty()) {
            throw new IllegalArgumentException("pass -p model=PATH");
        }
        m = Model.load(Path.of(model));
        // llama-bench's context: n_ctx = n_prompt + n_gen (llama.cpp pads it to 256)
        ctx = m.newContext(ContextParams.defaults().withContextSize(promptTokens + genTokens)
                .withBatchSize(Math.max(promptTokens, 1)).withThreads(threads).withThreadsBatch(threads));
        Random r = new Random(42);
        int nVocab = m.vocabulary().size();
        prompt = r.ints(promptTokens, 0, nVocab).toArray();
        gen = r.ints(genTokens, 0, nVocab).toArray();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        ctx.close();
        m.close();
    }

    @Benchmark
    public void promptProcessing() {
        ctx.clear();
        ctx.decode(prompt);
    }

    @Benchmark
    public void tokenGeneration() {
        ctx.clear();
        for (int t : gen) {
            ctx.decode(t);
        }
    }
}
