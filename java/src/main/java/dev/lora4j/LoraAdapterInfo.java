package dev.lora4j;

import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufTensorInfo;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufValueType;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What a GGUF LoRA adapter file holds, read and checked in Java (no native code): {@code general.type=adapter},
 * {@code adapter.type=lora}, the base architecture, {@code adapter.lora.alpha}, and the {@code <tensor>.lora_a} /
 * {@code <tensor>.lora_b} pairs ({@code lora_a} is {@code [n_in, r]}, {@code lora_b} is {@code [r, n_out]} in
 * ggml order; for a base tensor of stacked experts {@code [n_in, n_out, n_expert]}, {@code [n_in, r, n_expert]} and
 * {@code [r, n_out, n_expert]}: one pair per expert). {@link #checkFits(GgufFile)} checks it against a base model
 * the way llama.cpp will, and names the first mismatch, so that an adapter for another base never reaches llama.cpp.
 */
public record LoraAdapterInfo(Path path, String architecture, float alpha, Map<String, Pair> pairs,
                              Optional<String> taskName, Optional<String> promptPrefix, Map<String, GgufValue> metadata) {

    /** The A/B tensors of one adapted base tensor. */
    public record Pair(String target, GgufTensorInfo a, GgufTensorInfo b) {
        public long rank() {
            return b.ne(0);
        }

        /** Experts the pair adapts: {@code ne[2]} of lora_a and lora_b, 1 for a matrix. */
        public long experts() {
            return a.ne(2);
        }

        /** token_embd adapters are stored flipped (see llama.cpp's llm_build_inp_embd). */
        public boolean isTokenEmbedding() {
            return target.endsWith("token_embd.weight");
        }
    }

    public LoraAdapterInfo {
        pairs = Collections.unmodifiableMap(new LinkedHashMap<>(pairs));
        metadata = Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    /** Reads and checks an adapter file (structure and its own consistency: pairs complete, ranks equal within a pair). */
    public static LoraAdapterInfo read(Path path) {
        try (GgufFile f = GgufFile.open(path)) {
            return read(f);
        }
    }

    public static LoraAdapterInfo read(GgufFile f) {
        Path path = f.path();
        // llama.cpp reads these with gguf_get_val_str / gguf_get_val_f32, which abort the process on another type
        requireType(f, "general.type", GgufValueType.STRING);
        requireType(f, "general.architecture", GgufValueType.STRING);
        requireType(f, "adapter.type", GgufValueType.STRING);
        requireType(f, "adapter.lora.alpha", GgufValueType.FLOAT32);
        String type = f.getString("general.type", "");
        if (!type.equals("adapter")) {
            throw new AdapterMismatchException(path, "not a LoRA adapter: general.type is '" + type + "', expected 'adapter'"
                    + (type.isEmpty() || type.equals("model") ? " (is this a model file?)" : ""));
        }
        String adapterType = f.getString("adapter.type", "");
        if (!adapterType.equals("lora")) {
            throw new AdapterMismatchException(path, "adapter.type is '" + adapterType + "', expected 'lora'");
        }
        String arch = f.architecture().orElseThrow(() -> new AdapterMismatchException(path, "no general.architecture"));
        float alpha = f.getFloat("adapter.lora.alpha", 0f);
        if (!Float.isFinite(alpha)) {
            throw new AdapterMismatchException(path, "adapter.lora.alpha is " + alpha);
        }
        Map<String, GgufTensorInfo> as = new TreeMap<>();
        Map<String, GgufTensorInfo> bs = new TreeMap<>();
        for (GgufTensorInfo t : f.tensors()) {
            String n = t.name();
            if (n.endsWith(".lora_a")) {
                as.put(n.substring(0, n.length() - 7), t);
            } else if (n.endsWith(".lora_b")) {
                bs.put(n.substring(0, n.length() - 7), t);
            } else if (!n.endsWith("_norm.weight")) { // llama.cpp skips norm vectors of adapters
                throw new AdapterMismatchException(path, "tensor '" + n + "' is neither a .lora_a nor a .lora_b tensor");
            }
        }
        Map<String, Pair> pairs = new LinkedHashMap<>();
        for (GgufTensorInfo t : f.tensors()) {
            if (!t.name().endsWith(".lora_a")) {
                continue;
            }
            String target = t.name().substring(0, t.name().length() - 7);
            GgufTensorInfo b = bs.get(target);
            if (b == null) {
                throw new AdapterMismatchException(path, "'" + target + ".lora_a' has no '" + target + ".lora_b'");
            }
            pairs.put(target, new Pair(target, t, b));
        }
        for (String target : bs.keySet()) {
            if (!as.containsKey(target)) {
                throw new AdapterMismatchException(path, "'" + target + ".lora_b' has no '" + target + ".lora_a'");
            }
        }
        if (pairs.isEmpty()) {
            throw new AdapterMismatchException(path, "the adapter has no lora_a/lora_b tensors");
        }
        for (Pair p : pairs.values()) {
            boolean matrices = p.a().nDims() == 2 && p.b().nDims() == 2;
            boolean stacks = p.a().nDims() == 3 && p.b().nDims() == 3 && p.a().ne(2) == p.b().ne(2) && !p.isTokenEmbedding();
            if (!matrices && !stacks) {
                throw new AdapterMismatchException(path, "'" + p.target() + "': lora_a and lora_b must both be matrices, or both"
                        + " stacks of as many expert matrices (3-D), got " + shape(p.a()) + " and " + shape(p.b()));
            }
            long rankA = p.isTokenEmbedding() ? p.a().ne(0) : p.a().ne(1);
            if (rankA != p.rank()) {
                throw new AdapterMismatchException(path, "'" + p.target() + "': rank mismatch between lora_a " + shape(p.a())
                        + " and lora_b " + shape(p.b()) + " (expected lora_a [n_in, r] and lora_b [r, n_out])");
            }
            for (GgufTensorInfo t : List.of(p.a(), p.b())) {
                if (t.type() != GgmlType.F32 && t.type() != GgmlType.F16 && t.type() != GgmlType.BF16 && t.type() != GgmlType.Q8_0) {
                    throw new AdapterMismatchException(path, "'" + t.name() + "' has type " + t.type() + "; LoRA tensors must be F32, F16, BF16 or Q8_0");
                }
            }
        }
        Optional<String> task = f.get("adapter.lora.task_name").map(GgufValue::asString);
        Optional<String> prefix = f.get("adapter.lora.prompt_prefix").map(GgufValue::asString);
        return new LoraAdapterInfo(path, arch, alpha, pairs, task, prefix, f.metadata());
    }

    /**
     * Checks the adapter against a base model file as llama.cpp does (architecture, every target tensor present,
     * shapes; a 3-D pair needs a 3-D base tensor of as many experts); throws {@link AdapterMismatchException} naming
     * the first mismatch.
     */
    public void checkFits(GgufFile base) {
        String baseArch = base.architecture().orElse("?");
        if (!baseArch.equals(architecture)) {
            throw new AdapterMismatchException(path, "the adapter is for architecture '" + architecture + "' but the base model "
                    + base.path().getFileName() + " is '" + baseArch + "'");
        }
        for (Pair p : pairs.values()) {
            GgufTensorInfo w = base.tensor(p.target()).orElseThrow(() -> new AdapterMismatchException(path,
                    "tensor '" + p.target() + "' does not exist in the base model " + base.path().getFileName() + " (an adapter for another base?)"));
            long nIn = w.ne(0);
            long nOut = w.nDims() > 1 ? w.ne(1) : 1;
            boolean ok = p.isTokenEmbedding()
                    ? nIn == p.b().ne(1) && nOut == p.a().ne(1)
                    : nIn == p.a().ne(0) && nOut == p.b().ne(1);
            boolean experts = w.nDims() == 3;
            if (!ok || p.a().nDims() != w.nDims() || !(w.nDims() == 2 || experts && p.experts() == w.ne(2))) {
                String e = experts ? ", " + w.ne(2) : "";
                throw new AdapterMismatchException(path, "'" + p.target() + "': the base tensor is " + shape(w) + " but lora_a is "
                        + shape(p.a()) + " and lora_b " + shape(p.b()) + " (expected lora_a [" + nIn + ", r" + e + "] and lora_b [r, "
                        + nOut + e + "]" + (experts ? ": one pair per expert" : "") + ")");
            }
        }
    }

    private static void requireType(GgufFile f, String key, GgufValueType type) {
        f.get(key).ifPresent(v -> {
            if (v.type() != type) {
                throw new AdapterMismatchException(f.path(), key + " has type " + v.describeType() + ", expected " + type);
            }
        });
    }

    /** Ranks by target (usually all equal). */
    public Map<String, Long> ranks() {
        Map<String, Long> r = new LinkedHashMap<>();
        pairs.forEach((k, v) -> r.put(k, v.rank()));
        return r;
    }

    /** The adapted module kinds, e.g. [attn_q, attn_v] (from tensor names blk.N.<kind>.weight). */
    public List<String> targetModules() {
        List<String> out = new ArrayList<>();
        for (String t : pairs.keySet()) {
            String[] parts = t.split("\\.");
            String kind = parts.length >= 3 && parts[0].equals("blk") ? parts[2] : t.replace(".weight", "");
            if (!out.contains(kind)) {
                out.add(kind);
            }
        }
        return out;
    }

    /** Parameters the adapter adds (A and B of every pair). */
    public long parameterCount() {
        long n = 0;
        for (Pair p : pairs.values()) {
            n += p.a().elementCount() + p.b().elementCount();
        }
        return n;
    }

    private static String shape(GgufTensorInfo t) {
        return java.util.Arrays.toString(t.shape());
    }
}
