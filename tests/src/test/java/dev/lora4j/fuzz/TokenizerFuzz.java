package dev.lora4j.fuzz;

import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.TokenizationException;
import dev.lora4j.Vocabulary;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Arbitrary text (any code points, lone surrogates included) through every tokenizer of the shared models and of
 * llama.cpp's vocabulary files (SPM, BPE with its many pre-tokenizers, WPM, UGM): tokenize, detokenize, the bytes
 * of each token and of arbitrary token ids. Unencodable text is a {@link TokenizationException}; nothing else may
 * be thrown.
 */
public final class TokenizerFuzz {
    private static final List<Vocabulary> VOCABS = new ArrayList<>();

    public static void fuzzerInitialize() {
        List<Path> files = new ArrayList<>(FuzzInputs.files(FuzzInputs.dir("lora4j.fuzz.models"), ".gguf"));
        files.addAll(FuzzInputs.files(FuzzInputs.dir("lora4j.fuzz.vocabs"), ".gguf"));
        for (Path p : files) {
            // the files are trusted (the text is what is fuzzed): every tokenizer type llama.cpp ships loads
            VOCABS.add(Model.load(p, ModelParams.defaults().withVocabOnly(true).withAnyArchitecture(true)).vocabulary());
        }
    }

    public static void fuzzerTearDown() {
        FuzzInputs.flush();
    }

    public static void fuzzerTestOneInput(byte[] input) {
        Choices d = new Choices(input);
        Vocabulary v = VOCABS.get(d.consumeInt(0, VOCABS.size() - 1));
        boolean addSpecial = d.consumeBoolean();
        boolean parseSpecial = d.consumeBoolean();
        boolean allowUnknown = d.consumeBoolean();
        int probe = d.consumeInt();
        String text = d.consumeRemainingAsString();
        int[] tokens;
        try {
            tokens = v.tokenize(text, addSpecial, parseSpecial, allowUnknown);
        } catch (TokenizationException e) {
            FuzzInputs.rejected(e);
            return;
        }
        for (int t : tokens) {
            if (t < 0 || t >= v.size()) {
                throw new AssertionError("token id " + t + " outside the vocabulary of " + v.size());
            }
            v.tokenBytes(t, true);
        }
        v.detokenize(tokens, false, parseSpecial);
        v.detokenize(tokens, true, false);
        if (probe >= 0 && probe < v.size()) {
            v.tokenText(probe);
            v.tokenBytes(probe, false);
        } else {
            try {
                v.tokenBytes(probe, true);
                throw new AssertionError("token id " + probe + " outside the vocabulary was accepted");
            } catch (TokenizationException expected) {
                // ids outside the vocabulary are refused
            }
        }
        FuzzInputs.count("tokenized");
    }
}
