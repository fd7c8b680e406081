package dev.lora4j.train;

import dev.lora4j.Lora4jException;
import java.nio.file.Path;

/**
 * Training data that cannot be used: an empty file, a malformed JSON line, a missing field, a document the
 * vocabulary cannot encode, a sample with nothing to learn, a split that leaves a set empty, invalid UTF-8, ...
 * The message names the file and, when the problem is on one line, the line ({@code file, line N: what}).
 */
public class TrainingDataException extends Lora4jException {
    private final transient Path file;
    private final long line;

    /**
     * @param file the data file (may be null when the problem is not about one file)
     * @param line 1-based line number, 0 when the problem is not about one line
     */
    public TrainingDataException(Path file, long line, String message) {
        this(file, line, message, null);
    }

    public TrainingDataException(Path file, long line, String message, Throwable cause) {
        super(where(file, line) + message, cause);
        this.file = file;
        this.line = line;
    }

    private static String where(Path file, long line) {
        if (file == null) {
            return "";
        }
        return line > 0 ? file + ", line " + line + ": " : file + ": ";
    }

    /** The data file, or null. */
    public Path file() {
        return file;
    }

    /** The 1-based line the problem is on, 0 when it is not about one line. */
    public long line() {
        return line;
    }
}
