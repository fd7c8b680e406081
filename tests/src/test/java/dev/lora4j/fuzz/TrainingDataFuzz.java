package dev.lora4j.fuzz;

import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.train.DataFormat;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.TrainingData;
import dev.lora4j.train.TrainingSample;
import java.nio.file.Path;

/**
 * Arbitrary training data files (text, JSON lines of every format, broken JSON, odd encodings) through
 * {@link TrainingData#load} with fuzzed options: samples that fit the context and the vocabulary, or a
 * {@link dev.lora4j.train.TrainingDataException}.
 */
public final class TrainingDataFuzz {
    private static final String[] NAMES = {"data.txt", "data.jsonl", "data.json", "data.md", "data"};
    private static Model model;

    public static void fuzzerInitialize() {
        model = Model.load(Path.of(System.getProperty("lora4j.fuzz.base")), ModelParams.defaults().withVocabOnly(true));
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) {
        Choices d = new Choices(input);
        Path file = FuzzInputs.scratch(d.pickValue(NAMES));
        DataOptions o;
        try {
            o = options(d);
        } catch (IllegalArgumentException refused) {
            FuzzInputs.count("options refused");
            return;
        }
        FuzzInputs.write(file, d.consumeRemainingAsBytes());
        try {
            TrainingData data = TrainingData.load(file, o, model);
            for (TrainingSample s : data.train()) {
                check(s, o);
            }
            for (TrainingSample s : data.validation()) {
                check(s, o);
            }
            FuzzInputs.count("loaded");
        } catch (Lora4jException e) {
            FuzzInputs.rejected(e);
        }
    }

    /** Options as a user may set them (combinations DataOptions refuses count as refused options). */
    private static DataOptions options(Choices d) {
        DataOptions o = DataOptions.defaults()
                .withFormat(d.pickValue(DataFormat.values()))
                .withContextLength(d.consumeInt(DataOptions.MIN_CONTEXT, 256))
                .withPacking(d.consumeBoolean())
                .withValidationFraction(d.consumeInt(0, 2) * 0.25)
                .withSkipUnencodable(d.consumeBoolean())
                .withSkipEmpty(d.consumeBoolean())
                .withSeed(d.consumeLong());
        switch (d.consumeInt(0, 3)) {
            case 1 -> o = o.withField(d.consumeString(12));
            case 2 -> o = o.withTemplate(d.consumeString(40));
            case 3 -> o = o.withChatTemplate(d.consumeString(80));
            default -> { }
        }
        return o;
    }

    private static void check(TrainingSample s, DataOptions o) {
        int[] t = s.tokens();
        if (t.length < 2 || t.length > o.contextLength()) {
            throw new AssertionError("a sample of " + t.length + " tokens for a context of " + o.contextLength());
        }
        for (int id : t) {
            if (id < 0 || id >= model.vocabulary().size()) {
                throw new AssertionError("token id " + id + " outside the vocabulary");
            }
        }
    }
}
