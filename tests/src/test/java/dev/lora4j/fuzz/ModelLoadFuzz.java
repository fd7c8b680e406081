package dev.lora4j.fuzz;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import java.nio.file.Path;
import java.util.List;

/**
 * Mutated models through {@link Model#load} into llama.cpp: a load either fails with a typed exception or gives a
 * model that tokenizes and generates a few tokens. Seeds: the shared models and models built by {@link FuzzIT}.
 */
public final class ModelLoadFuzz {
    private static List<FuzzInputs.Seed> seeds;
    private static Path file;

    public static void fuzzerInitialize() {
        seeds = FuzzInputs.seeds("lora4j.fuzz.models");
        file = FuzzInputs.scratch("model.gguf");
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) {
        Choices d = new Choices(input);
        FuzzInputs.write(file, FuzzInputs.mutate(d, d.pickValue(seeds)));
        ModelParams params = ModelParams.defaults().withMmap(d.consumeBoolean()).withVocabOnly(d.consumeInt(0, 7) == 7);
        try (Model m = Model.load(file, params)) {
            FuzzInputs.count("loaded");
            if (params.vocabOnly()) {
                m.vocabulary().tokenize("Once upon a time", true, true, true);
                return;
            }
            try {
                exercise(m, d);
            } catch (Lora4jException e) {
                FuzzInputs.count("loaded, then refused: " + e.getClass().getSimpleName());
            }
        } catch (Lora4jException e) {
            FuzzInputs.rejected(e);
        }
    }

    /** Tokenizes, decodes and samples a few tokens in a small context. */
    static void exercise(Model m, Choices d) {
        try (Context c = m.newContext(ContextParams.defaults().withContextSize(32).withBatchSize(32).withThreads(1))) {
            c.generate("Once upon a time", d.consumeInt(1, 3), SamplerParams.greedy(), null);
            FuzzInputs.count("generated");
        }
    }
}
