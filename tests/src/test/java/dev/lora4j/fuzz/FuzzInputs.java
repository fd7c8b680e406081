package dev.lora4j.fuzz;

import dev.lora4j.Lora4jException;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.GgufValue;
import dev.lora4j.gguf.GgufValueType;
import dev.lora4j.gguf.GgufWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * What the fuzz targets share: seed files, GGUF-aware mutations of them, the scratch file an input is written to,
 * and the outcome counters written to {@code lora4j.fuzz.stats} for {@link FuzzIT}'s report.
 *
 * <p>Targets run in a JVM started by Jazzer; {@link FuzzIT} passes the paths as system properties:
 * {@code lora4j.fuzz.models} (directory of seed models), {@code lora4j.fuzz.vocabs} (llama.cpp's vocabulary
 * GGUFs), {@code lora4j.fuzz.work} (scratch directory) and {@code lora4j.fuzz.stats} (counter file).
 */
final class FuzzInputs {
    private FuzzInputs() {}

    /** A seed GGUF kept in memory; {@code headerEnd} is where its tensor data starts. */
    record Seed(String name, Path path, byte[] bytes, long headerEnd) {}

    static Path dir(String property) {
        String v = System.getProperty(property);
        if (v == null) {
            throw new IllegalStateException("system property " + property + " is not set (FuzzIT sets it)");
        }
        return Path.of(v);
    }

    static List<Path> files(Path dir, String suffix) {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix)).sorted().toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Seed seed(Path p) {
        try (GgufFile f = GgufFile.open(p)) {
            return new Seed(p.getFileName().toString(), p, Files.readAllBytes(p), f.dataOffset());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The seed GGUFs in the folder that a system property names. */
    static List<Seed> seeds(String dirProperty) {
        List<Seed> l = new ArrayList<>();
        for (Path p : files(dir(dirProperty), ".gguf")) {
            l.add(seed(p));
        }
        return l;
    }

    /** A scratch file of this JVM (the same path every time: inputs are written over it). */
    static Path scratch(String name) {
        return dir("lora4j.fuzz.work").resolve(ProcessHandle.current().pid() + "-" + name);
    }

    static Path write(Path p, byte[] bytes) {
        try {
            Path tmp = p.resolveSibling(p.getFileName() + ".tmp");
            Files.write(tmp, bytes);
            // a rename gives a new inode: a file still mapped from the previous input is never modified under it
            Files.move(tmp, p, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------------------------------ mutations

    private static final long[] INTERESTING = {0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 64, 127, 128, 255, 256, 512, 1000, 4096,
            32000, 65535, 65536, 0x7fff_ffffL, 0x8000_0000L, 0xffff_ffffL, 0x1_0000_0000L, Long.MAX_VALUE, -1, -2, -128,
            Integer.MIN_VALUE, Long.MIN_VALUE};

    static long interesting(Choices d) {
        return d.consumeBoolean() ? d.pickValue(INTERESTING) : d.consumeLong();
    }

    /** Architectures llama.cpp knows (a hostile file may claim any of them), plus nonsense. */
    private static final String[] ARCHS = {"llama", "gpt2", "bert", "nomic-bert", "t5", "t5encoder", "mamba", "mamba2",
            "rwkv6", "rwkv7", "qwen2", "qwen2moe", "qwen3", "gemma", "gemma2", "gemma3", "gemma3n", "phi2", "phi3",
            "falcon", "deepseek", "deepseek2", "mpt", "starcoder", "bloom", "stablelm", "command-r", "olmo", "granite",
            "jamba", "llama4", "chatglm", "exaone", "arctic", "dbrx", "grok", "bitnet", "", "no-such-arch"};

    /** Tokenizer models llama-vocab.cpp knows, plus nonsense. */
    private static final String[] TOKENIZERS = {"llama", "gpt2", "bert", "t5", "rwkv", "plamo2", "no_vocab", "none", "",
            "xyz"};

    private static final String[] SUFFIXES = {"context_length", "embedding_length", "block_count",
            "feed_forward_length", "attention.head_count", "attention.head_count_kv", "attention.key_length",
            "attention.value_length", "attention.layer_norm_rms_epsilon", "attention.layer_norm_epsilon",
            "rope.dimension_count", "rope.freq_base", "rope.scaling.type", "rope.scaling.factor", "expert_count",
            "expert_used_count", "vocab_size", "attention.sliding_window", "ssm.conv_kernel", "ssm.inner_size",
            "ssm.state_size", "ssm.time_step_rank", "wkv.head_size", "attention.q_lora_rank", "n_deepstack_layers",
            "expert_shared_count", "leading_dense_block_count", "attention.causal", "pooling_type", "logit_scale"};

    private static final String[] TOKENIZER_KEYS = {"tokenizer.ggml.model", "tokenizer.ggml.pre",
            "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id",
            "tokenizer.ggml.padding_token_id", "tokenizer.ggml.seperator_token_id", "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.precompiled_charsmap",
            "tokenizer.chat_template", "tokenizer.ggml.token_type_count"};

    /** A metadata value of a fuzzed type with edge-case contents. */
    static GgufValue value(Choices d, GgufValue like) {
        int kind = d.consumeInt(0, 9);
        return switch (kind) {
            case 0 -> like == null ? GgufValue.ofUint32(interesting(d) & 0xffff_ffffL) : sameType(d, like);
            case 1 -> GgufValue.ofUint32(interesting(d) & 0xffff_ffffL);
            case 2 -> GgufValue.ofInt32((int) interesting(d));
            case 3 -> GgufValue.ofUint64(interesting(d));
            case 4 -> GgufValue.ofFloat32(d.pickValue(new float[] {0f, -0f, 1f, -1f, 1e-30f, 1e30f, Float.NaN,
                    Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, d.consumeFloat()}));
            case 5 -> GgufValue.ofBool(d.consumeBoolean());
            case 6 -> GgufValue.ofString(d.consumeBoolean() ? d.pickValue(d.consumeBoolean() ? ARCHS : TOKENIZERS)
                    : d.consumeString(64));
            case 7 -> {
                int[] a = new int[d.consumeInt(0, 8)];
                for (int i = 0; i < a.length; i++) {
                    a[i] = (int) interesting(d);
                }
                yield GgufValue.ofIntArray(GgufValueType.INT32, a);
            }
            case 8 -> {
                List<String> l = new ArrayList<>();
                for (int i = d.consumeInt(0, 6); i > 0; i--) {
                    l.add(d.consumeString(16));
                }
                yield GgufValue.ofStringArray(l);
            }
            default -> {
                float[] a = new float[d.consumeInt(0, 8)];
                for (int i = 0; i < a.length; i++) {
                    a[i] = d.consumeFloat();
                }
                yield GgufValue.ofFloatArray(a);
            }
        };
    }

    /** A value of the same type as {@code like}, or (for arrays) the same array shortened, emptied or with a bad entry. */
    private static GgufValue sameType(Choices d, GgufValue like) {
        if (like.isArray()) {
            int n = like.length();
            int keep = d.consumeInt(0, n);
            return switch (like.elementType()) {
                case STRING -> {
                    List<String> l = new ArrayList<>(like.asStringList().subList(0, keep));
                    if (!l.isEmpty() && d.consumeBoolean()) {
                        l.set(d.consumeInt(0, l.size() - 1), d.consumeString(32));
                    }
                    yield GgufValue.ofStringArray(l);
                }
                case FLOAT32 -> {
                    float[] a = java.util.Arrays.copyOf(like.asFloatArray(), keep);
                    if (keep > 0 && d.consumeBoolean()) {
                        a[d.consumeInt(0, keep - 1)] = d.pickValue(new float[] {Float.NaN, Float.NEGATIVE_INFINITY, 1e38f});
                    }
                    yield GgufValue.ofFloatArray(a);
                }
                case INT32, UINT32, INT8, UINT8, INT16, UINT16 -> {
                    int[] a = java.util.Arrays.copyOf(like.asIntArray(), keep);
                    if (keep > 0 && d.consumeBoolean()) {
                        a[d.consumeInt(0, keep - 1)] = (int) interesting(d);
                    }
                    yield GgufValue.ofIntArray(GgufValueType.INT32, a);
                }
                default -> GgufValue.ofIntArray(GgufValueType.INT32, new int[0]);
            };
        }
        return switch (like.type()) {
            case STRING -> GgufValue.ofString(d.consumeString(64));
            case FLOAT32, FLOAT64 -> GgufValue.ofFloat32(d.consumeBoolean() ? Float.NaN : d.consumeFloat());
            case BOOL -> GgufValue.ofBool(!like.asBoolean());
            case INT32 -> GgufValue.ofInt32((int) interesting(d));
            case UINT64, INT64 -> GgufValue.ofUint64(interesting(d));
            default -> GgufValue.ofUint32(interesting(d) & 0xffff_ffffL);
        };
    }

    /**
     * A mutated copy of a seed GGUF: unchanged, bytes or words overwritten in the header (metadata and tensor
     * infos), a metadata entry replaced, added or removed (a GGUF that parses, with hostile values), or truncated.
     */
    static byte[] mutate(Choices d, Seed s) {
        byte[] b = s.bytes().clone();
        int header = (int) Math.min(s.headerEnd(), b.length);
        switch (d.consumeInt(0, 5)) {
            case 0 -> {
                return b;
            }
            case 1 -> {
                for (int n = d.consumeInt(1, 8); n > 0; n--) {
                    b[d.consumeInt(0, header - 1)] = d.consumeByte();
                }
                return b;
            }
            case 2 -> {
                for (int n = d.consumeInt(1, 4); n > 0; n--) {
                    int off = d.consumeInt(0, header - 8);
                    long v = interesting(d);
                    int width = d.consumeBoolean() ? 8 : 4;
                    for (int i = 0; i < width; i++) {
                        b[off + i] = (byte) (v >>> (8 * i));
                    }
                }
                return b;
            }
            case 3, 4 -> {
                return metadataEdit(d, s);
            }
            default -> {
                return java.util.Arrays.copyOf(b, d.consumeInt(0, b.length - 1));
            }
        }
    }

    private static byte[] metadataEdit(Choices d, Seed s) {
        try (GgufFile f = GgufFile.open(s.path())) {
            GgufWriter w = GgufWriter.copyOf(f);
            List<String> keys = new ArrayList<>(f.metadata().keySet());
            String arch = f.architecture().orElse("llama");
            String key = switch (d.consumeInt(0, 3)) {
                case 0 -> keys.get(d.consumeInt(0, keys.size() - 1));
                case 1 -> arch + "." + d.pickValue(SUFFIXES);
                case 2 -> d.pickValue(TOKENIZER_KEYS);
                default -> "general.architecture";
            };
            int edits = d.consumeInt(1, 3);
            for (int i = 0; i < edits; i++) {
                if (d.consumeInt(0, 7) == 0) {
                    w.remove(key);
                } else {
                    try {
                        w.set(key, key.equals("general.architecture") && d.consumeBoolean()
                                ? GgufValue.ofString(d.pickValue(ARCHS)) : value(d, f.metadata().get(key)));
                    } catch (IllegalArgumentException refused) {
                        // the writer refuses what no GGUF may hold (bad alignment, unpaired surrogates)
                    }
                }
                key = keys.get(d.consumeInt(0, keys.size() - 1));
            }
            Path out = scratch("edit.gguf");
            w.write(out);
            return Files.readAllBytes(out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    // ------------------------------------------------------------------------------------------ outcomes

    private static final Map<String, AtomicLong> COUNTS = new TreeMap<>();
    private static long lastWrite;

    /** Counts one outcome (e.g. "accepted", or the exception class that rejected the input). */
    static synchronized void count(String outcome) {
        COUNTS.computeIfAbsent(outcome, k -> new AtomicLong()).incrementAndGet();
        long now = System.nanoTime();
        if (now - lastWrite > 1_000_000_000L) {
            lastWrite = now;
            flush();
        }
    }

    /** Counts a typed rejection: the library's exception class (and llama.cpp's wording class when it refused). */
    static void rejected(Lora4jException e) {
        count("rejected: " + e.getClass().getSimpleName());
    }

    static synchronized void flush() {
        String p = System.getProperty("lora4j.fuzz.stats");
        if (p == null) {
            return;
        }
        StringBuilder sb = new StringBuilder();
        COUNTS.forEach((k, v) -> sb.append(k).append('=').append(v.get()).append('\n'));
        write(Path.of(p), sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
}
