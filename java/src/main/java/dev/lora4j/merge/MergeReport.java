package dev.lora4j.merge;

import dev.lora4j.gguf.GgmlType;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * What a merge did and how exact it is.
 *
 * <p>Errors compare each written tensor {@code Q} (after conversion or re-quantisation) with the exact F32 merge
 * {@code W' = W + Σ scale·B·A} (W dequantised): relative error {@code ‖Q − W'‖ / ‖W'‖} (Frobenius norms) and the
 * largest {@code |Q − W'|}. {@code relativeDelta} is {@code ‖W' − W‖ / ‖W‖}, how much the adapters changed the
 * tensor: a merge is only meaningful where the error is well below the delta. Totals are taken over all merged
 * tensors together ({@code sqrt(Σ‖Q − W'‖²) / sqrt(Σ‖W'‖²)}). Without error measurement
 * ({@link MergeOptions#measureErrors()} false) the error fields are NaN.
 *
 * @param tensors        one entry per merged tensor, in file order
 * @param tensorsMerged  tensors changed by at least one adapter
 * @param tensorsCopied  tensors copied byte for byte
 * @param bytesWritten   size of the output file
 * @param seconds        wall time of the whole merge
 */
public record MergeReport(Path base, Path output, List<String> adapters, OutputType outputType, List<TensorReport> tensors,
                          int tensorsMerged, int tensorsCopied, long bytesWritten, double seconds,
                          double relativeError, double maxAbsError, double relativeDelta) {

    /**
     * One merged tensor.
     *
     * @param adapters       how many adapters changed it
     * @param relativeError  {@code ‖Q − W'‖ / ‖W'‖}; 0 for F32 output
     * @param maxAbsError    {@code max |Q − W'|}
     * @param relativeDelta  {@code ‖W' − W‖ / ‖W‖}
     */
    public record TensorReport(String name, GgmlType baseType, GgmlType outType, long[] shape, int adapters,
                               double relativeError, double maxAbsError, double relativeDelta) {
        public TensorReport {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    public MergeReport {
        adapters = List.copyOf(adapters);
        tensors = List.copyOf(tensors);
    }

    /** The report as a text table (one row per merged tensor) with a total line. */
    public String format() {
        StringBuilder sb = new StringBuilder();
        int w = Math.max(24, tensors.stream().mapToInt(t -> t.name().length()).max().orElse(0));
        sb.append(String.format(Locale.ROOT, "%-" + w + "s  %-20s  %-7s  %-7s  %2s  %12s  %12s  %12s%n",
                "tensor", "shape", "base", "out", "n", "rel.error", "max|error|", "rel.delta"));
        for (TensorReport t : tensors) {
            sb.append(String.format(Locale.ROOT, "%-" + w + "s  %-20s  %-7s  %-7s  %2d  %12.4e  %12.4e  %12.4e%n", t.name(),
                    java.util.Arrays.toString(t.shape()), t.baseType(), t.outType(), t.adapters(), t.relativeError(), t.maxAbsError(),
                    t.relativeDelta()));
        }
        sb.append(String.format(Locale.ROOT, "%-" + w + "s  %-20s  %-7s  %-7s  %2s  %12.4e  %12.4e  %12.4e%n", "total", "", "", "", "",
                relativeError, maxAbsError, relativeDelta));
        sb.append(String.format(Locale.ROOT, "merged %d tensors (output type %s), copied %d; wrote %s (%,d bytes) in %.2f s%n",
                tensorsMerged, outputType, tensorsCopied, output, bytesWritten, seconds));
        return sb.toString();
    }
}
