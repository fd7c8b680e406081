package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Tokenization equals llama.cpp's own test vectors (models/ggml-vocab-*.gguf.inp/.out of the pinned source). */
class TokenizerIT {
    @Test
    void llamaCppTokenizerTestVectors() throws Exception {
        Path models = TestFiles.llamaSource().resolve("models");
        int checked = 0;
        for (String name : List.of("ggml-vocab-llama-spm", "ggml-vocab-llama-bpe", "ggml-vocab-gpt-2", "ggml-vocab-bert-bge",
                "ggml-vocab-deepseek-llm", "ggml-vocab-falcon")) {
            Path vocab = models.resolve(name + ".gguf");
            Path inp = models.resolve(name + ".gguf.inp");
            Path out = models.resolve(name + ".gguf.out");
            Requires.that(Files.exists(inp), "needs the test vectors of the pinned llama.cpp source: " + inp);
            List<String> inputs = splitInputs(Files.readString(inp, StandardCharsets.UTF_8));
            List<String> outputs = Files.readAllLines(out, StandardCharsets.UTF_8);
            assertEquals(inputs.size(), outputs.size(), name + ": test vector files disagree");
            // llama.cpp's own vocabulary files are trusted: every tokenizer they use loads
            try (Model m = Model.load(vocab, ModelParams.defaults().withVocabOnly(true).withAnyArchitecture(true))) {
                for (int i = 0; i < inputs.size(); i++) {
                    String o = outputs.get(i).strip();
                    int[] expected = o.isEmpty() ? new int[0] : Arrays.stream(o.split(" ")).mapToInt(Integer::parseInt).toArray();
                    int[] actual = m.vocabulary().tokenize(inputs.get(i), false, false, true);
                    assertArrayEquals(expected, actual, name + " vector " + i + ": [" + inputs.get(i) + "]");
                    checked++;
                }
                if (name.contains("llama")) { // case-preserving vocabularies: detokenize inverts tokenize
                    int[] t = m.vocabulary().tokenize("Hello world, this is lora4j.", false, false, true);
                    assertEquals("Hello world, this is lora4j.", m.vocabulary().detokenize(t, false, false).strip());
                }
            }
        }
        assertTrue(checked > 100, "only " + checked + " vectors");
        System.out.println("TokenizerIT: " + checked + " llama.cpp tokenizer vectors matched");
    }

    /** llama.cpp's test-tokenizer-0 format: inputs separated by "\n__ggml_vocab_test__\n". */
    private static List<String> splitInputs(String raw) {
        String sep = "\n__ggml_vocab_test__\n";
        List<String> out = new java.util.ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(sep, pos);
            if (next < 0) {
                out.add(raw.substring(pos));
                break;
            }
            out.add(raw.substring(pos, next));
            pos = next + sep.length();
        }
        return out;
    }
}
