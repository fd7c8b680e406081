package dev.lora4j.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Options are checked when built; conflicting ones name both. */
class DataOptionsTest {
    private static void rejects(String text, Executable e) {
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class, e);
        assertTrue(ex.getMessage().contains(text), "expected '" + text + "' in: " + ex.getMessage());
    }

    @Test
    void defaults() {
        DataOptions o = DataOptions.defaults();
        assertEquals(DataFormat.AUTO, o.format());
        assertEquals("prompt", o.promptField());
        assertEquals("completion", o.completionField());
        assertEquals("<|endoftext|>", o.documentSeparator());
        assertTrue(o.packing());
        assertEquals(0.0, o.validationFraction());
        assertEquals(o, o.withSeed(42));
        assertNotEquals(o, o.withSeed(43));
    }

    @Test
    void ranges() {
        DataOptions o = DataOptions.defaults();
        rejects("context too small", () -> o.withContextLength(7));
        rejects("context too large", () -> o.withContextLength(DataOptions.MAX_CONTEXT + 1));
        o.withContextLength(DataOptions.MIN_CONTEXT);
        rejects("validationFraction must be in [0, 0.5]", () -> o.withValidationFraction(0.6));
        rejects("validationFraction must be in [0, 0.5]", () -> o.withValidationFraction(-0.1));
        rejects("validationFraction must be in [0, 0.5]", () -> o.withValidationFraction(Double.NaN));
        rejects("maxDocuments must be >= 0", () -> o.withMaxDocuments(-1));
        rejects("field must not be blank", () -> o.withField(" "));
        rejects("both 'x'", () -> o.withPromptCompletionFields("x", "x"));
        rejects("documentSeparator must be one line", () -> o.withDocumentSeparator(" --- "));
    }

    @Test
    void conflictsNameBothOptions() {
        DataOptions o = DataOptions.defaults();
        rejects("field ('quote') and template ('{quote}') are exclusive", () -> o.withField("quote").withTemplate("{quote}"));
        rejects("validationFraction (0.1) and validationFile (v.jsonl) are exclusive",
                () -> o.withValidationFraction(0.1).withValidationFile(Path.of("v.jsonl")));
        rejects("field ('quote') applies to format JSONL_TEXT, not to format TEXT", () -> o.withFormat(DataFormat.TEXT).withField("quote"));
        rejects("applies to format JSONL_TEXT, not to format CHAT", () -> o.withTemplate("{a}").withFormat(DataFormat.CHAT));
        rejects("promptField/completionField ('q', 'a') apply to format PROMPT_COMPLETION, not to format JSONL_TEXT",
                () -> o.withFormat(DataFormat.JSONL_TEXT).withPromptCompletionFields("q", "a"));
        rejects("promptField/completionField ('q', 'a') and field ('text') are exclusive",
                () -> o.withField("text").withPromptCompletionFields("q", "a"));
        rejects("chatTemplate applies to format CHAT, not to format TEXT", () -> o.withFormat(DataFormat.TEXT).withChatTemplate("chatml"));
        rejects("chatTemplate and field are exclusive", () -> o.withField("text").withChatTemplate("chatml"));
        rejects("documentSeparator applies to format TEXT, not to format JSONL_TEXT",
                () -> o.withFormat(DataFormat.JSONL_TEXT).withDocumentSeparator("---"));
    }

    @Test
    void templates() {
        assertEquals(List.of("quote", "author"), DataOptions.placeholders("{quote} — {author}"));
        assertEquals(List.of("a"), DataOptions.placeholders("{{literal}} {a}"));
        rejects("is not closed", () -> DataOptions.placeholders("{quote"));
        rejects("closes nothing", () -> DataOptions.placeholders("quote} {a}"));
        rejects("has no {field} placeholder", () -> DataOptions.placeholders("plain"));
        rejects("bad placeholder", () -> DataOptions.placeholders("{} {a}"));
    }

    @Test
    void samplesCompareByContent() {
        TrainingSample a = new TrainingSample(new int[] {1, 5, 6}, new int[] {5, 6, -1}, 0);
        TrainingSample b = new TrainingSample(new int[] {1, 5, 6}, new int[] {5, 6, -1}, 0);
        assertEquals(a, b);
        assertEquals(a.hashCode(), b.hashCode());
        assertEquals(2, a.lossTokens());
        assertThrows(IllegalArgumentException.class, () -> new TrainingSample(new int[2], new int[3], 0));
    }
}
