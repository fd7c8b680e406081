package dev.lora4j.merge;

import dev.lora4j.LoraAdapterInfo;
import dev.lora4j.LoraScaling;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.internal.Madvise;
import dev.lora4j.internal.MergerHandle;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.List;

/**
 * Merges one tensor at a time: one call of the shim's {@code lora4j_lora_merge_tensor} per tensor (per expert of a
 * stack of experts) runs a ggml graph on the CPU backend's threads that dequantises the base (ggml's to_float, rows in
 * parallel), applies export-lora's graph, and converts or re-quantises (ggml_quantize_chunk, rows in parallel, as
 * llama-quantize does) into a reused output buffer, measuring the error on the way; then the bytes are written. All
 * parallel work runs on ggml's own threads: Java threads beside them would compete with ggml's OpenMP threads, which
 * spin between graph nodes.
 * Memory: the output buffer of the largest merged tensor plus ggml's compute buffer (two F32 copies of it).
 */
final class MergeEngine implements AutoCloseable {
    /** One adapter's A/B pair for a target tensor, with its effective scale. */
    record Contribution(GgufFile file, LoraAdapterInfo.Pair pair, float scale) {
        static Contribution of(GgufFile file, LoraAdapterInfo info, LoraAdapterInfo.Pair pair, float userScale) {
            return new Contribution(file, pair, LoraScaling.scale(userScale, info.alpha(), pair.rank()));
        }
    }

    /** A merged tensor: the base tensor, the type it is written in, the adapters that change it (in order). */
    record Plan(GgufTensorInfo tensor, GgmlType outType, List<Contribution> contributions) {
    }

    private final Arena arena = Arena.ofShared();
    private final boolean measure;
    private final MergerHandle merger;
    private final MemorySegment outBuf;
    private boolean closed;
    /** Nanoseconds spent computing and writing, for -Dlora4j.merge.profile=true. */
    private long computeNanos;
    private long writeNanos;
    private static final boolean PROFILE = Boolean.getBoolean("lora4j.merge.profile");

    MergeEngine(List<Plan> plans, int threads, boolean measure) {
        this.measure = measure;
        long maxOut = 1;
        for (Plan p : plans) {
            maxOut = Math.max(maxOut, p.outType().byteSize(p.tensor().shape()));
        }
        try {
            outBuf = arena.allocate(maxOut, 64);
            merger = new MergerHandle(threads);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** Writes all of {@code seg} to {@code out}, 8 MiB at a time. */
    static void write(MemorySegment seg, WritableByteChannel out) throws IOException {
        final long chunk = 8L << 20;
        for (long off = 0; off < seg.byteSize(); off += chunk) {
            ByteBuffer b = seg.asSlice(off, Math.min(chunk, seg.byteSize() - off)).asByteBuffer();
            while (b.hasRemaining()) {
                out.write(b);
            }
        }
    }

    /**
     * Matrix {@code e} of tensor {@code t} whose bytes are {@code data}: the whole of a 2-D tensor ({@code e} = 0),
     * expert {@code e} of a stack of {@code ne[2]} experts (each whole rows, so whole quantisation blocks).
     */
    private static MergerHandle.Tensor matrix(MemorySegment data, GgufTensorInfo t, long e) {
        long bytes = data.byteSize() / t.ne(2);
        return new MergerHandle.Tensor(data.asSlice(e * bytes, bytes), t.type().id(), t.ne(0), t.ne(1));
    }

    /** A tensor's report line and its raw sums (for the totals). */
    record Result(MergeReport.TensorReport report, double sqError, double sqMerged, double sqDelta, double sqBase) {
    }

    /**
     * Merges one tensor (all of it in the shim, on ggml's threads) and writes its bytes to {@code out}. A stack of
     * experts is merged expert by expert, each with its own A and B, into its slice of the output; the error sums
     * add up over the experts (the maximum error is the largest).
     */
    Result mergeAndWrite(GgufFile base, Plan plan, WritableByteChannel out) throws IOException {
        long c0 = System.nanoTime();
        GgufTensorInfo t = plan.tensor();
        MemorySegment src = base.tensorData(t.name());
        MemorySegment result = outBuf.asSlice(0, plan.outType().byteSize(t.shape()));
        List<Contribution> cs = plan.contributions();
        int k = cs.size();
        long experts = t.ne(2);
        long outBytes = result.byteSize() / experts;
        double[] sums = new double[5];
        for (long e = 0; e < experts; e++) {
            long expert = e;
            List<MergerHandle.Pair> pairs = cs.stream().map(c -> new MergerHandle.Pair(
                    matrix(c.file().tensorData(c.pair().a().name()), c.pair().a(), expert),
                    matrix(c.file().tensorData(c.pair().b().name()), c.pair().b(), expert), c.scale())).toList();
            double[] s = merger.mergeTensor(t.name(), matrix(src, t, e), plan.outType().id(), result.asSlice(e * outBytes, outBytes),
                    pairs, cs.get(0).pair().isTokenEmbedding(), measure);
            if (measure) {
                for (int i = 0; i < 4; i++) {
                    sums[i] += s[i];
                }
                sums[4] = Math.max(sums[4], s[4]);
            }
        }
        long c1 = System.nanoTime();
        write(result, out);
        Madvise.dontNeed(src);
        computeNanos += c1 - c0;
        writeNanos += System.nanoTime() - c1;

        double se = measure ? sums[0] : 0;
        double sw = measure ? sums[1] : 0;
        double sd = measure ? sums[2] : 0;
        double sb = measure ? sums[3] : 0;
        double maxe = measure ? sums[4] : Double.NaN;
        double rel = measure ? (sw > 0 ? Math.sqrt(se / sw) : 0) : Double.NaN;
        double delta = measure ? (sb > 0 ? Math.sqrt(sd / sb) : (sd > 0 ? Double.POSITIVE_INFINITY : 0)) : Double.NaN;
        return new Result(new MergeReport.TensorReport(t.name(), t.type(), plan.outType(), t.shape(), k, rel, maxe, delta), se, sw, sd, sb);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (PROFILE) {
            System.err.printf(java.util.Locale.ROOT, "merge: compute %.2f s, write %.2f s%n", computeNanos / 1e9, writeNanos / 1e9);
        }
        merger.close();
        arena.close();
    }
}
