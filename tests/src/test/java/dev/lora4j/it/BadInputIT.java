package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextOverflowException;
import dev.lora4j.ContextParams;
import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.ModelLoadException;
import dev.lora4j.SamplerParams;
import dev.lora4j.TokenizationException;
import dev.lora4j.gguf.GgufFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input gives a typed Java exception with a message a user understands, and the JVM keeps running. */
class BadInputIT {
    @TempDir
    Path tmp;

    static Path model() {
        return TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
    }

    @Test
    void missingFile() {
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> Model.load(tmp.resolve("nope.gguf")));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
    }

    @Test
    void directoryIsNotAModel() {
        assertThrows(ModelLoadException.class, () -> Model.load(tmp));
    }

    @Test
    void nonGgufFile() throws Exception {
        Path f = tmp.resolve("text.gguf");
        Files.writeString(f, "this is not a model\n".repeat(100));
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> Model.load(f));
        assertTrue(e.getMessage().contains("GGUF"), e.getMessage());
    }

    @Test
    void emptyFile() throws Exception {
        Path f = tmp.resolve("empty.gguf");
        Files.createFile(f);
        assertThrows(GgufFormatException.class, () -> Model.load(f));
    }

    @Test
    void truncatedFilesAreRejectedBeforeNativeCode() throws Exception {
        byte[] bytes = Files.readAllBytes(model());
        Random r = new Random(1);
        int[] cuts = new int[40];
        for (int i = 0; i < cuts.length; i++) {
            cuts[i] = i < 10 ? i * 7 : r.nextInt(bytes.length - 1);
        }
        cuts[cuts.length - 1] = bytes.length - 1;
        for (int cut : cuts) {
            Path f = tmp.resolve("cut" + cut + ".gguf");
            Files.write(f, Arrays.copyOf(bytes, cut));
            assertThrows(GgufFormatException.class, () -> Model.load(f), "truncated at " + cut);
        }
    }

    @Test
    void corruptedFilesNeverCrash() throws Exception {
        byte[] bytes = Files.readAllBytes(model());
        Random r = new Random(7);
        int loaded = 0;
        int rejected = 0;
        for (int i = 0; i < 60; i++) {
            byte[] b = bytes.clone();
            // corrupt the header/metadata/tensor-info region, where structure lives
            int flips = 1 + r.nextInt(4);
            for (int k = 0; k < flips; k++) {
                b[r.nextInt(Math.min(b.length, 40_000))] = (byte) r.nextInt(256);
            }
            Path f = tmp.resolve("bad" + i + ".gguf");
            Files.write(f, b);
            try (Model m = Model.load(f)) {
                loaded++;
                try (Context ctx = m.newContext(ContextParams.defaults().withContextSize(64))) {
                    ctx.generate("Once", 4, SamplerParams.greedy(), null);
                } catch (Lora4jException expected) {
                    // e.g. a vocabulary that no longer encodes the prompt
                }
            } catch (Lora4jException expected) {
                rejected++;
            }
        }
        assertEquals(60, loaded + rejected);
    }

    @Test
    void textTheVocabularyCannotEncode() {
        try (Model m = Model.load(model())) {
            TokenizationException e = assertThrows(TokenizationException.class, () -> m.vocabulary().tokenize("Once upon a 时间 😀", true, false));
            assertTrue(e.getMessage().contains("cannot encode"), e.getMessage());
            assertThrows(TokenizationException.class, () -> m.vocabulary().tokenize("bad \uD800 surrogate", true, false));
            // this vocabulary has no byte fallback: llama.cpp itself cannot encode the character (it throws; the shim catches)
            assertThrows(TokenizationException.class, () -> m.vocabulary().tokenize("Once upon a 时间", true, false, true));
        }
        try (Model m = Model.load(TestFiles.sharedModel("stories260K.gguf"))) {
            // byte-fallback tokens: any Unicode encodes, and decodes back
            int[] t = m.vocabulary().tokenize("Once upon a 时间 😀", false, false);
            assertEquals("Once upon a 时间 😀", m.vocabulary().detokenize(t, false, false).strip());
        }
    }

    @Test
    void promptLongerThanTheContext() {
        try (Model m = Model.load(model());
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(32).withBatchSize(32))) {
            String longPrompt = "Once upon a time there was a little dog. ".repeat(200);
            assertTrue(longPrompt.length() > ctx.contextSize());
            ContextOverflowException e = assertThrows(ContextOverflowException.class,
                    () -> ctx.generate(longPrompt, 8, SamplerParams.greedy(), null));
            assertTrue(e.getMessage().contains("context"), e.getMessage());
            // the context is still usable
            assertDoesNotThrow(() -> ctx.generate("Once upon a time", 4, SamplerParams.greedy(), null));
        }
    }

    @Test
    void badTokenIdsAndSequences() {
        try (Model m = Model.load(model());
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(64))) {
            assertThrows(IllegalArgumentException.class, () -> ctx.decode(new int[] {-1}));
            assertThrows(IllegalArgumentException.class, () -> ctx.decode(new int[] {m.vocabulary().size()}));
            assertThrows(IllegalArgumentException.class, () -> ctx.decode(new int[] {1}, 3, false));
            assertThrows(IllegalArgumentException.class, () -> m.vocabulary().tokenText(1 << 30));
            assertThrows(IllegalStateException.class, ctx::logits);
        }
    }

    @Test
    void closedHandles() {
        Model m = Model.load(model());
        Context ctx = m.newContext(ContextParams.defaults().withContextSize(64));
        ctx.close();
        ctx.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> ctx.decode(1));
        assertThrows(IllegalStateException.class, () -> ctx.generate("Once", 4, SamplerParams.greedy(), null));
        Context ctx2 = m.newContext(ContextParams.defaults().withContextSize(64));
        m.close(); // closes ctx2 first
        m.close();
        assertThrows(IllegalStateException.class, () -> ctx2.decode(1));
        assertThrows(IllegalStateException.class, () -> m.newContext(ContextParams.defaults()));
        assertThrows(IllegalStateException.class, () -> m.vocabulary().tokenize("x", false, false));
        assertThrows(IllegalStateException.class, m::description);
    }

    @Test
    void oneContextFromTwoThreadsIsRefused() throws Exception {
        try (Model m = Model.load(model());
             Context ctx = m.newContext(ContextParams.defaults())) {
            java.util.concurrent.CountDownLatch inside = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            Thread t = new Thread(() -> ctx.generate("Once upon a time", 64, SamplerParams.greedy(), text -> {
                inside.countDown();
                try {
                    release.await();
                } catch (InterruptedException ignored) {
                    Thread.currentThread().interrupt();
                }
            }));
            t.start();
            inside.await();
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> ctx.decode(1));
            assertTrue(e.getMessage().contains("another thread"), e.getMessage());
            release.countDown();
            t.join();
        }
    }

    @Test
    void invalidParameters() {
        assertThrows(IllegalArgumentException.class, () -> SamplerParams.greedy().withTemperature(Float.NaN));
        assertThrows(IllegalArgumentException.class, () -> SamplerParams.greedy().withTopP(0f));
        assertThrows(IllegalArgumentException.class, () -> ContextParams.defaults().withContextSize(-5));
    }
}
