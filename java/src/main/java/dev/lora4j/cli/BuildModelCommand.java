package dev.lora4j.cli;

import dev.lora4j.FileType;
import dev.lora4j.Model;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.LlamaModelBuilder;
import dev.lora4j.gguf.LlamaModelSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code lora4j build-model}: a llama-architecture GGUF with random weights, of any shape (tests and benchmarks). */
@Command(name = "build-model", mixinStandardHelpOptions = true,
        description = "Build a llama-architecture GGUF model with random weights (for tests and benchmarks).")
final class BuildModelCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = {"-o", "--out"}, required = true, description = "Output GGUF file.")
    Path out;

    @Option(names = "--params", description = "Approximate parameter count, e.g. 1M, 100M, 1B (picks a shape).")
    String params;

    @Option(names = "--n-embd", description = "Embedding width (with --n-layer etc., instead of --params).")
    Integer nEmbd;

    @Option(names = "--n-layer") Integer nLayer;
    @Option(names = "--n-head") Integer nHead;
    @Option(names = "--n-head-kv") Integer nHeadKv;
    @Option(names = "--n-ff") Integer nFf;

    @Option(names = "--ctx", description = "Training context length (default: ${DEFAULT-VALUE}).")
    int ctx = LlamaModelSpec.DEFAULT_CONTEXT;

    @Option(names = "--type", defaultValue = "f16",
            description = "Weight type: f32, f16, bf16, q8_0, q4_0 (written directly) or any llama-quantize type such as q4_k_m (via llama_model_quantize).")
    String type;

    @Option(names = "--vocab", description = "GGUF whose tokenizer is used (default: the LLaMA SPM vocabulary of the pinned llama.cpp).")
    Path vocab;

    @Option(names = "--seed", defaultValue = "1") long seed;

    @Override
    public Integer call() throws IOException {
        common.apply();
        if (out.toAbsolutePath().getParent() != null) {
            Files.createDirectories(out.toAbsolutePath().getParent());
        }
        try (Vocab v = Vocab.open(vocab); GgufFile vf = GgufFile.open(v.path())) {
            int nVocab = LlamaModelBuilder.vocabSize(vf);
            LlamaModelSpec spec;
            if (params != null) {
                spec = LlamaModelSpec.ofParameters(parseCount(params), nVocab).withContext(ctx);
            } else {
                if (nEmbd == null || nLayer == null || nHead == null || nFf == null) {
                    throw new IllegalArgumentException("give --params, or all of --n-embd, --n-layer, --n-head and --n-ff");
                }
                spec = LlamaModelSpec.of(nVocab, nEmbd, nLayer, nHead, nHeadKv != null ? nHeadKv : nHead, nFf).withName("lora4j-random")
                        .withContext(ctx);
            }
            build(spec, vf, out, type, seed, common.threads);
            System.err.printf(Locale.ROOT, "wrote %s: %,d parameters (%s), %,d bytes%n", out, spec.parameterCount(), type, Files.size(out));
        }
        return 0;
    }

    /** Writes the model directly for the types the builder writes, else writes F16 and quantises it. */
    static void build(LlamaModelSpec spec, GgufFile vocab, Path out, String type, long seed, int threads) throws IOException {
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
                LlamaModelBuilder.write(spec, vocab, out, direct, seed, p);
            }
            return;
        }
        FileType ft = FileType.parse(type);
        Path f16 = out.resolveSibling(out.getFileName() + ".f16.tmp");
        try {
            try (Progress p = Progress.bytes("building " + out.getFileName() + " (f16)")) {
                LlamaModelBuilder.write(spec, vocab, f16, GgmlType.F16, seed, p);
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
