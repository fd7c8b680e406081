package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Generation;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** lora4j gives exactly llama.cpp's tokens and logits on every shared model. */
class ParityIT {
    static final String PROMPT = "Once upon a time";

    @TempDir
    static Path tmp;
    static Path logitsRef;

    @BeforeAll
    static void compileReference() {
        Path src = TestFiles.root().resolve("tests/src/test/c/logits_ref.c");
        Path llama = TestFiles.llamaSource();
        Path bin = Path.of(TestFiles.nativeBuild().getProperty("bin"));
        logitsRef = tmp.resolve("logits_ref");
        TestFiles.Result r = TestFiles.run(TestFiles.cmd("cc", "-O2", "-o", logitsRef, src,
                "-I" + llama.resolve("include"), "-I" + llama.resolve("ggml/include"),
                "-L" + bin, "-Wl,-rpath," + bin, "-lllama", "-lggml", "-lggml-base"), 120);
        assertEquals(0, r.exit(), "compiling the reference program failed: " + r.stderr());
    }

    @Test
    void goldenContinuationOfTinyStoriesQ8() {
        String expected = ", a little girl named Lily lived in a small house. She loved to eat yummy food. One day, she saw a small bird on the ground. The bird was sad because it could not eat it.\nLily wanted to help the bird. She tried to eat the food and ";
        for (String name : List.of("tinystories-656k-q8_0.gguf", "TinyStories-656K-Q8_0.llama-cpp-zig.gguf")) {
            try (Model m = Model.load(TestFiles.sharedModel(name));
                 Context ctx = m.newContext(ContextParams.defaults())) {
                Generation g = ctx.generate(PROMPT, 32, SamplerParams.greedy(), null);
                assertEquals(expected, g.text(), name);
                assertEquals(32, g.tokens().length);
            }
        }
    }

    @Test
    void greedyTextEqualsLlamaCompletionOnEveryModel() {
        for (Path model : TestFiles.sharedModels()) {
            String ours;
            try (Model m = Model.load(model);
                 Context ctx = m.newContext(ContextParams.defaults().withContextSize(512).withThreads(2))) {
                ours = ctx.generate(PROMPT, 32, SamplerParams.greedy(), null).text();
            }
            TestFiles.assertLlamaCompletionPrints(ours, model.getFileName().toString(), "-m", model, "-p", PROMPT, "-n", 32, "-c", 512);
        }
    }

    @Test
    void logitsEqualLlamaCppBitForBit() throws Exception {
        for (Path model : TestFiles.sharedModels()) {
            TestFiles.Result ref = TestFiles.run(TestFiles.cmd(logitsRef, model, PROMPT, 1), 120);
            assertEquals(0, ref.exit(), ref.stderr());
            List<String> lines = ref.stdout().lines().toList();
            int[] refTokens = Arrays.stream(lines.get(0).substring("tokens ".length()).split(" ")).mapToInt(Integer::parseInt).toArray();
            float[] refLogits = new float[lines.size() - 1];
            for (int i = 1; i < lines.size(); i++) {
                refLogits[i - 1] = (float) Double.parseDouble(lines.get(i));
            }
            try (Model m = Model.load(model);
                 Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withBatchSize(256).withThreads(1).withFlashAttention(ContextParams.FlashAttention.OFF))) {
                int[] tokens = m.vocabulary().tokenize(PROMPT, true, true);
                assertArrayEquals(refTokens, tokens, "tokens of " + model.getFileName());
                ctx.decode(tokens);
                float[] ours = ctx.logits();
                assertEquals(refLogits.length, ours.length);
                for (int i = 0; i < ours.length; i++) {
                    assertEquals(Float.floatToIntBits(refLogits[i]), Float.floatToIntBits(ours[i]),
                            model.getFileName() + ": logit " + i + " differs: llama.cpp " + refLogits[i] + ", lora4j " + ours[i]);
                }
            }
        }
        assertTrue(Files.isExecutable(logitsRef));
    }
}
