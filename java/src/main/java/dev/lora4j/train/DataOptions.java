package dev.lora4j.train;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How to read training data ({@link TrainingData#load}). Start from {@link #defaults()} and change what you need
 * with the {@code with...} methods; the constructor checks every option and rejects conflicting ones, naming both
 * (an {@link IllegalArgumentException}, as for any misuse of the API).
 *
 * @param format             the file's format; {@link DataFormat#AUTO} decides from the extension and the first JSON object
 * @param field              JSONL text field (e.g. {@code quote}); null = {@code text} (or from {@code template})
 * @param template           JSONL text template, e.g. {@code "{quote} — {author}"}: each {@code {key}} is replaced with
 *                           the object's value for that key, trimmed; <code>&#123;&#123;</code> and <code>&#125;&#125;</code> are literal braces;
 *                           exclusive with {@code field}
 * @param promptField        PROMPT_COMPLETION: the prompt's field (default {@code prompt})
 * @param completionField    PROMPT_COMPLETION: the completion's field (default {@code completion})
 * @param chatTemplate       CHAT: a template name llama.cpp knows (e.g. {@code chatml}) or template text; null = the model's
 * @param contextLength      tokens per sample (8 .. {@value #MAX_CONTEXT})
 * @param packing            true: documents are concatenated (BOS + text + EOS each) and cut into windows; false: one
 *                           document per sample, padded, or split into several windows when longer than the context
 * @param validationFraction share of the documents held out for validation (0 .. 0.5); exclusive with validationFile
 * @param validationFile     a separate validation file (same format and options), or null
 * @param seed               seed of the shuffle of the documents (before the validation split)
 * @param skipUnencodable    true: a document the vocabulary cannot encode is skipped and counted; false: an error
 * @param skipEmpty          true: a document whose text is empty (or tokenizes to nothing) is skipped and counted;
 *                           false: an error naming its line
 * @param documentSeparator  TEXT: a line equal to this (ignoring surrounding white space) ends a document (default
 *                           {@code <|endoftext|>}); the empty string makes blank lines the separators (paragraphs)
 * @param maxDocuments       read at most this many documents from each file (0 = all), for quick runs
 */
public record DataOptions(DataFormat format, String field, String template, String promptField, String completionField,
                          String chatTemplate, int contextLength, boolean packing, double validationFraction,
                          Path validationFile, long seed, boolean skipUnencodable, boolean skipEmpty,
                          String documentSeparator, int maxDocuments) {

    public static final String DEFAULT_SEPARATOR = "<|endoftext|>";
    public static final String DEFAULT_PROMPT_FIELD = "prompt";
    public static final String DEFAULT_COMPLETION_FIELD = "completion";
    public static final int MIN_CONTEXT = 8;
    public static final int MAX_CONTEXT = 1 << 20;

    public DataOptions {
        Objects.requireNonNull(format, "format");
        promptField = promptField == null ? DEFAULT_PROMPT_FIELD : promptField;
        completionField = completionField == null ? DEFAULT_COMPLETION_FIELD : completionField;
        documentSeparator = documentSeparator == null ? DEFAULT_SEPARATOR : documentSeparator;
        if (field != null && field.isBlank()) {
            throw new IllegalArgumentException("field must not be blank");
        }
        if (promptField.isBlank() || completionField.isBlank()) {
            throw new IllegalArgumentException("promptField and completionField must not be blank");
        }
        if (promptField.equals(completionField)) {
            throw new IllegalArgumentException("promptField and completionField are both '" + promptField + "'");
        }
        if (chatTemplate != null && chatTemplate.isBlank()) {
            throw new IllegalArgumentException("chatTemplate must not be blank (null = the model's template)");
        }
        if (template != null) {
            placeholders(template); // validates
        }
        if (field != null && template != null) {
            throw new IllegalArgumentException("field ('" + field + "') and template ('" + template
                    + "') are exclusive: a template names its fields itself");
        }
        if ((field != null || template != null) && format != DataFormat.AUTO && format != DataFormat.JSONL_TEXT) {
            throw new IllegalArgumentException((field != null ? "field ('" + field + "')" : "template ('" + template + "')")
                    + " applies to format JSONL_TEXT, not to format " + format);
        }
        boolean customPc = !promptField.equals(DEFAULT_PROMPT_FIELD) || !completionField.equals(DEFAULT_COMPLETION_FIELD);
        if (customPc && format != DataFormat.AUTO && format != DataFormat.PROMPT_COMPLETION) {
            throw new IllegalArgumentException("promptField/completionField ('" + promptField + "', '" + completionField
                    + "') apply to format PROMPT_COMPLETION, not to format " + format);
        }
        if (customPc && (field != null || template != null)) {
            throw new IllegalArgumentException("promptField/completionField ('" + promptField + "', '" + completionField
                    + "') and " + (field != null ? "field ('" + field + "')" : "template ('" + template + "')")
                    + " are exclusive: one is for prompt/completion data, the other for JSONL text");
        }
        if (chatTemplate != null && format != DataFormat.AUTO && format != DataFormat.CHAT) {
            throw new IllegalArgumentException("chatTemplate applies to format CHAT, not to format " + format);
        }
        if (chatTemplate != null && (field != null || template != null || customPc)) {
            throw new IllegalArgumentException("chatTemplate and " + (field != null ? "field" : template != null ? "template"
                    : "promptField/completionField") + " are exclusive: one is for chat data, the other is not");
        }
        if (!documentSeparator.equals(DEFAULT_SEPARATOR) && format != DataFormat.AUTO && format != DataFormat.TEXT) {
            throw new IllegalArgumentException("documentSeparator applies to format TEXT, not to format " + format);
        }
        if (!documentSeparator.equals(documentSeparator.strip()) || documentSeparator.contains("\n")) {
            throw new IllegalArgumentException("documentSeparator must be one line without surrounding white space, got '"
                    + documentSeparator + "'");
        }
        if (contextLength < MIN_CONTEXT) {
            throw new IllegalArgumentException("context too small: contextLength " + contextLength
                    + " leaves no room to learn from; use at least " + MIN_CONTEXT + " tokens");
        }
        if (contextLength > MAX_CONTEXT) {
            throw new IllegalArgumentException("context too large: contextLength " + contextLength + " > " + MAX_CONTEXT + " tokens");
        }
        if (!(validationFraction >= 0 && validationFraction <= 0.5)) {
            throw new IllegalArgumentException("validationFraction must be in [0, 0.5], got " + validationFraction);
        }
        if (validationFraction > 0 && validationFile != null) {
            throw new IllegalArgumentException("validationFraction (" + validationFraction + ") and validationFile ("
                    + validationFile + ") are exclusive: hold out a share of the data or give a validation file");
        }
        if (maxDocuments < 0) {
            throw new IllegalArgumentException("maxDocuments must be >= 0 (0 = all), got " + maxDocuments);
        }
    }

    /** AUTO format, context 256, packing, no validation, seed 42, nothing skipped, every document. */
    public static DataOptions defaults() {
        return new DataOptions(DataFormat.AUTO, null, null, null, null, null, 256, true, 0.0, null, 42, false, false, null, 0);
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
        return new DataOptions(f, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withField(String f) {
        return new DataOptions(format, f, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withTemplate(String t) {
        return new DataOptions(format, field, t, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withPromptCompletionFields(String prompt, String completion) {
        return new DataOptions(format, field, template, prompt, completion, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withChatTemplate(String t) {
        return new DataOptions(format, field, template, promptField, completionField, t, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withContextLength(int n) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, n, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withPacking(boolean p) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, p,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withValidationFraction(double v) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                v, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withValidationFile(Path v) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, v, seed, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withSeed(long s) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, s, skipUnencodable, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withSkipUnencodable(boolean skip) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skip, skipEmpty, documentSeparator, maxDocuments);
    }

    public DataOptions withSkipEmpty(boolean skip) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skip, documentSeparator, maxDocuments);
    }

    public DataOptions withDocumentSeparator(String sep) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, sep, maxDocuments);
    }

    public DataOptions withMaxDocuments(int n) {
        return new DataOptions(format, field, template, promptField, completionField, chatTemplate, contextLength, packing,
                validationFraction, validationFile, seed, skipUnencodable, skipEmpty, documentSeparator, n);
    }
}
