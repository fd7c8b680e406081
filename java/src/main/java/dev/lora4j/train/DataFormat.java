package dev.lora4j.train;

/**
 * How a training file is read into documents. See {@link TrainingData} for the rules of each format.
 */
public enum DataFormat {
    /**
     * Decide from the file: {@code .txt}, {@code .text}, {@code .md} are {@link #TEXT}; {@code .jsonl},
     * {@code .ndjson}, {@code .json} (and other files whose first non-blank line is a JSON object) are JSON lines,
     * typed by the first object's keys: the prompt and completion fields → {@link #PROMPT_COMPLETION},
     * {@code messages} → {@link #CHAT}, {@code text} → {@link #JSONL_TEXT}; a {@code field} or {@code template}
     * option makes it {@link #JSONL_TEXT}; anything else is an error asking for a field.
     */
    AUTO,
    /** Plain text; documents separated by lines equal to a separator (default {@code <|endoftext|>}). */
    TEXT,
    /** JSON lines; one text field (or a template over the object's fields) per line is one document. */
    JSONL_TEXT,
    /** JSON lines with a prompt and a completion field; the loss counts only the completion's tokens. */
    PROMPT_COMPLETION,
    /**
     * JSON lines with {@code messages: [{role, content}, ...]}, formatted with the model's chat template or an
     * explicit one; the loss counts only the assistant replies (and their end-of-turn markers).
     */
    CHAT
}
