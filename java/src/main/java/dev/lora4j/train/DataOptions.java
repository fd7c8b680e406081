package dev.lora4j.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * How to read training data ({@link TrainingData#load}). Start from {@link #defaults()} (each default is defined
 * once, there) and change what you need with the {@code with...} methods; each checks every option and rejects
 * conflicting ones, naming both (an {@link IllegalArgumentException}, as for any misuse of the API).
 */
public final class DataOptions {
    public static final String DEFAULT_SEPARATOR = "<|endoftext|>";
    public static final String DEFAULT_PROMPT_FIELD = "prompt";
    public static final String DEFAULT_COMPLETION_FIELD = "completion";
    public static final int MIN_CONTEXT = 8;
    public static final int MAX_CONTEXT = 1 << 20;

    /** The values; their initial values are the defaults. */
    private static final class Values implements Cloneable {
        DataFormat format = DataFormat.AUTO;
        String field;
        String template;
        String promptField = DEFAULT_PROMPT_FIELD;
        String completionField = DEFAULT_COMPLETION_FIELD;
        String chatTemplate;
        int contextLength = 256;
        boolean packing = true;
        double validationFraction;
        Path validationFile;
        long seed = 42;
        boolean skipUnencodable;
        boolean skipEmpty;
        String documentSeparator = DEFAULT_SEPARATOR;
        int maxDocuments;

        Values copy() {
            try {
                return (Values) clone(); // every field is immutable
            } catch (CloneNotSupportedException e) {
                throw new AssertionError(e);
            }
        }
    }

    private static final DataOptions DEFAULTS = new DataOptions(new Values());

    private final Values v; // never changed

    private DataOptions(Values v) {
        this.v = v;
        Objects.requireNonNull(v.format, "format");
        // null: the default
        v.promptField = v.promptField == null ? DEFAULT_PROMPT_FIELD : v.promptField;
        v.completionField = v.completionField == null ? DEFAULT_COMPLETION_FIELD : v.completionField;
        v.documentSeparator = v.documentSeparator == null ? DEFAULT_SEPARATOR : v.documentSeparator;
        if (v.field != null && v.field.isBlank()) {
            throw new IllegalArgumentException("field must not be blank");
        }
        if (v.promptField.isBlank() || v.completionField.isBlank()) {
            throw new IllegalArgumentException("promptField and completionField must not be blank");
        }
        if (v.promptField.equals(v.completionField)) {
            throw new IllegalArgumentException("promptField and completionField are both '" + v.promptField + "'");
        }
        if (v.chatTemplate != null && v.chatTemplate.isBlank()) {
            throw new IllegalArgumentException("chatTemplate must not be blank (null = the model's template)");
        }
        if (v.template != null) {
            placeholders(v.template); // validates
        }
        if (v.field != null && v.template != null) {
            throw new IllegalArgumentException("field ('" + v.field + "') and template ('" + v.template
                    + "') are exclusive: a template names its fields itself");
        }
        if ((v.field != null || v.template != null) && v.format != DataFormat.AUTO && v.format != DataFormat.JSONL_TEXT) {
            throw new IllegalArgumentException((v.field != null ? "field ('" + v.field + "')" : "template ('" + v.template + "')")
                    + " applies to format JSONL_TEXT, not to format " + v.format);
        }
        boolean customPc = !v.promptField.equals(DEFAULT_PROMPT_FIELD) || !v.completionField.equals(DEFAULT_COMPLETION_FIELD);
        if (customPc && v.format != DataFormat.AUTO && v.format != DataFormat.PROMPT_COMPLETION) {
            throw new IllegalArgumentException("promptField/completionField ('" + v.promptField + "', '" + v.completionField
                    + "') apply to format PROMPT_COMPLETION, not to format " + v.format);
        }
        if (customPc && (v.field != null || v.template != null)) {
            throw new IllegalArgumentException("promptField/completionField ('" + v.promptField + "', '" + v.completionField
                    + "') and " + (v.field != null ? "field ('" + v.field + "')" : "template ('" + v.template + "')")
                    + " are exclusive: one is for prompt/completion data, the other for JSONL text");
        }
        if (v.chatTemplate != null && v.format != DataFormat.AUTO && v.format != DataFormat.CHAT) {
            throw new IllegalArgumentException("chatTemplate applies to format CHAT, not to format " + v.format);
        }
        if (v.chatTemplate != null && (v.field != null || v.template != null || customPc)) {
            throw new IllegalArgumentException("chatTemplate and " + (v.field != null ? "field" : v.template != null ? "template"
                    : "promptField/completionField") + " are exclusive: one is for chat data, the other is not");
        }
        if (!v.documentSeparator.equals(DEFAULT_SEPARATOR) && v.format != DataFormat.AUTO && v.format != DataFormat.TEXT) {
            throw new IllegalArgumentException("documentSeparator applies to format TEXT, not to format " + v.format);
        }
        if (!v.documentSeparator.equals(v.documentSeparator.strip()) || v.documentSeparator.contains("\n")) {
            throw new IllegalArgumentException("documentSeparator must be one line without surrounding white space, got '"
                    + v.documentSeparator + "'");
        }
        if (v.contextLength < MIN_CONTEXT) {
            throw new IllegalArgumentException("context too small: contextLength " + v.contextLength
                    + " leaves no room to learn from; use at least " + MIN_CONTEXT + " tokens");
        }
        if (v.contextLength > MAX_CONTEXT) {
            throw new IllegalArgumentException("context too large: contextLength " + v.contextLength + " > " + MAX_CONTEXT + " tokens");
        }
        if (!(v.validationFraction >= 0 && v.validationFraction <= 0.5)) {
            throw new IllegalArgumentException("validationFraction must be in [0, 0.5], got " + v.validationFraction);
        }
        if (v.validationFraction > 0 && v.validationFile != null) {
            throw new IllegalArgumentException("validationFraction (" + v.validationFraction + ") and validationFile ("
                    + v.validationFile + ") are exclusive: hold out a share of the data or give a validation file");
        }
        if (v.maxDocuments < 0) {
            throw new IllegalArgumentException("maxDocuments must be >= 0 (0 = all), got " + v.maxDocuments);
        }
    }

    /** AUTO format, context 256, packing, no validation, seed 42, nothing skipped, every document. */
    public static DataOptions defaults() {
        return DEFAULTS;
    }

    private DataOptions with(Consumer<Values> change) {
        Values copy = v.copy();
        change.accept(copy);
        return new DataOptions(copy);
    }

    /** The file's format; {@link DataFormat#AUTO} decides from the extension and the first JSON object. */
    public DataFormat format() {
        return v.format;
    }

    /** JSONL text field (e.g. {@code quote}); null = {@code text} (or from {@code template}). */
    public String field() {
        return v.field;
    }

    /**
     * JSONL text template, e.g. {@code "{quote} — {author}"}: each {@code {key}} is replaced with the object's value
     * for that key, trimmed; <code>&#123;&#123;</code> and <code>&#125;&#125;</code> are literal braces; exclusive
     * with {@code field}.
     */
    public String template() {
        return v.template;
    }

    /** PROMPT_COMPLETION: the prompt's field (default {@code prompt}). */
    public String promptField() {
        return v.promptField;
    }

    /** PROMPT_COMPLETION: the completion's field (default {@code completion}). */
    public String completionField() {
        return v.completionField;
    }

    /** CHAT: a template name llama.cpp knows (e.g. {@code chatml}) or template text; null = the model's. */
    public String chatTemplate() {
        return v.chatTemplate;
    }

    /** Tokens per sample (8 .. {@value #MAX_CONTEXT}). */
    public int contextLength() {
        return v.contextLength;
    }

    /**
     * True: documents are concatenated (BOS + text + EOS each) and cut into windows; false: one document per sample,
     * padded, or split into several windows when longer than the context.
     */
    public boolean packing() {
        return v.packing;
    }

    /** Share of the documents held out for validation (0 .. 0.5); exclusive with validationFile. */
    public double validationFraction() {
        return v.validationFraction;
    }

    /** A separate validation file (same format and options), or null. */
    public Path validationFile() {
        return v.validationFile;
    }

    /** Seed of the shuffle of the documents (before the validation split). */
    public long seed() {
        return v.seed;
    }

    /** True: a document the vocabulary cannot encode is skipped and counted; false: an error. */
    public boolean skipUnencodable() {
        return v.skipUnencodable;
    }

    /**
     * True: a document whose text is empty (or tokenizes to nothing) is skipped and counted; false: an error naming
     * its line.
     */
    public boolean skipEmpty() {
        return v.skipEmpty;
    }

    /**
     * TEXT: a line equal to this (ignoring surrounding white space) ends a document (default {@code <|endoftext|>});
     * the empty string makes blank lines the separators (paragraphs).
     */
    public String documentSeparator() {
        return v.documentSeparator;
    }

    /** Read at most this many documents from each file (0 = all), for quick runs. */
    public int maxDocuments() {
        return v.maxDocuments;
    }

    /** The {@code {key}} names of a text template, in order (validates the template). */
    static List<String> placeholders(String template) {
        List<String> keys = new ArrayList<>();
        int i = 0;
        while (i < template.length()) {
            char c = template.charAt(i);
            if (c == '{' && i + 1 < template.length() && template.charAt(i + 1) == '{') {
                i += 2;
            } else if (c == '}' && i + 1 < template.length() && template.charAt(i + 1) == '}') {
                i += 2;
            } else if (c == '{') {
                int end = template.indexOf('}', i);
                if (end < 0) {
                    throw new IllegalArgumentException("template '" + template + "': '{' at index " + i + " is not closed");
                }
                String key = template.substring(i + 1, end);
                if (key.isBlank() || key.contains("{")) {
                    throw new IllegalArgumentException("template '" + template + "': bad placeholder at index " + i
                            + " (write {key}, or {{ for a literal brace)");
                }
                keys.add(key);
                i = end + 1;
            } else if (c == '}') {
                throw new IllegalArgumentException("template '" + template + "': '}' at index " + i
                        + " closes nothing (write }} for a literal brace)");
            } else {
                i++;
            }
        }
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("template '" + template + "' has no {field} placeholder");
        }
        return keys;
    }

    public DataOptions withFormat(DataFormat f) {
        return with(c -> c.format = f);
    }

    public DataOptions withField(String f) {
        return with(c -> c.field = f);
    }

    public DataOptions withTemplate(String t) {
        return with(c -> c.template = t);
    }

    public DataOptions withPromptCompletionFields(String prompt, String completion) {
        return with(c -> {
            c.promptField = prompt; c.completionField = completion;
        });
    }

    public DataOptions withChatTemplate(String t) {
        return with(c -> c.chatTemplate = t);
    }

    public DataOptions withContextLength(int n) {
        return with(c -> c.contextLength = n);
    }

    public DataOptions withPacking(boolean p) {
        return with(c -> c.packing = p);
    }

    public DataOptions withValidationFraction(double f) {
        return with(c -> c.validationFraction = f);
    }

    public DataOptions withValidationFile(Path f) {
        return with(c -> c.validationFile = f);
    }

    public DataOptions withSeed(long s) {
        return with(c -> c.seed = s);
    }

    public DataOptions withSkipUnencodable(boolean skip) {
        return with(c -> c.skipUnencodable = skip);
    }

    public DataOptions withSkipEmpty(boolean skip) {
        return with(c -> c.skipEmpty = skip);
    }

    public DataOptions withDocumentSeparator(String sep) {
        return with(c -> c.documentSeparator = sep);
    }

    public DataOptions withMaxDocuments(int n) {
        return with(c -> c.maxDocuments = n);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DataOptions c && ConfigFields.equal(v, c.v);
    }

    @Override
    public int hashCode() {
        return ConfigFields.hash(v);
    }

    @Override
    public String toString() {
        return ConfigFields.string("DataOptions", v);
    }
}
