package dev.lora4j.merge;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.lora4j.LoraAdapterInfo;
import dev.lora4j.LoraScaling;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.internal.MergerHandle;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.List;

/**
 * Merges one tensor at a time: one call of the shim's {@code lora4j_lora_merge_tensor} per tensor runs a ggml graph
 * on the CPU backend's threads that dequantises the base (ggml's to_float, rows in parallel), applies export-lora's
 * graph, and converts or re-quantises (ggml_quantize_chunk, rows in parallel, as llama-quantize does) into a reused
 * output buffer, measuring the error on the way; then the bytes are written. All parallel work runs on ggml's own
 * threads: Java threads beside them would compete with ggml's OpenMP threads, which spin between graph nodes.
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
        long rows() {
            return tensor.elementCount() / tensor.ne(0);
        }
    }

    private final Arena arena = Arena.ofShared();
    private final boolean measure;
    private final MergerHandle merger;
    private final MemorySegment outBuf;
    private final MemorySegment stats;
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
            stats = arena.allocate(JAVA_DOUBLE, 5);
            merger = new MergerHandle(threads);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** A tensor's report line and its raw sums (for the totals). */
    record Result(MergeReport.TensorReport report, double sqError, double sqMerged, double sqDelta, double sqBase) {
    }

    /** Merges one tensor (all of it in the shim, on ggml's threads) and writes its bytes to {@code out}. */
    Result mergeAndWrite(GgufFile base, Plan plan, WritableByteChannel out) throws IOException {
        long c0 = System.nanoTime();
        GgufTensorInfo t = plan.tensor();
        MemorySegment src = GgmlKernels.writable(base.tensorData(t.name()));
        MemorySegment result = outBuf.asSlice(0, plan.outType().byteSize(t.shape()));
        List<Contribution> cs = plan.contributions();
        int k = cs.size();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment aData = a.allocate(ADDRESS, k);
            MemorySegment bData = a.allocate(ADDRESS, k);
            MemorySegment aTypes = a.allocate(JAVA_INT, k);
            MemorySegment bTypes = a.allocate(JAVA_INT, k);
            MemorySegment aNe = a.allocate(JAVA_LONG, 2L * k);
            MemorySegment bNe = a.allocate(JAVA_LONG, 2L * k);
            MemorySegment scales = a.allocate(JAVA_FLOAT, k);
            for (int i = 0; i < k; i++) {
                Contribution c = cs.get(i);
                GgufTensorInfo ta = c.pair().a();
                GgufTensorInfo tb = c.pair().b();
                aData.setAtIndex(ADDRESS, i, GgmlKernels.writable(c.file().tensorData(ta.name())));
                bData.setAtIndex(ADDRESS, i, GgmlKernels.writable(c.file().tensorData(tb.name())));
                aTypes.setAtIndex(JAVA_INT, i, ta.type().id());
                bTypes.setAtIndex(JAVA_INT, i, tb.type().id());
                aNe.setAtIndex(JAVA_LONG, 2L * i, ta.ne(0));
                aNe.setAtIndex(JAVA_LONG, 2L * i + 1, ta.ne(1));
                bNe.setAtIndex(JAVA_LONG, 2L * i, tb.ne(0));
                bNe.setAtIndex(JAVA_LONG, 2L * i + 1, tb.ne(1));
                scales.setAtIndex(JAVA_FLOAT, i, c.scale());
            }
            merger.mergeTensor(t.name(), t.type().id(), src, t.ne(0), plan.rows(), plan.outType().id(), result,
                    k, aData, aTypes, aNe, bData, bTypes, bNe, scales, cs.get(0).pair().isTokenEmbedding(),
                    measure ? stats : MemorySegment.NULL);
        }
        long c1 = System.nanoTime();
        final long chunk = 8L << 20;
        for (long off = 0; off < result.byteSize(); off += chunk) {
            ByteBuffer b = result.asSlice(off, Math.min(chunk, result.byteSize() - off)).asByteBuffer();
            while (b.hasRemaining()) {
                out.write(b);
            }
        }
        Madvise.dontNeed(src);
        computeNanos += c1 - c0;
        writeNanos += System.nanoTime() - c1;

        double se = measure ? stats.getAtIndex(JAVA_DOUBLE, 0) : 0;
        double sw = measure ? stats.getAtIndex(JAVA_DOUBLE, 1) : 0;
        double sd = measure ? stats.getAtIndex(JAVA_DOUBLE, 2) : 0;
        double sb = measure ? stats.getAtIndex(JAVA_DOUBLE, 3) : 0;
        double maxe = measure ? stats.getAtIndex(JAVA_DOUBLE, 4) : Double.NaN;
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

    /** Drops mapped pages we are done with from this process (Linux madvise MADV_DONTNEED; the page cache keeps them). */
    static final class Madvise {
        private static final MethodHandle MADVISE;
        private static final long PAGE = 4096;

        static {
            MethodHandle h = null;
            if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
                Linker l = Linker.nativeLinker();
                h = l.defaultLookup().find("madvise")
                        .map(a -> l.downcallHandle(a, FunctionDescriptor.of(JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT)))
                        .orElse(null);
            }
            MADVISE = h;
        }

        private Madvise() {
        }

        static void dontNeed(MemorySegment mapped) {
            if (MADVISE == null || !mapped.isNative()) {
                return;
            }
            long start = (mapped.address() + PAGE - 1) & -PAGE;
            long end = (mapped.address() + mapped.byteSize()) & -PAGE;
            if (end > start) {
                try {
                    int ignored = (int) MADVISE.invokeExact(start, end - start, 4 /* MADV_DONTNEED */);
                } catch (Throwable ignored) {
                    // best effort
                }
            }
        }
    }
}
