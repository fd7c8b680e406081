package dev.lora4j.cli;

import dev.lora4j.FileType;
import dev.lora4j.Model;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.ModelBuilder;
import dev.lora4j.gguf.ModelSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code lora4j build-model}: a GGUF with random weights, of any shape, in one of the architectures of
 * {@link ModelSpec.Arch} (tests and benchmarks).
 */
@Command(name = "build-model", mixinStandardHelpOptions = true,
        description = {"Build a GGUF model with random weights (for tests and benchmarks), laid out as llama.cpp's "
                + "convert_hf_to_gguf.py writes the architecture (--arch):",
            "  llama     Llama 1/2 (default). LLaMA SPM vocabulary, RoPE base 10000.",
            "  llama3    Llama 3.x, written as llama: RoPE base 500000, Llama 3 RoPE",
            "            scaling (rope_freqs.weight). Llama 3 BPE vocabulary.",
            "  qwen2     Qwen2/2.5: Q/K/V biases. Qwen2 vocabulary.",
            "  qwen3     Qwen3: per-head Q/K RMS norms. Qwen2 vocabulary.",
            "  qwen3moe  Qwen3-MoE: Q/K norms, mixture of experts (router ffn_gate_inp,",
            "            3-D ffn_{gate,up,down}_exps). Qwen2 vocabulary.",
            "  mistral3  Mistral Small 3 / Ministral 3: the llama layout, RoPE base 1e9.",
            "            LLaMA SPM vocabulary (Tekken is not in llama.cpp's models/).",
            "  mixtral   Mixtral, written as llama: mixture of experts as qwen3moe, each",
            "            expert --n-ff wide, RoPE base 1e6. LLaMA SPM vocabulary.",
            "  phi3      Phi-3: fused attn_qkv, fused gate+up (ffn_up, 2*n_ff rows).",
            "            Phi-3 vocabulary.",
            "  gemma3    Gemma 3: sliding-window attention in 5 of every 6 layers,",
            "            GELU-gated FFN, Q/K norms, post-attention and post-FFN norms,",
            "            tied embeddings. LLaMA SPM vocabulary (Gemma's is not in",
            "            llama.cpp's models/).",
            ""})
final class BuildModelCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = {"-o", "--out"}, required = true, description = "Output GGUF file.")
    Path out;

    @Option(names = "--arch", defaultValue = "llama",
            description = "Architecture: llama, llama3, qwen2, qwen3, qwen3moe, mistral3, mixtral, phi3, gemma3 (default: ${DEFAULT-VALUE}).")
    String arch;

    @Option(names = "--params", description = "Approximate parameter count, e.g. 1M, 100M, 1B (picks a shape).")
    String params;

    @Option(names = "--n-embd", description = "Embedding width (with --n-layer etc., instead of --params).")
    Integer nEmbd;

    @Option(names = "--n-layer") Integer nLayer;
    @Option(names = "--n-head") Integer nHead;
    @Option(names = "--n-head-kv") Integer nHeadKv;
    @Option(names = "--n-ff") Integer nFf;

    @Option(names = "--head-dim", description = "Width of one head (default: n_embd / n_head; qwen2 and phi3 need that).")
    Integer headDim;

    @Option(names = "--n-expert", description = "qwen3moe, mixtral: experts per layer (default: 4, or 8 with --params).")
    Integer nExpert;

    @Option(names = "--n-expert-used", description = "qwen3moe, mixtral: experts per token (default: 2).")
    Integer nExpertUsed;

    @Option(names = "--n-ff-exp", description = "qwen3moe: feed-forward width of one expert (default: n_ff, or n_ff/4 with --params); mixtral: --n-ff is that width.")
    Integer nFfExp;

    @Option(names = "--sliding-window", description = "gemma3: sliding window of the sliding-window layers (default: 512; 0: none).")
    Integer slidingWindow;

    @Option(names = "--tied", negatable = true,
            description = "Tie the output to the token embeddings (no output.weight; default: only for gemma3).")
    Boolean tied;

    @Option(names = "--ctx", description = "Training context length (default: ${DEFAULT-VALUE}).")
    int ctx = ModelSpec.DEFAULT_CONTEXT;

    @Option(names = "--type", defaultValue = "f16",
            description = "Weight type: f32, f16, bf16, q8_0, q4_0 (written directly) or any llama-quantize type such as q4_k_m (via llama_model_quantize).")
    String type;

    @Option(names = "--vocab", description = "GGUF whose tokenizer is used (default: the architecture's vocabulary from the pinned llama.cpp, see above).")
    Path vocab;

    @Option(names = "--seed", defaultValue = "1") long seed;

    @Override
    public Integer call() throws IOException {
        common.apply();
        if (out.toAbsolutePath().getParent() != null) {
            Files.createDirectories(out.toAbsolutePath().getParent());
        }
        ModelSpec.Arch a = ModelSpec.Arch.parse(arch);
        try (Vocab v = Vocab.open(vocab, a); GgufFile vf = GgufFile.open(v.path())) {
            int nVocab = ModelBuilder.vocabSize(vf);
            ModelSpec spec;
            if (params != null) {
                spec = ModelSpec.ofParameters(a, parseCount(params), nVocab).withContext(ctx);
            } else {
                if (nEmbd == null || nLayer == null || nHead == null || nFf == null) {
                    throw new IllegalArgumentException("give --params, or all of --n-embd, --n-layer, --n-head and --n-ff");
                }
                spec = ModelSpec.of(a, nVocab, nEmbd, nLayer, nHead, nHeadKv != null ? nHeadKv : nHead, nFf).withName("lora4j-random")
                        .withContext(ctx);
            }
            if (headDim != null) {
                spec = spec.withHeadDim(headDim);
            }
            if (nExpert != null || nExpertUsed != null || nFfExp != null) {
                if (!a.hasExperts()) {
                    throw new IllegalArgumentException("--n-expert, --n-expert-used and --n-ff-exp are for --arch qwen3moe or mixtral");
                }
                spec = spec.withExperts(nExpert != null ? nExpert : spec.nExpert(), nExpertUsed != null ? nExpertUsed : spec.nExpertUsed(),
                        nFfExp != null ? nFfExp : spec.nFfExpert());
            }
            if (slidingWindow != null) {
                spec = spec.withSlidingWindow(slidingWindow);
            }
            if (tied != null) {
                spec = spec.withTiedEmbeddings(tied);
            }
            build(spec, vf, out, type, seed, common.threads);
            System.err.printf(Locale.ROOT, "wrote %s: %s, %,d parameters (%s), %,d bytes%n", out, a.id(), spec.parameterCount(), type,
                    Files.size(out));
        }
        return 0;
    }

    /** Writes the model directly for the types the builder writes, else writes F16 and quantises it. */
    static void build(ModelSpec spec, GgufFile vocab, Path out, String type, long seed, int threads) throws IOException {
        GgmlType direct = switch (type.toLowerCase(Locale.ROOT)) {
            case "f32" -> GgmlType.F32;
            case "f16" -> GgmlType.F16;
            case "bf16" -> GgmlType.BF16;
            case "q8_0" -> GgmlType.Q8_0;
            case "q4_0" -> GgmlType.Q4_0;
            default -> null;
        };
        if (direct != null) {
            try (Progress p = Progress.bytes("building " + out.getFileName())) {
                ModelBuilder.write(spec, vocab, out, direct, seed, p);
            }
            return;
        }
        FileType ft = FileType.parse(type);
        Path f16 = out.resolveSibling(out.getFileName() + ".f16.tmp");
        try {
            try (Progress p = Progress.bytes("building " + out.getFileName() + " (f16)")) {
                ModelBuilder.write(spec, vocab, f16, GgmlType.F16, seed, p);
            }
            System.err.println("quantising to " + ft + " ...");
            Model.quantize(f16, out, ft, threads);
        } finally {
            Files.deleteIfExists(f16);
        }
    }

    static long parseCount(String s) {
        String t = s.strip().toUpperCase(Locale.ROOT);
        long mul = 1;
        if (t.endsWith("K")) {
            mul = 1_000L;
        } else if (t.endsWith("M")) {
            mul = 1_000_000L;
        } else if (t.endsWith("B") || t.endsWith("G")) {
            mul = 1_000_000_000L;
        }
        if (mul > 1) {
            t = t.substring(0, t.length() - 1);
        }
        try {
            return Math.round(Double.parseDouble(t) * mul);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("not a parameter count: '" + s + "' (e.g. 1M, 100M, 1.5B)");
        }
    }
}
