package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.testsupport.Requires;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.Vocabulary;
import dev.lora4j.train.DataFormat;
import dev.lora4j.train.DataOptions;
import dev.lora4j.train.DataStats;
import dev.lora4j.train.TrainingData;
import dev.lora4j.train.TrainingDataException;
import dev.lora4j.train.TrainingSample;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training data pipeline on the real tokenizers of ../shared/models and the data of ../shared/data. */
class TrainingDataIT {
    private static final int IGNORE = TrainingSample.IGNORE;
    private static Model stories;
    private static Vocabulary vocab;

    @TempDir
    Path tmp;

    @BeforeAll
    static void loadTokenizer() {
        stories = Model.load(TestFiles.sharedModel("stories260K.gguf"), ModelParams.defaults().withVocabOnly(true));
        vocab = stories.vocabulary();
    }

    @AfterAll
    static void close() {
        if (stories != null) {
            stories.close();
        }
    }

    static Path data(String name) {
        Path p = TestFiles.shared().resolve("data").resolve(name);
        Requires.that(Files.isRegularFile(p), "needs " + p);
        return p;
    }

    static List<JsonObject> quotes() throws IOException {
        List<JsonObject> out = new ArrayList<>();
        for (String l : Files.readAllLines(data("english_quotes.jsonl"), StandardCharsets.UTF_8)) {
            out.add(JsonParser.parseString(l).getAsJsonObject());
        }
        return out;
    }

    private Path write(String name, String content) throws IOException {
        Path p = tmp.resolve(name);
        Files.writeString(p, content, StandardCharsets.UTF_8);
        return p;
    }

    private static DataOptions opts(int ctx) {
        return DataOptions.defaults().withContextLength(ctx);
    }

    /** Every sample: right length, labels are the next tokens inside the window, padding masked. */
    private static void assertAligned(List<TrainingSample> samples, int ctx) {
        for (TrainingSample s : samples) {
            assertEquals(ctx, s.tokens().length);
            assertEquals(ctx, s.labels().length);
            assertTrue(s.lossTokens() > 0, "a sample with nothing to learn: " + s);
            for (int i = 0; i + 1 < ctx; i++) {
                if (s.labels()[i] != IGNORE) {
                    assertEquals(s.tokens()[i + 1], s.labels()[i], "label " + i + " of " + s);
                }
            }
        }
    }

    /** The stats add up to what the samples hold. */
    private static void assertCounts(TrainingData d) {
        DataStats st = d.stats();
        List<TrainingSample> all = new ArrayList<>(d.train());
        all.addAll(d.validation());
        long loss = all.stream().mapToLong(TrainingSample::lossTokens).sum();
        assertEquals(loss, st.lossTokens());
        assertEquals((long) all.size() * st.contextLength(), st.tokens() + st.paddingTokens());
        assertEquals(d.train().size(), st.trainSamples());
        assertEquals(d.validation().size(), st.validationSamples());
    }

    /** The document tokens (BOS ... EOS) that start at position {@code from} of a sample's tokens. */
    private static int[] documentAt(TrainingSample s, int from) {
        int end = from + 1;
        while (end < s.tokens().length && s.tokens()[end] != vocab.eos()) {
            end++;
        }
        return Arrays.copyOfRange(s.tokens(), from, Math.min(end + 1, s.tokens().length));
    }

    private static String text(int[] tokens) {
        return vocab.detokenize(tokens, true, false).strip();
    }

    // ------------------------------------------------------------------------------------------------ quotes

    @Test
    void quotesWithAFieldPacked() throws IOException {
        List<JsonObject> quotes = quotes();
        int ctx = 64;
        TrainingData d = TrainingData.load(data("english_quotes.jsonl"), opts(ctx).withField("quote"), vocab);
        DataStats st = d.stats();
        System.out.println("TrainingDataIT quotes, field, packed:\n" + st.summary());
        assertEquals(DataFormat.JSONL_TEXT, d.format());
        assertEquals(2507, st.documentsRead());
        assertEquals(2507, st.trainDocuments());
        assertEquals(0, st.skippedDocuments());
        assertTrue(d.validation().isEmpty());
        assertAligned(d.train(), ctx);
        assertCounts(d);
        // one stream: each window's last label is the next window's first token
        for (int k = 0; k + 1 < d.train().size(); k++) {
            int[] labels = d.train().get(k).labels();
            int last = labels[ctx - 1];
            if (last != IGNORE) {
                assertEquals(d.train().get(k + 1).tokens()[0], last, "window " + k);
            } else {
                assertEquals(vocab.bos(), d.train().get(k + 1).tokens()[0], "only a BOS is masked inside the stream");
            }
        }
        // inside the stream, masked labels are exactly the predictions of a document's BOS
        for (TrainingSample s : d.train().subList(0, d.train().size() - 1)) {
            for (int i = 0; i + 1 < ctx; i++) {
                assertEquals(s.tokens()[i + 1] == vocab.bos(), s.labels()[i] == IGNORE, "position " + i);
            }
        }
        // the first window starts with the document named by its source, intact
        TrainingSample first = d.train().get(0);
        assertEquals(vocab.bos(), first.tokens()[0]);
        String expected = quotes.get(first.source()).get("quote").getAsString().strip();
        int[] doc = documentAt(first, 0);
        if (doc[doc.length - 1] == vocab.eos()) {
            assertEquals(expected, text(doc));
        } else {
            assertTrue(expected.startsWith(text(doc)), text(doc));
        }
        // packed: no padding but the end of the stream, everything else is learned
        assertTrue(st.paddingTokens() < ctx);
        long masked = st.tokens() - st.lossTokens(); // the BOS of every document but the first, and the final EOS
        assertTrue(masked == 2506 || masked == 2507, "masked document positions: " + masked);
        assertTrue(st.splitDocuments() > 0, "some quotes are longer than 64 tokens");
    }

    @Test
    void quotesWithATemplateOneDocumentPerSample() throws IOException {
        List<JsonObject> quotes = quotes();
        int ctx = 96;
        DataOptions o = opts(ctx).withTemplate("{quote} — {author}").withPacking(false);
        TrainingData d = TrainingData.load(data("english_quotes.jsonl"), o, vocab);
        DataStats st = d.stats();
        System.out.println("TrainingDataIT quotes, template, one per sample:\n" + st.summary());
        assertAligned(d.train(), ctx);
        assertCounts(d);
        // recompute the expected windows, padding and splits from the tokenizer
        Map<Integer, Integer> windows = new HashMap<>();
        long padding = 0;
        int split = 0;
        int longest = 0;
        for (int i = 0; i < quotes.size(); i++) {
            JsonObject q = quotes.get(i);
            String t = q.get("quote").getAsString().strip() + " — " + q.get("author").getAsString().strip();
            int n = vocab.tokenize(t, false, false).length + 2;
            longest = Math.max(longest, n);
            int w = (n - 1 + ctx - 1) / ctx;
            windows.put(i, w);
            padding += (long) w * ctx - Math.min(n, (long) w * ctx);
            split += n > ctx + 1 ? 1 : 0;
        }
        assertEquals(windows.values().stream().mapToInt(Integer::intValue).sum(), d.train().size());
        assertEquals(padding, st.paddingTokens());
        assertEquals(split, st.splitDocuments());
        assertEquals(longest, st.longestDocument());
        assertTrue(split > 0 && st.summary().contains("split into several samples, not truncated"), st.summary());
        Map<Integer, Integer> seen = new HashMap<>();
        for (TrainingSample s : d.train()) {
            seen.merge(s.source(), 1, Integer::sum);
        }
        assertEquals(windows, seen, "every document, each in as many windows as it needs");
        // a document that fits: BOS + text + EOS, then EOS padding, masked
        TrainingSample s = d.train().stream().filter(x -> windows.get(x.source()) == 1).findFirst().orElseThrow();
        JsonObject q = quotes.get(s.source());
        int[] doc = documentAt(s, 0);
        assertEquals(vocab.bos(), doc[0]);
        assertEquals(q.get("quote").getAsString().strip() + " — " + q.get("author").getAsString().strip(), text(doc));
        for (int i = doc.length - 1; i < ctx; i++) {
            assertEquals(IGNORE, s.labels()[i], "after EOS: masked");
            if (i >= doc.length) {
                assertEquals(vocab.eos(), s.tokens()[i], "padding is EOS");
            }
        }
        assertEquals(doc.length - 1, s.lossTokens(), "every token after BOS is learned, EOS included");
    }

    // ------------------------------------------------------------------------------------- prompt/completion

    @Test
    void promptCompletionLearnsOnlyTheCompletion() throws IOException {
        String[][] pairs = {
                {"Q: What colour is the sky?\nA:", " Blue."},
                {"Translate to French: cat\n", "chat"},
                {"Once upon a time", ", there was a little dog named Max who loved to run in the park."},
        };
        StringBuilder sb = new StringBuilder();
        for (String[] p : pairs) {
            JsonObject o = new JsonObject();
            o.addProperty("prompt", p[0]);
            o.addProperty("completion", p[1]);
            sb.append(o).append('\n');
        }
        Path f = write("pc.jsonl", sb.toString());
        int ctx = 32;
        TrainingData d = TrainingData.load(f, opts(ctx).withPacking(false), vocab);
        assertEquals(DataFormat.PROMPT_COMPLETION, d.format());
        assertAligned(d.train(), ctx);
        assertCounts(d);
        for (TrainingSample s : d.train()) {
            String[] p = pairs[s.source()];
            int[] full = vocab.tokenize(p[0] + p[1], false, false);
            int[] prompt = vocab.tokenize(p[0], false, false);
            int k = 0;
            while (k < prompt.length && prompt[k] == full[k]) {
                k++;
            }
            int n = full.length + 2; // BOS + text + EOS
            for (int i = 0; i < ctx; i++) {
                boolean learned = i >= k && i <= n - 2;
                assertEquals(learned, s.labels()[i] != IGNORE, "doc " + s.source() + " position " + i);
            }
            int[] learnedTokens = Arrays.stream(s.labels()).filter(x -> x != IGNORE).toArray();
            assertEquals(vocab.eos(), learnedTokens[learnedTokens.length - 1], "the EOS is learned");
            assertEquals(p[1].strip(), text(Arrays.copyOf(learnedTokens, learnedTokens.length - 1)));
        }
        // packed: the same masks, in one stream
        TrainingData packed = TrainingData.load(f, opts(128), vocab);
        assertAligned(packed.train(), 128);
        assertEquals(d.stats().lossTokens(), packed.stats().lossTokens());
        assertEquals(1, packed.train().size());
    }

    @Test
    void customPromptCompletionFieldsAndAPromptThatFillsTheContext() throws IOException {
        String longPrompt = "word ".repeat(40);
        Path f = write("qa.jsonl", "{\"question\":\"Who?\",\"answer\":\" Me.\"}\n{\"question\":\"" + longPrompt + "\",\"answer\":\" yes\"}\n");
        DataOptions o = opts(16).withPromptCompletionFields("question", "answer").withPacking(false);
        TrainingDataException e = assertThrows(TrainingDataException.class, () -> TrainingData.load(f, o, vocab));
        assertEquals(2, e.line());
        assertTrue(e.getMessage().contains("the prompt on line 2 fills the whole context of 16 tokens: nothing left to learn"),
                e.getMessage());
        TrainingData d = TrainingData.load(f, o.withContextLength(256), vocab);
        assertEquals(DataFormat.PROMPT_COMPLETION, d.format());
        assertEquals(2, d.train().size());
    }

    // ------------------------------------------------------------------------------------------------ chat

    @Test
    void chatLearnsTheAssistantRepliesWithAnExplicitTemplate() throws IOException {
        Path f = write("chat.jsonl", """
                {"messages":[{"role":"system","content":"You tell short stories."},{"role":"user","content":"A story about a cat?"},{"role":"assistant","content":"Once upon a time, a cat sat."},{"role":"user","content":"And then?"},{"role":"assistant","content":"It slept."}]}
                {"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello!"},{"role":"user","content":"Bye"}]}
                """);
        assertTrue(stories.chatTemplate().isEmpty(), "the shared models have no chat template");
        TrainingDataException noTemplate = assertThrows(TrainingDataException.class,
                () -> TrainingData.load(f, opts(128), stories));
        assertTrue(noTemplate.getMessage().contains("no chat template"), noTemplate.getMessage());
        TrainingDataException noModel = assertThrows(TrainingDataException.class,
                () -> TrainingData.load(f, opts(128).withChatTemplate("chatml"), vocab));
        assertTrue(noModel.getMessage().contains("needs the model"), noModel.getMessage());

        TrainingData d = TrainingData.load(f, opts(512).withChatTemplate("chatml").withPacking(false), stories);
        assertEquals(DataFormat.CHAT, d.format());
        assertAligned(d.train(), 512);
        assertEquals(2, d.train().size());
        assertCounts(d);
        for (TrainingSample s : d.train()) {
            List<String> spans = learnedSpans(s);
            if (s.source() == 0) {
                assertEquals(List.of("Once upon a time, a cat sat.<|im_end|>", "It slept.<|im_end|>"), spans);
                assertEquals(vocab.eos(), lastLearned(s), "a conversation ending with the assistant learns the EOS");
            } else {
                assertEquals(List.of("Hello!<|im_end|>"), spans);
                assertNotEquals(vocab.eos(), lastLearned(s), "a conversation ending with the user does not");
            }
        }
        // the formatted text is chatml
        TrainingSample s0 = d.train().stream().filter(s -> s.source() == 0).findFirst().orElseThrow();
        String all = text(documentAt(s0, 0));
        assertTrue(all.startsWith("<|im_start|>system\nYou tell short stories.<|im_end|>\n<|im_start|>user\n"), all);

        Path bad = write("nochat.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}\n");
        TrainingDataException e = assertThrows(TrainingDataException.class,
                () -> TrainingData.load(bad, opts(64).withChatTemplate("chatml"), stories));
        assertEquals(1, e.line());
        assertTrue(e.getMessage().contains("no 'assistant' message"), e.getMessage());
        Path bad2 = write("badmsg.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\"}]}\n");
        e = assertThrows(TrainingDataException.class, () -> TrainingData.load(bad2, opts(64).withChatTemplate("chatml"), stories));
        assertTrue(e.getMessage().contains("line 1: messages[1] has no string 'content'"), e.getMessage());
    }

    /** The learned label runs of a sample, decoded (EOS left out), trailing white space trimmed. */
    private static List<String> learnedSpans(TrainingSample s) {
        List<String> spans = new ArrayList<>();
        List<Integer> run = new ArrayList<>();
        for (int i = 0; i <= s.length(); i++) {
            int l = i < s.length() ? s.labels()[i] : IGNORE;
            if (l != IGNORE && l != vocab.eos()) {
                run.add(l);
            } else if (!run.isEmpty()) {
                spans.add(vocab.detokenize(run.stream().mapToInt(Integer::intValue).toArray(), true, false).strip());
                run.clear();
            }
        }
        return spans;
    }

    private static int lastLearned(TrainingSample s) {
        int last = IGNORE;
        for (int l : s.labels()) {
            if (l != IGNORE) {
                last = l;
            }
        }
        return last;
    }

    // ------------------------------------------------------------------------------------------------ text

    @Test
    void textWithEndOfTextSeparators() throws IOException {
        Path f = data("tinystories_sample_cs336.txt");
        TrainingData d = TrainingData.load(f, opts(256).withPacking(false), vocab);
        assertEquals(DataFormat.TEXT, d.format());
        assertEquals(5, d.stats().documentsRead());
        assertEquals(0, d.stats().skippedDocuments());
        assertAligned(d.train(), 256);
        assertCounts(d);
        Set<Integer> sources = new HashSet<>();
        for (TrainingSample s : d.train()) {
            sources.add(s.source());
            String t = text(documentAt(s, 0));
            assertFalse(t.contains("endoftext"), t);
        }
        assertEquals(Set.of(0, 1, 2, 3, 4), sources);
        TrainingSample first = d.train().stream().filter(s -> s.source() == 0).findFirst().orElseThrow();
        assertTrue(text(documentAt(first, 0)).startsWith("Once upon a time there was a little boy named Ben."),
                "the leading blank line is dropped");

        long t0 = System.nanoTime();
        TrainingData whole = TrainingData.load(data("tinystories_train_sample_2MiB.txt"), opts(256), vocab);
        System.out.printf("TrainingDataIT tinystories 2 MiB in %.2f s:%n%s%n", (System.nanoTime() - t0) / 1e9, whole.stats().summary());
        assertEquals(2317, whole.stats().documentsRead(), "2,316 separators, the last story cut off");
        assertFalse(whole.stats().capped());
        assertAligned(whole.train(), 256);
        assertCounts(whole);

        TrainingData big = TrainingData.load(data("tinystories_train_sample_2MiB.txt"), opts(128).withMaxDocuments(300)
                .withValidationFraction(0.1), vocab);
        System.out.println("TrainingDataIT tinystories, 300 documents:\n" + big.stats().summary());
        assertEquals(300, big.stats().documentsRead());
        assertTrue(big.stats().capped());
        assertEquals(270, big.stats().trainDocuments());
        assertEquals(30, big.stats().validationDocuments());
        assertAligned(big.train(), 128);
        assertAligned(big.validation(), 128);
        assertCounts(big);

        Path paragraphs = write("paragraphs.txt", "First paragraph,\nstill the first.\n\n\n\nSecond one.\n  \nThird.\n");
        TrainingData p = TrainingData.load(paragraphs, opts(32).withDocumentSeparator("").withPacking(false), vocab);
        assertEquals(3, p.stats().documentsRead());
        Set<String> texts = new HashSet<>();
        for (TrainingSample s : p.train()) {
            texts.add(text(documentAt(s, 0)));
        }
        assertEquals(Set.of("First paragraph,\nstill the first.", "Second one.", "Third."), texts);

        Path custom = write("custom.txt", "one\n---\ntwo\n  ---  \nthree\n---\n");
        assertEquals(3, TrainingData.load(custom, opts(16).withDocumentSeparator("---"), vocab).stats().documentsRead());
        Path none = write("whole.txt", "no separator at all\nin this file\n");
        assertEquals(1, TrainingData.load(none, opts(16), vocab).stats().documentsRead());
    }

    // ------------------------------------------------------------------------------------------ validation

    @Test
    void validationSplitIsDeterministicAndDisjoint() throws IOException {
        DataOptions o = opts(64).withField("quote").withPacking(false).withValidationFraction(0.1).withSeed(7);
        Path f = data("english_quotes.jsonl");
        TrainingData a = TrainingData.load(f, o, vocab);
        TrainingData b = TrainingData.load(f, o, vocab);
        TrainingData c = TrainingData.load(f, o.withSeed(8), vocab);
        assertEquals(251, a.stats().validationDocuments());
        assertEquals(2256, a.stats().trainDocuments());
        assertEquals(a.train(), b.train());
        assertEquals(a.validation(), b.validation());
        assertNotEquals(a.validation(), c.validation());
        Set<Integer> train = new HashSet<>();
        a.train().forEach(s -> train.add(s.source()));
        Set<Integer> val = new HashSet<>();
        a.validation().forEach(s -> val.add(s.source()));
        assertEquals(2256, train.size());
        assertEquals(251, val.size());
        assertTrue(val.stream().noneMatch(train::contains), "no document in both sets");
        assertCounts(a);
        // seeded shuffle: not file order
        assertNotEquals(0, a.train().get(0).source() + a.train().get(1).source() - 1);

        Path v = write("val.jsonl", "{\"quote\":\"A validation quote.\"}\n\n{\"quote\":\"Another one.\"}\n");
        TrainingData sep = TrainingData.load(f, opts(64).withField("quote").withValidationFile(v).withMaxDocuments(100), vocab);
        assertEquals(100, sep.stats().trainDocuments());
        assertEquals(2, sep.stats().validationDocuments());
        assertEquals(1, sep.stats().blankLines());
        assertEquals(1, sep.validation().size(), "packed into one window");
        assertTrue(sep.stats().notes().contains("ignored 1 blank line"), sep.stats().notes().toString());

        Path one = write("one.jsonl", "{\"text\":\"Only one document.\"}\n");
        TrainingDataException e = assertThrows(TrainingDataException.class,
                () -> TrainingData.load(one, opts(16).withValidationFraction(0.2), vocab));
        assertTrue(e.getMessage().contains("leaves no training document"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------ errors

    @Test
    void badInputIsAnErrorWithItsLine() throws IOException {
        DataOptions quote = opts(32).withField("quote");
        assertError(write("empty.jsonl", ""), quote, 0, "has no training text");
        assertError(write("blank.txt", "\n  \n\n"), opts(32), 0, "has no training text");
        assertError(write("malformed.jsonl", "{\"quote\":\"a\"}\n{\"quote\":\"b\"}\n{\"quote\":\"c\n"), quote, 3, "malformed JSON");
        assertError(write("trailing.jsonl", "{\"quote\":\"a\"} x\n"), quote, 1, "malformed JSON");
        assertError(write("array.jsonl", "{\"quote\":\"a\"}\n[1, 2]\n"), quote, 2, "expected a JSON object per line, found an array");
        assertError(write("missing.jsonl", "{\"quote\":\"a\"}\n{\"author\":\"b\"}\n"), quote, 2, "no field 'quote' (the object has the keys author)");
        assertError(write("number.jsonl", "{\"quote\":\"a\"}\n{\"quote\":5}\n"), quote, 2, "the field 'quote' is a number, not a string");
        assertError(write("tmpl.jsonl", "{\"quote\":\"a\",\"author\":\"x\"}\n{\"quote\":\"b\"}\n"),
                opts(32).withTemplate("{quote} — {author}"), 2, "no field 'author'");
        assertError(write("emptydoc.jsonl", "{\"quote\":\"a\"}\n{\"quote\":\"b\"}\n{\"quote\":\"c\"}\n{\"quote\":\"  \"}\n"),
                quote, 4, "the field 'quote' is empty");
        assertError(write("emptytext.txt", "one\n<|endoftext|>\n\n<|endoftext|>\nthree\n"), opts(32), 4, "empty document");
        assertError(write("keys.jsonl", "\n{\"q\":\"a\",\"who\":\"b\"}\n"), opts(32), 2, "cannot tell the data format from the keys [q, who]");
        assertError(write("nocompletion.jsonl", "{\"prompt\":\"a\",\"completion\":\"\"}\n"), opts(32), 1, "the completion ('completion') is empty");
        assertError(tmp.resolve("nope.jsonl"), quote, 0, "no such file");

        byte[] utf8 = "{\"quote\":\"ok\"}\n{\"quote\":\"bad \u00ff\"}\n".getBytes(StandardCharsets.ISO_8859_1);
        Path invalid = tmp.resolve("invalid.jsonl");
        Files.write(invalid, utf8);
        assertError(invalid, quote, 2, "invalid UTF-8 at byte offset 29");

        // skipped and counted instead, when asked
        TrainingData d = TrainingData.load(tmp.resolve("emptydoc.jsonl"), quote.withSkipEmpty(true), vocab);
        assertEquals(4, d.stats().documentsRead());
        assertEquals(Map.of(DataStats.EMPTY, 1), d.stats().skipped());
        assertTrue(d.stats().summary().contains("skipped 1 document: empty text"), d.stats().summary());
        Path allEmpty = write("allempty.jsonl", "{\"quote\":\"\"}\n{\"quote\":\" \"}\n");
        assertError(allEmpty, quote.withSkipEmpty(true), 0, "no training documents: 2 read, 2 skipped (empty text)");

        // options: misuse of the API
        IllegalArgumentException small = assertThrows(IllegalArgumentException.class, () -> opts(4));
        assertTrue(small.getMessage().contains("context too small"), small.getMessage());
        IllegalArgumentException both = assertThrows(IllegalArgumentException.class,
                () -> opts(32).withField("quote").withTemplate("{quote}"));
        assertTrue(both.getMessage().contains("field ('quote') and template ('{quote}')"), both.getMessage());
        IllegalArgumentException val = assertThrows(IllegalArgumentException.class,
                () -> opts(32).withValidationFraction(0.1).withValidationFile(tmp.resolve("v.jsonl")));
        assertTrue(val.getMessage().contains("validationFraction (0.1) and validationFile"), val.getMessage());
        assertThrows(IllegalArgumentException.class, () -> opts(32).withFormat(DataFormat.TEXT).withField("quote"));
        assertThrows(IllegalArgumentException.class, () -> opts(32).withTemplate("{quote"));
    }

    private static void assertError(Path file, DataOptions o, long line, String text) {
        assertError(file, o, vocab, line, text);
    }

    private static void assertError(Path file, DataOptions o, Vocabulary v, long line, String text) {
        TrainingDataException e = assertThrows(TrainingDataException.class, () -> TrainingData.load(file, o, v));
        assertEquals(line, e.line(), e.getMessage());
        assertEquals(file, e.file());
        assertTrue(e.getMessage().contains(text), "expected '" + text + "' in: " + e.getMessage());
        if (line > 0) {
            assertTrue(e.getMessage().startsWith(file + ", line " + line + ": "), e.getMessage());
        }
    }

    @Test
    void unencodableDocumentsAreErrorsOrSkippedAndCounted() throws IOException {
        Path f = data("english_quotes.jsonl");
        try (Model m = Model.load(TestFiles.sharedModel("TinyStories-656K.f16.gguf"), ModelParams.defaults().withVocabOnly(true))) {
            DataOptions o = opts(64).withField("quote");
            TrainingDataException e = assertThrows(TrainingDataException.class, () -> TrainingData.load(f, o, m.vocabulary()));
            System.out.println("TrainingDataIT 656K: " + e.getMessage());
            assertTrue(e.line() >= 1, e.getMessage());
            assertTrue(e.getMessage().contains(", line " + e.line() + ": the text cannot be encoded"), e.getMessage());
            assertTrue(e.getMessage().contains("skipUnencodable"), e.getMessage());
            // every quote opens with a curly quote this vocabulary lacks: skipping leaves nothing, which is an error too
            assertError(f, o.withSkipUnencodable(true), m.vocabulary(), 0, "no training documents: 2507 read, 2507 skipped (cannot be encoded");
            Path mixed = write("mixed.jsonl", "{\"quote\":\"A plain quote.\"}\n{\"quote\":\"\u201cCurly.\u201d\"}\n{\"quote\":\"Plain again.\"}\n");
            assertError(mixed, o, m.vocabulary(), 2, "U+201C");
            TrainingData d = TrainingData.load(mixed, o.withSkipUnencodable(true), m.vocabulary());
            System.out.println("TrainingDataIT 656K, skipping:\n" + d.stats().summary());
            assertEquals(3, d.stats().documentsRead());
            assertEquals(Map.of(DataStats.UNENCODABLE, 1), d.stats().skipped());
            assertEquals(2, d.stats().trainDocuments());
            assertTrue(d.stats().summary().contains("skipped 1 document: cannot be encoded"), d.stats().summary());

            // plain text: the line of the character is named
            Path t = write("accents.txt", "A plain story.\n<|endoftext|>\nAnother story,\nwith a café in it.\n<|endoftext|>\n");
            TrainingDataException te = assertThrows(TrainingDataException.class, () -> TrainingData.load(t, opts(32), m.vocabulary()));
            assertEquals(4, te.line(), te.getMessage());
            assertTrue(te.getMessage().contains("starting on line 3"), te.getMessage());
        }
    }
}
