package dev.lora4j.merge;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * What to merge into a base model: the adapters with their user scales (applied in this order, as llama.cpp adds
 * them), the {@link OutputType} of merged tensors, CPU threads (0 = all available processors) and whether to
 * measure the merge error of each tensor (the relative error of the written tensor against the exact F32 merge, and
 * how much the adapters changed it; on by default, it costs one more pass over each merged tensor).
 *
 * <pre>{@code
 * MergeOptions o = MergeOptions.of(Path.of("adapter.gguf")).withType(OutputType.parse("q8_0")).withThreads(4);
 * }</pre>
 */
public record MergeOptions(List<Adapter> adapters, OutputType outputType, int threads, boolean measureErrors) {

    /** Adapters one merge takes (the native merge graph of a tensor has room for this many; LORA4J_MAX_MERGE_ADAPTERS). */
    public static final int MAX_ADAPTERS = 256;

    /** One adapter file and its user scale (1 = as trained; the effective scale is {@code scale * alpha / r}). */
    public record Adapter(Path path, float scale) {
        public Adapter {
            Objects.requireNonNull(path, "path");
            if (!Float.isFinite(scale)) {
                throw new IllegalArgumentException("the scale of " + path + " must be finite, got " + scale);
            }
        }

        public Adapter(Path path) {
            this(path, 1f);
        }

        /**
         * Parses {@code FILE} or {@code FILE:SCALE}, as the CLI's {@code --lora} takes adapters (generate and merge):
         * the part after the last ':' is a scale when it parses as a number; otherwise the whole text is the file
         * name. A scale that is not finite ({@code NaN}, {@code Infinity}, {@code 1e40}) is an
         * {@link IllegalArgumentException}.
         */
        public static Adapter parse(String spec) {
            int colon = spec.lastIndexOf(':');
            if (colon > 0 && colon < spec.length() - 1) {
                String tail = spec.substring(colon + 1).strip();
                try {
                    return new Adapter(Path.of(spec.substring(0, colon)), Float.parseFloat(tail));
                } catch (NumberFormatException e) {
                    // a ':' in the file name
                }
            }
            return new Adapter(Path.of(spec), 1f);
        }
    }

    public MergeOptions {
        adapters = List.copyOf(adapters);
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException("give at least one adapter to merge");
        }
        if (adapters.size() > MAX_ADAPTERS) {
            throw new IllegalArgumentException("at most " + MAX_ADAPTERS + " adapters in one merge, got " + adapters.size());
        }
        Objects.requireNonNull(outputType, "outputType");
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = all processors), got " + threads);
        }
    }

    /** The adapters at scale 1, output type {@link OutputType#KEEP}, all processors, errors measured. */
    public static MergeOptions of(Path... adapters) {
        return new MergeOptions(java.util.Arrays.stream(adapters).map(Adapter::new).toList(), OutputType.KEEP, 0, true);
    }

    public static MergeOptions of(List<Adapter> adapters) {
        return new MergeOptions(adapters, OutputType.KEEP, 0, true);
    }

    public MergeOptions withType(OutputType type) {
        return new MergeOptions(adapters, type, threads, measureErrors);
    }

    public MergeOptions withThreads(int n) {
        return new MergeOptions(adapters, outputType, n, measureErrors);
    }

    public MergeOptions withMeasureErrors(boolean measure) {
        return new MergeOptions(adapters, outputType, threads, measure);
    }

    /** The threads to use: {@link #threads()} or, when 0, all available processors. */
    public int effectiveThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }
}
