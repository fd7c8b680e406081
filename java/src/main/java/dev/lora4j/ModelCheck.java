package dev.lora4j;

import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufValueType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What llama.cpp would abort the process on, checked in Java before a model file reaches it. {@link GgufFile}
 * validates the structure of a GGUF; this checks the meaning: the hyper-parameters llama.cpp guards with
 * {@code GGML_ASSERT} (not exceptions) and the vocabulary invariants it asserts while loading and tokenizing.
 * Architectures other than the audited ones ({@link Architectures#AUDITED}) are refused unless the caller trusts the file
 * ({@link ModelParams#anyArchitecture()}): llama.cpp knows ~150, each with its own unchecked hyper-parameters. The
 * inventory behind each rule is in {@code docs/reliability.md}.
 */
final class ModelCheck {
    private ModelCheck() {}

    /** Tokenizers whose loading lora4j has audited: SPM, BPE, WPM, UGM. */
    static final Set<String> AUDITED_TOKENIZERS = Set.of("llama", "gpt2", "bert", "t5");
    /** Tokenizers llama.cpp also knows (loaded only for trusted files). */
    static final Set<String> OTHER_TOKENIZERS = Set.of("rwkv", "plamo2", "gemma4", "hybriddna", "whitespace");

    static final int MAX_LAYERS = 512;    // LLAMA_MAX_LAYERS
    static final int MAX_EXPERTS = 1024;  // LLAMA_MAX_EXPERTS
    static final int LLAMA_TOKEN_TYPE_BYTE = 6;

    private static final Pattern SPLIT = Pattern.compile("(.*)-(\\d{5})-of-(\\d{5})\\.gguf");

    static void check(Path path, GgufFile f, boolean vocabOnly, boolean anyArchitecture) {
        List<String> problems = new ArrayList<>();
        checkVocabulary(f, anyArchitecture, problems);
        String arch = f.architecture().orElse(null);
        if (!vocabOnly && arch != null) {
            if (!Architectures.AUDITED.contains(arch) && !anyArchitecture) {
                problems.add("architecture '" + arch + "' is not one lora4j has audited (" + String.join(", ", new TreeSet<>(Architectures.AUDITED))
                        + "); load it with ModelParams.withAnyArchitecture(true) (CLI: --any-architecture) if you trust the file");
            }
            checkHyperParameters(f, arch, problems);
            if (Architectures.AUDITED.contains(arch)) {
                checkAttention(f, arch, problems);
            }
        }
        checkSplits(path, f, problems);
        if (!problems.isEmpty()) {
            throw new ModelLoadException(path, "refused before llama.cpp, which could abort the process on it: " + String.join("; ", problems));
        }
    }

    // ------------------------------------------------------------------------------------------ vocabulary

    private static void checkVocabulary(GgufFile f, boolean trusted, List<String> problems) {
        Optional<GgufValue> model = f.get("tokenizer.ggml.model");
        if (model.isEmpty() || model.get().type() != GgufValueType.STRING) {
            return; // llama.cpp refuses the file with an exception
        }
        String m = model.get().asString();
        if (!AUDITED_TOKENIZERS.contains(m) && !(trusted && OTHER_TOKENIZERS.contains(m))) {
            problems.add(OTHER_TOKENIZERS.contains(m)
                    ? "tokenizer '" + m + "' is not one lora4j has audited (" + String.join(", ", AUDITED_TOKENIZERS)
                            + "); load it with ModelParams.withAnyArchitecture(true) if you trust the file"
                    : "tokenizer '" + m + "' cannot tokenize text (lora4j needs one of " + String.join(", ", AUDITED_TOKENIZERS) + ")");
            return;
        }
        Optional<GgufValue> tokens = f.get("tokenizer.ggml.tokens");
        if (tokens.isEmpty() || !tokens.get().isArray() || tokens.get().elementType() != GgufValueType.STRING) {
            return; // an exception in llama.cpp
        }
        List<String> list = tokens.get().asStringList();
        if (list.isEmpty()) {
            problems.add("the vocabulary has no tokens");
            return;
        }
        // llama.cpp maps each text to one id and asserts that no two tokens share a text; it reads each as a C string
        // (up to the first NUL), and an empty one becomes "[EMPTY_i]"
        Set<String> seen = new HashSet<>(list.size() * 2);
        for (int i = 0; i < list.size(); i++) {
            String t = list.get(i);
            int nul = t.indexOf('\0');
            t = nul >= 0 ? t.substring(0, nul) : t;
            t = t.isEmpty() ? "[EMPTY_" + i + "]" : t;
            if (!seen.add(t)) {
                problems.add("the vocabulary has token text '" + abbreviate(t) + "' twice (again at id " + i + ")");
                break;
            }
        }
        if (m.equals("bert")) {
            Optional<GgufValue> types = f.get("tokenizer.ggml.token_type");
            if (types.isPresent() && types.get().isArray() && isInteger(types.get().elementType())) {
                for (int t : types.get().asIntArray()) {
                    if (t == LLAMA_TOKEN_TYPE_BYTE) {
                        problems.add("a WordPiece (bert) vocabulary with byte tokens");
                        break;
                    }
                }
            }
        }
    }

    // ------------------------------------------------------------------------------------------ hyper-parameters

    /** llama_model::load_hparams' asserts, common to every architecture. */
    private static void checkHyperParameters(GgufFile f, String arch, List<String> problems) {
        String p = arch + ".";
        Optional<Long> layers = integer(f, p + "block_count");
        if (layers.isPresent() && (layers.get() < 1 || layers.get() > MAX_LAYERS)) {
            problems.add(p + "block_count is " + layers.get() + " (1.." + MAX_LAYERS + ")");
            return;
        }
        long nLayer = layers.orElse(1L);
        integer(f, p + "nextn_predict_layers").filter(n -> n > nLayer)
                .ifPresent(n -> problems.add(p + "nextn_predict_layers " + n + " exceeds block_count " + nLayer));
        long experts = integer(f, p + "expert_count").orElse(0L);
        long used = integers(f, p + "expert_used_count").stream().mapToLong(Long::longValue).max().orElse(0L);
        long groups = integer(f, p + "expert_group_count").orElse(0L);
        long groupsUsed = integer(f, p + "expert_group_used_count").orElse(0L);
        if (experts > MAX_EXPERTS) {
            problems.add(p + "expert_count " + experts + " exceeds " + MAX_EXPERTS);
        } else if (used > experts) {
            problems.add(p + "expert_used_count " + used + " exceeds expert_count " + experts);
        } else if (experts > 0) {
            if (used == 0) {
                problems.add(p + "expert_used_count is 0 with " + experts + " experts");
            } else if (groups >= experts) {
                problems.add(p + "expert_group_count " + groups + " is not below expert_count " + experts);
            } else if (groups > 1 && (experts % groups != 0 || groupsUsed <= 0 || groupsUsed >= groups)) {
                problems.add(p + "expert groups (" + groups + ", " + groupsUsed + " used) do not divide " + experts + " experts");
            }
        } else if (groups != 0) {
            problems.add(p + "expert_group_count " + groups + " without experts");
        }
        Optional<GgufValue> scaling = f.get(p + "rope.scaling.type");
        if (scaling.isPresent() && scaling.get().type() == GgufValueType.STRING
                && !Set.of("none", "linear", "yarn", "longrope").contains(scaling.get().asString())) {
            problems.add(p + "rope.scaling.type '" + abbreviate(scaling.get().asString()) + "' is not none, linear, yarn or longrope");
        }
        // ggml's norm kernels assert eps >= 0 (NaN fails too) at the first decode
        for (String k : List.of("attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon")) {
            f.get(p + k).filter(v -> !v.isArray() && (v.type() == GgufValueType.FLOAT32 || v.type() == GgufValueType.FLOAT64))
                    .map(GgufValue::asDouble).filter(eps -> !(eps >= 0) || Double.isInfinite(eps))
                    .ifPresent(eps -> problems.add(p + k + " is " + eps + " (a norm epsilon must be finite and >= 0)"));
        }
        // several architectures divide by these (qwen35, qwen3next, minimax-01, ...)
        integer(f, p + "full_attention_interval").filter(n -> n == 0)
                .ifPresent(n -> problems.add(p + "full_attention_interval is 0"));
    }

    /** Architectures whose graphs assert that RoPE rotates the whole head ({@code n_embd_head == n_rot}). */
    private static final Set<String> FULL_ROPE = Set.of("qwen2", "qwen3", "qwen3moe", "mistral3");

    /** What the audited architectures' graphs assert or divide by: heads, head sizes, output width, causality. */
    private static void checkAttention(GgufFile f, String arch, List<String> problems) {
        String p = arch + ".";
        long nEmbd = integer(f, p + "embedding_length").orElse(0L);
        List<Long> heads = integers(f, p + "attention.head_count");
        if (heads.isEmpty() || nEmbd <= 0) {
            return; // missing keys: an exception in llama.cpp
        }
        long nHead = heads.get(0);
        for (long h : heads) {
            if (h <= 0) {
                problems.add(p + "attention.head_count has " + h);
                return;
            }
        }
        List<Long> kvs = integers(f, p + "attention.head_count_kv");
        for (int i = 0; i < kvs.size(); i++) {
            long kv = kvs.get(i);
            long h = heads.get(heads.size() == kvs.size() ? i : 0);
            if (kv <= 0 || h % kv != 0) {
                problems.add(p + "attention.head_count_kv " + kv + " does not divide head_count " + h);
                return;
            }
        }
        long headK = integer(f, p + "attention.key_length").orElse(nEmbd / nHead);
        long headV = integer(f, p + "attention.value_length").orElse(nEmbd / nHead);
        long rope = integer(f, p + "rope.dimension_count").orElse(headK);
        if (headK != headV) {
            problems.add(p + "attention.key_length " + headK + " differs from value_length " + headV);
        } else if (headK <= 0 || headK % 2 != 0 || rope % 2 != 0) {
            problems.add("the head size " + headK + " (rope dimensions " + rope + ") must be even and positive");
        } else if (FULL_ROPE.contains(arch) && rope != headK) {
            problems.add(p + "rope.dimension_count " + rope + " differs from the head size " + headK + " (the " + arch + " graph asserts they are equal)");
        }
        integer(f, p + "embedding_length_out").filter(n -> n != nEmbd)
                .ifPresent(n -> problems.add(p + "embedding_length_out " + n + " differs from embedding_length " + nEmbd));
        Optional<GgufValue> causal = f.get(p + "attention.causal");
        if (causal.isPresent() && causal.get().type() == GgufValueType.BOOL && !causal.get().asBoolean()) {
            problems.add(p + "attention.causal is false (a " + arch + " model is causal)");
        }
    }

    // ------------------------------------------------------------------------------------------ split files

    /** llama.cpp opens a split model's other files itself: they get the same structural validation. */
    private static void checkSplits(Path path, GgufFile f, List<String> problems) {
        Optional<Long> count = integer(f, "split.count");
        if (count.isEmpty() || count.get() <= 1) {
            return;
        }
        Matcher m = SPLIT.matcher(path.getFileName().toString());
        if (!m.matches() || Integer.parseInt(m.group(3)) != count.get()) {
            problems.add("split.count is " + count.get() + " but the file is not named <prefix>-00001-of-"
                    + String.format(Locale.ROOT, "%05d", count.get()) + ".gguf");
            return;
        }
        for (int i = 2; i <= count.get(); i++) {
            Path part = path.resolveSibling(String.format(Locale.ROOT, "%s-%05d-of-%05d.gguf", m.group(1), i, count.get()));
            if (!Files.isRegularFile(part)) {
                problems.add("split part " + part.getFileName() + " is missing");
                return;
            }
            try (GgufFile g = GgufFile.open(part)) {
                g.tensors();
            }
        }
    }

    // ------------------------------------------------------------------------------------------ values

    private static boolean isInteger(GgufValueType t) {
        return switch (t) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /**
     * An integer scalar as llama.cpp reads it into its unsigned 32-bit hyper-parameters (a negative INT32 is a huge
     * count); empty when absent or of a non-integer type (llama.cpp refuses those with an exception).
     */
    private static Optional<Long> integer(GgufFile f, String key) {
        return f.get(key).filter(v -> !v.isArray() && isInteger(v.type())).map(v -> unsigned(v.type(), v.asLong()));
    }

    /**
     * An integer scalar or array (llama.cpp's get_key_or_arr): its values. llama.cpp copies INT32 arrays into its
     * uint32 arrays bit for bit and BOOL arrays as 0/1.
     */
    private static List<Long> integers(GgufFile f, String key) {
        Optional<GgufValue> v = f.get(key);
        if (v.isEmpty()) {
            return List.of();
        }
        if (!v.get().isArray()) {
            return integer(f, key).map(List::of).orElse(List.of());
        }
        GgufValueType t = v.get().elementType();
        List<Long> l = new ArrayList<>();
        if (t == GgufValueType.BOOL) {
            for (boolean b : (boolean[]) v.get().value()) {
                l.add(b ? 1L : 0L);
            }
        } else if (t == GgufValueType.INT32 || t == GgufValueType.UINT32) {
            for (long x : v.get().asLongArray()) {
                l.add(unsigned(t, x));
            }
        }
        return l;
    }

    private static long unsigned(GgufValueType t, long x) {
        return switch (t) {
            case INT8 -> x & 0xffL;
            case INT16 -> x & 0xffffL;
            case INT32 -> x & 0xffff_ffffL;
            case INT64 -> x < 0 ? Long.MAX_VALUE : x;
            default -> x;
        };
    }

    private static String abbreviate(String s) {
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
