package dev.lora4j.fuzz;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Lora4jException;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import java.nio.file.Path;
import java.util.List;

/**
 * Mutated LoRA adapters (for this base and for another one) through {@link LoraAdapter#load} into llama.cpp, then
 * applied with a fuzzed scale and decoded: a typed exception or a working adapter, never a crash.
 */
public final class AdapterLoadFuzz {
    private static Model base;
    private static Context context;
    private static List<FuzzInputs.Seed> seeds;
    private static Path file;

    public static void fuzzerInitialize() {
        base = Model.load(Path.of(System.getProperty("lora4j.fuzz.base")));
        context = base.newContext(ContextParams.defaults().withContextSize(32).withBatchSize(32).withThreads(1));
        seeds = FuzzInputs.seeds("lora4j.fuzz.adapters");
        file = FuzzInputs.scratch("adapter.gguf");
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) {
        Choices d = new Choices(input);
        FuzzInputs.write(file, FuzzInputs.mutate(d, d.pickValue(seeds)));
        float scale = d.pickValue(new float[] {1f, 0f, -1f, 0.5f, 1e30f, Float.NaN, Float.POSITIVE_INFINITY, d.consumeFloat()});
        try (LoraAdapter a = LoraAdapter.load(base, file)) {
            FuzzInputs.count("loaded");
            try {
                context.setAdapter(a, scale);
                context.clear();
                context.decode(base.vocabulary().tokenize("Once upon", true, false));
                context.logits();
                FuzzInputs.count("decoded");
            } finally {
                context.clearAdapters();
            }
        } catch (Lora4jException e) {
            FuzzInputs.rejected(e);
        } catch (IllegalArgumentException e) {
            // a non-finite scale is refused by setAdapter with IllegalArgumentException (documented)
            if (Float.isFinite(scale)) {
                throw e;
            }
            FuzzInputs.count("rejected: scale " + scale);
        }
    }
}
