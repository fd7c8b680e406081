package dev.lora4j.merge;

import dev.lora4j.FileType;
import dev.lora4j.LoraAdapterInfo;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufValueType;
import dev.lora4j.gguf.GgufWriter;
import dev.lora4j.gguf.ProgressListener;
import dev.lora4j.internal.Llama;
import dev.lora4j.internal.Madvise;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Merges LoRA adapters into a base model and writes a new GGUF model: {@code W' = W + Σ scale·alpha/r·B·A} for
 * every adapted tensor (PEFT's {@code merge_and_unload}, llama.cpp's {@code llama-export-lora}); in a tensor of
 * stacked experts ({@code ffn_gate_exps}, ...) every expert with its own A and B.
 *
 * <ul>
 *   <li><b>Same numbers as llama-export-lora.</b> The base is dequantised with ggml's {@code to_float} and the
 *       merge runs the graph export-lora builds, on ggml's CPU backend (see {@code lora4j_lora_merge_tensor}), so
 *       the exact F32 merge is export-lora's bit for bit, and an F16 output equals export-lora's F16 tensors.</li>
 *   <li><b>Output types.</b> {@link OutputType#KEEP} re-quantises each merged tensor to its base tensor's own type in
 *       the same pass (export-lora always writes F16), with {@code ggml_quantize_chunk} as llama-quantize does; or
 *       one fixed type. Tensors no adapter touches are copied byte for byte.</li>
 *   <li><b>Several adapters</b>, each with its own scale, may target different subsets of tensors (export-lora
 *       requires equal sets). Every adapter is read and checked against the base first
 *       ({@link LoraAdapterInfo#checkFits}): a mismatch is an {@link dev.lora4j.AdapterMismatchException} naming the
 *       tensor, before anything is written.</li>
 *   <li><b>Metadata</b>: every base key in its order; {@code general.file_type} set to what most weights now are
 *       (unchanged with KEEP); and a record of the merge: {@code lora4j.merge.adapters} (file names),
 *       {@code lora4j.merge.scales} (user scales), {@code lora4j.merge.type}. Merging into an already merged model
 *       appends to the adapter and scale lists.</li>
 *   <li><b>Streaming and atomic.</b> Each merged tensor is computed while the file is written, so memory is that of the
 *       largest merged tensor (two F32 copies in ggml's compute buffer and one in the output type), whatever the model
 *       size (the base and the adapters are memory-mapped, and mapped pages are released after use): models larger
 *       than RAM merge. All parallel work (dequantisation, the graph, re-quantisation, error sums) runs on ggml's
 *       CPU threads ({@link MergeOptions#threads()}). The output is written to {@code .<name>.tmp-<pid>-<hex>}
 *       beside it and renamed onto it at the end, so an interrupted merge (even {@code kill -9}) never leaves a
 *       partial file at the output path. A killed run leaves its temporary file behind; the next write to the same
 *       output deletes those whose process is gone (a merge still running keeps its own).</li>
 *   <li>It never merges in place: an output path that is the base or one of the adapters is refused.</li>
 * </ul>
 *
 * <p>The returned {@link MergeReport} has the error of every merged tensor against the exact F32 merge.
 */
public final class LoraMerger {

    /** Metadata keys of the merge record. */
    public static final String KEY_ADAPTERS = "lora4j.merge.adapters";
    public static final String KEY_SCALES = "lora4j.merge.scales";
    public static final String KEY_TYPE = "lora4j.merge.type";

    private LoraMerger() {
    }

    /**
     * Whether merged tensors can be written in {@code type}: every type ggml quantises without an importance matrix
     * ({@link GgmlType#ggmlQuantizes()}, not {@link GgmlType#needsImatrix()}), the rule lora4j.cpp's
     * {@code out_type_ok} applies too. The merge's output types follow from the generated {@link GgmlType} table.
     */
    public static boolean canWrite(GgmlType type) {
        return type.ggmlQuantizes() && !type.needsImatrix();
    }

    static String whyNotWritable(GgmlType type) {
        return type.needsImatrix() ? "ggml quantises only with an importance matrix" : "ggml cannot quantise to it";
    }

    /** {@link #merge(Path, MergeOptions, Path, ProgressListener)} without progress. */
    public static MergeReport merge(Path base, MergeOptions options, Path out) {
        return merge(base, options, out, ProgressListener.NONE);
    }

    /**
     * Merges {@code options.adapters()} into {@code base} and writes the merged model to {@code out} (atomically).
     *
     * @param progress bytes of tensor data written, of the total
     * @throws dev.lora4j.AdapterMismatchException when an adapter does not fit the base (nothing is written)
     * @throws dev.lora4j.gguf.GgufFormatException when an input is not valid GGUF
     * @throws IllegalArgumentException            for an output that is an input, or a type that cannot be written
     * @throws UncheckedIOException                on I/O errors (the output path is then left as it was)
     */
    public static MergeReport merge(Path base, MergeOptions options, Path out, ProgressListener progress) {
        long t0 = System.nanoTime();
        requireFile(base, "base model");
        for (MergeOptions.Adapter a : options.adapters()) {
            requireFile(a.path(), "adapter");
        }
        refuseSame(out, base, "the base model");
        for (MergeOptions.Adapter a : options.adapters()) {
            refuseSame(out, a.path(), "an adapter");
        }
        Llama.init();
        List<GgufFile> open = new ArrayList<>();
        try {
            GgufFile bf = GgufFile.open(base);
            open.add(bf);
            if (bf.getLong("split.count", 1) > 1) {
                throw new IllegalArgumentException(base + " is one part of a split model; merge the joined model (llama-gguf-split --merge)");
            }
            // 1. read and check every adapter before anything is written
            Map<String, List<MergeEngine.Contribution>> byTarget = new HashMap<>();
            for (MergeOptions.Adapter a : options.adapters()) {
                GgufFile af = GgufFile.open(a.path());
                open.add(af);
                LoraAdapterInfo info = LoraAdapterInfo.read(af);
                info.checkFits(bf);
                for (LoraAdapterInfo.Pair p : info.pairs().values()) {
                    byTarget.computeIfAbsent(p.target(), k -> new ArrayList<>()).add(MergeEngine.Contribution.of(af, info, p, a.scale()));
                }
            }
            // 2. the plan: which tensors merge, in which type
            List<MergeEngine.Plan> plans = new ArrayList<>();
            Map<String, MergeEngine.Plan> planOf = new HashMap<>();
            for (GgufTensorInfo t : bf.tensors()) {
                List<MergeEngine.Contribution> cs = byTarget.get(t.name());
                if (cs == null) {
                    continue;
                }
                if (!t.type().ggmlDequantizes()) {
                    throw new IllegalArgumentException("tensor '" + t.name() + "' is " + t.type() + ", which ggml cannot dequantise");
                }
                GgmlType outType = options.outputType().resolve(t.name(), t.type(), t.ne(0));
                MergeEngine.Plan p = new MergeEngine.Plan(t, outType, List.copyOf(cs));
                plans.add(p);
                planOf.put(t.name(), p);
            }
            // 3. metadata and tensors
            GgufWriter w = new GgufWriter().version(bf.version());
            putMetadata(w, bf, options, planOf);
            int threads = options.effectiveThreads();
            List<MergeEngine.Result> results = new ArrayList<>();
            try (MergeEngine engine = new MergeEngine(plans, threads, options.measureErrors())) {
                for (GgufTensorInfo t : bf.tensors()) {
                    MergeEngine.Plan p = planOf.get(t.name());
                    if (p == null) {
                        w.addTensor(t.name(), t.type(), t.shape(), (GgufWriter.TensorData) ch -> copy(bf.tensorData(t.name()), ch));
                    } else {
                        w.addTensor(t.name(), p.outType(), t.shape(), (GgufWriter.TensorData) ch -> results.add(engine.mergeAndWrite(bf, p, ch)));
                    }
                }
                long tw = System.nanoTime();
                w.write(out, progress);
                if (Boolean.getBoolean("lora4j.merge.profile")) {
                    System.err.printf(java.util.Locale.ROOT, "merge: prepared in %.2f s, written (with fsync and rename) in %.2f s%n",
                            (tw - t0) / 1e9, (System.nanoTime() - tw) / 1e9);
                }
            }
            return report(base, out, options, bf.tensors().size(), results, t0);
        } finally {
            for (GgufFile f : open) {
                f.close();
            }
        }
    }

    private static MergeReport report(Path base, Path out, MergeOptions options, int nTensors, List<MergeEngine.Result> results, long t0) {
        double se = 0, sw = 0, sd = 0, sb = 0, maxe = 0;
        List<MergeReport.TensorReport> rows = new ArrayList<>();
        for (MergeEngine.Result r : results) {
            rows.add(r.report());
            se += r.sqError();
            sw += r.sqMerged();
            sd += r.sqDelta();
            sb += r.sqBase();
            maxe = Math.max(maxe, r.report().maxAbsError());
        }
        boolean m = options.measureErrors();
        long size;
        try {
            size = Files.size(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        List<String> names = options.adapters().stream().map(a -> a.path().toString()).toList();
        return new MergeReport(base, out, names, options.outputType(), rows, results.size(), nTensors - results.size(), size,
                (System.nanoTime() - t0) / 1e9, m ? (sw > 0 ? Math.sqrt(se / sw) : 0) : Double.NaN, m ? maxe : Double.NaN,
                m ? (sb > 0 ? Math.sqrt(sd / sb) : 0) : Double.NaN);
    }

    private static void putMetadata(GgufWriter w, GgufFile bf, MergeOptions options, Map<String, MergeEngine.Plan> planOf) {
        Map<String, GgufValue> md = bf.metadata();
        Optional<FileType> fileType = options.outputType().isKeep() ? Optional.empty() : dominantFileType(bf, planOf);
        List<String> names = new ArrayList<>();
        List<Float> scales = new ArrayList<>();
        GgufValue prevNames = md.get(KEY_ADAPTERS);
        GgufValue prevScales = md.get(KEY_SCALES);
        if (prevNames != null && prevScales != null && prevNames.isArray() && prevNames.elementType() == GgufValueType.STRING
                && prevScales.isArray() && prevScales.elementType() == GgufValueType.FLOAT32) {
            names.addAll(prevNames.asStringList());
            for (float f : prevScales.asFloatArray()) {
                scales.add(f);
            }
        }
        for (MergeOptions.Adapter a : options.adapters()) {
            names.add(String.valueOf(a.path().getFileName()));
            scales.add(a.scale());
        }
        boolean wroteFileType = false;
        for (Map.Entry<String, GgufValue> e : md.entrySet()) {
            String k = e.getKey();
            if (k.startsWith("lora4j.merge.")) {
                continue; // rewritten below
            }
            if (k.equals("general.file_type") && fileType.isPresent()) {
                w.put(k, GgufValue.ofUint32(fileType.get().id()));
                wroteFileType = true;
            } else {
                w.put(k, e.getValue());
            }
        }
        if (!wroteFileType && fileType.isPresent()) {
            w.put("general.file_type", GgufValue.ofUint32(fileType.get().id()));
        }
        float[] sc = new float[scales.size()];
        for (int i = 0; i < sc.length; i++) {
            sc[i] = scales.get(i);
        }
        w.put(KEY_ADAPTERS, GgufValue.ofStringArray(names));
        w.put(KEY_SCALES, GgufValue.ofFloatArray(sc));
        w.put(KEY_TYPE, GgufValue.ofString(options.outputType().toString()));
    }

    /** llama_ftype of the type that holds most weight elements (matrices) of the output, if it has one. */
    static Optional<FileType> dominantFileType(GgufFile bf, Map<String, MergeEngine.Plan> planOf) {
        Map<GgmlType, Long> count = new LinkedHashMap<>();
        for (GgufTensorInfo t : bf.tensors()) {
            if (t.nDims() < 2) {
                continue;
            }
            MergeEngine.Plan p = planOf.get(t.name());
            count.merge(p == null ? t.type() : p.outType(), t.elementCount(), Long::sum);
        }
        return count.entrySet().stream().max(Map.Entry.comparingByValue()).flatMap(e -> FileType.mostlyOf(e.getKey()));
    }

    private static void copy(java.lang.foreign.MemorySegment seg, java.nio.channels.WritableByteChannel out) throws IOException {
        MergeEngine.write(seg, out);
        Madvise.dontNeed(seg);
    }

    private static void requireFile(Path p, String what) {
        if (!Files.isRegularFile(p)) {
            throw new UncheckedIOException("the " + what + " " + p + " does not exist or is not a file", new NoSuchFileException(p.toString()));
        }
    }

    private static void refuseSame(Path out, Path input, String what) {
        boolean same = out.toAbsolutePath().normalize().equals(input.toAbsolutePath().normalize());
        if (!same && Files.exists(out)) {
            try {
                same = Files.isSameFile(out, input);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        if (same) {
            throw new IllegalArgumentException("refusing to merge in place: the output " + out + " is " + what
                    + " (" + input + "); write the merged model to another file");
        }
    }
}
