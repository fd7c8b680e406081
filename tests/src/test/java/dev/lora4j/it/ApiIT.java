package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.ChatMessage;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.FileType;
import dev.lora4j.Generation;
import dev.lora4j.Lora4jException;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The inference API on real models: metadata, sampling, streaming, embeddings, chat templates, quantisation, logs. */
class ApiIT {
    @TempDir
    Path tmp;

    static Path q8() {
        return TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
    }

    @Test
    void metadataMatchesTheFile() {
        try (Model m = Model.load(q8()); GgufFile f = GgufFile.open(q8())) {
            assertEquals(f.requireInt("llama.embedding_length"), m.embeddingLength());
            assertEquals(f.requireInt("llama.block_count"), m.layerCount());
            assertEquals(f.requireInt("llama.context_length"), m.contextLengthTrain());
            assertEquals(f.requireInt("llama.attention.head_count"), m.headCount());
            assertEquals(f.requireInt("llama.attention.head_count_kv"), m.headCountKv());
            assertEquals("llama", m.metadata("general.architecture").orElseThrow());
            assertTrue(m.metadata().containsKey("tokenizer.ggml.model"));
            assertTrue(m.metadata("no.such.key").isEmpty());
            assertEquals(FileType.MOSTLY_Q8_0, m.fileType().orElseThrow());
            assertTrue(m.parameterCount() > 600_000 && m.parameterCount() < 700_000, "params " + m.parameterCount());
            assertEquals(2048, m.vocabulary().size());
            assertEquals(1, m.vocabulary().bos());
            assertEquals(2, m.vocabulary().eos());
            assertTrue(m.vocabulary().isEndOfGeneration(2));
        }
    }

    @Test
    void seededSamplingIsReproducibleAndStreamingIsWholeText() {
        try (Model m = Model.load(q8()); Context ctx = m.newContext(ContextParams.defaults())) {
            SamplerParams sp = SamplerParams.defaults().withSeed(1234).withRepeatPenalty(1.1f, 64);
            StringBuilder streamed = new StringBuilder();
            Generation a = ctx.generate("Once upon a time", 40, sp, streamed::append);
            Generation b = ctx.generate("Once upon a time", 40, sp, null);
            assertArrayEquals(a.tokens(), b.tokens());
            assertEquals(a.text(), streamed.toString());
            Generation c = ctx.generate("Once upon a time", 40, sp.withSeed(99), null);
            assertFalse(java.util.Arrays.equals(a.tokens(), c.tokens()), "another seed, another text");
            Generation greedy = ctx.generate("Once upon a time", 40, SamplerParams.greedy(), null);
            assertNotEquals(greedy.text(), a.text());
        }
    }

    @Test
    void batchedDecodeGivesTheSameLogitsAsTokenByToken() {
        try (Model m = Model.load(q8());
             Context a = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1));
             Context b = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1))) {
            int[] tokens = m.vocabulary().tokenize("Once upon a time there was a cat", true, false);
            a.decode(tokens, 0, true);
            for (int t : tokens) {
                b.decode(t);
            }
            float[] la = a.logits(tokens.length - 1);
            float[] lb = b.logits();
            for (int i = 0; i < la.length; i++) {
                assertEquals(la[i], lb[i], 1e-3f, "logit " + i);
            }
            assertEquals(tokens.length, a.position(0));
            a.removeTokens(0, 2, -1);
            assertEquals(2, a.position(0));
        }
    }

    @Test
    void parallelSequencesInOneContext() {
        try (Model m = Model.load(q8());
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(512).withSequences(2));
             Context ref = m.newContext(ContextParams.defaults().withContextSize(256))) {
            int[] p0 = m.vocabulary().tokenize("Once upon a time", true, false);
            int[] p1 = m.vocabulary().tokenize("The dog", true, false);
            ctx.decode(p0, 0, false);
            float[] l0 = ctx.logits();
            ctx.decode(p1, 1, false);
            float[] l1 = ctx.logits();
            ref.decode(p1);
            float[] r1 = ref.logits();
            for (int i = 0; i < r1.length; i++) {
                assertEquals(r1[i], l1[i], 1e-3f, "sequence 1 is independent of sequence 0");
            }
            assertEquals(p0.length, ctx.position(0));
            assertEquals(p1.length, ctx.position(1));
            assertNotEquals(l0[0], l1[0]);
        }
    }

    @Test
    void embeddings() {
        try (Model m = Model.load(q8());
             Context ctx = m.newContext(ContextParams.defaults().withEmbeddings(true))) {
            float[] a = ctx.embed("The cat sat on the mat.");
            float[] b = ctx.embed("The cat sat on the mat.");
            float[] c = ctx.embed("A big red ball rolled down the hill quickly.");
            assertEquals(m.embeddingLength(), a.length);
            assertArrayEquals(a, b);
            assertTrue(cosine(a, b) > 0.9999);
            assertTrue(cosine(a, c) < 0.9999);
        }
        try (Model m = Model.load(q8()); Context ctx = m.newContext(ContextParams.defaults())) {
            assertThrows(IllegalStateException.class, () -> ctx.embed("x"));
        }
    }

    private static double cosine(float[] a, float[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }

    @Test
    void chatTemplates() {
        try (Model m = Model.load(q8())) {
            assertTrue(m.chatTemplate().isEmpty(), "the shared models have no chat template");
            assertThrows(Lora4jException.class, () -> m.applyChatTemplate(List.of(ChatMessage.user("hi")), true, null));
            String chatml = m.applyChatTemplate(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hello!")), true, "chatml");
            assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n", chatml);
            assertThrows(Lora4jException.class, () -> m.applyChatTemplate(List.of(ChatMessage.user("hi")), true, "no-such-template"));
        }
    }

    @Test
    void llamaCppLogGoesToSystemLogger() {
        List<LogRecord> records = new ArrayList<>();
        Logger jul = Logger.getLogger("dev.lora4j.llama");
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Level old = jul.getLevel();
        jul.setLevel(Level.ALL);
        jul.addHandler(h);
        try (Model m = Model.load(q8())) {
            assertTrue(m.isOpen());
        } finally {
            jul.removeHandler(h);
            jul.setLevel(old);
        }
        assertTrue(records.stream().anyMatch(r -> r.getMessage().contains("llama_model_loader")), "llama.cpp's load log arrived: " + records.size() + " records");
        assertTrue(records.stream().noneMatch(r -> r.getMessage().endsWith("\n")), "one record per line");
    }

    @Test
    void builtModelsLoadInEveryTypeAndQuantise() {
        try (GgufFile vocab = GgufFile.open(TestFiles.llamaSource().resolve("models/ggml-vocab-llama-spm.gguf"))) {
            ModelSpec spec = ModelSpec.of(ModelBuilder.vocabSize(vocab), 128, 2, 4, 2, 256);
            for (GgmlType type : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0)) {
                Path p = tmp.resolve("built-" + type + ".gguf");
                ModelBuilder.write(spec, vocab, p, type, 7, (d, t) -> { });
                try (Model m = Model.load(p); Context ctx = m.newContext(ContextParams.defaults().withContextSize(256))) {
                    assertEquals(spec.parameterCount(), m.parameterCount(), type.toString());
                    assertEquals(128, m.embeddingLength());
                    Generation g = ctx.generate("Hello world", 8, SamplerParams.greedy(), null);
                    assertEquals(8, g.tokens().length, type.toString());
                }
            }
            Path f16 = tmp.resolve("built-F16.gguf");
            for (FileType ft : List.of(FileType.MOSTLY_Q4_K_M, FileType.MOSTLY_Q8_0, FileType.MOSTLY_Q6_K)) {
                Path out = tmp.resolve("quant-" + ft + ".gguf");
                Model.quantize(f16, out, ft, 2);
                try (Model m = Model.load(out); Context ctx = m.newContext(ContextParams.defaults().withContextSize(256))) {
                    assertEquals(ft, m.fileType().orElseThrow());
                    assertEquals(8, ctx.generate("Hello world", 8, SamplerParams.greedy(), null).tokens().length);
                }
            }
        }
    }
}
