package dev.lora4j.gguf;

import dev.lora4j.Lora4jException;
import java.nio.file.Path;

/**
 * A GGUF file is malformed: bad magic or version, a count or length that runs past the end of the file, an
 * unknown type, a tensor whose data lies outside the file, and so on. Carries the file and the byte offset
 * in it where the problem was found; the message reads {@code "<file>: at byte <offset>: <detail>"}.
 */
public class GgufFormatException extends Lora4jException {
    private final transient Path file;
    private final long offset;
    private final String detail;

    public GgufFormatException(Path file, long offset, String detail) {
        super(file + ": at byte " + offset + ": " + detail);
        this.file = file;
        this.offset = offset;
        this.detail = detail;
    }

    public GgufFormatException(Path file, long offset, String detail, Throwable cause) {
        super(file + ": at byte " + offset + ": " + detail, cause);
        this.file = file;
        this.offset = offset;
        this.detail = detail;
    }

    /** The file that is malformed. */
    public Path file() {
        return file;
    }

    /** Byte offset in the file where the problem is. */
    public long offset() {
        return offset;
    }

    /** The message without the file and offset prefix. */
    public String detail() {
        return detail;
    }
}
