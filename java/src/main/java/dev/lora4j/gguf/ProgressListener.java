package dev.lora4j.gguf;

/** Progress of a long write: {@code done} of {@code total} units (bytes of tensor data) so far. */
@FunctionalInterface
public interface ProgressListener {
    void progress(long done, long total);

    /** A listener that ignores progress. */
    ProgressListener NONE = (done, total) -> { };
}
