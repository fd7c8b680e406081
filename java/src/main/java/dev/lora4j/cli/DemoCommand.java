package dev.lora4j.cli;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.FileType;
import dev.lora4j.Generation;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgmlType;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.gguf.LlamaModelBuilder;
import dev.lora4j.gguf.LlamaModelSpec;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code lora4j demo}: the whole path with no network and no files given. Builds a small llama-architecture
 * model (random weights, the LLaMA vocabulary of the pinned llama.cpp), quantises it to Q8_0 with
 * llama_model_quantize, loads it, generates, and reports speed.
 */
@Command(name = "demo", mixinStandardHelpOptions = true, description = "Build, quantise, load and run a small model end to end (no files needed).")
final class DemoCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = "--keep", description = "Keep the built models in this directory (default: a temporary directory, deleted).")
    Path keep;

    @Option(names = "--prompt", defaultValue = "Once upon a time", description = "Prompt (default: ${DEFAULT-VALUE}).")
    String prompt;

    @Option(names = "--max-tokens", defaultValue = "48") int maxTokens;

    @Override
    public Integer call() throws IOException {
        common.apply();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        Path dir = keep != null ? Files.createDirectories(keep) : Files.createTempDirectory("lora4j-demo-");
        try (Vocab v = Vocab.open(null); GgufFile vocab = GgufFile.open(v.path())) {
            int nVocab = LlamaModelBuilder.vocabSize(vocab);
            LlamaModelSpec spec = new LlamaModelSpec("lora4j-demo", nVocab, 256, 4, 8, 4, 768, 512, 10000f, 1e-5f, false);
            Path f16 = dir.resolve("demo-f16.gguf");
            Path q8 = dir.resolve("demo-q8_0.gguf");
            out.printf(Locale.ROOT, "1. building a llama model: %,d parameters (n_embd %d, %d layers, %d heads, n_ff %d, vocab %d from llama.cpp's models/ggml-vocab-llama-spm.gguf)%n",
                    spec.parameterCount(), spec.nEmbd(), spec.nLayer(), spec.nHead(), spec.nFf(), nVocab);
            long t0 = System.nanoTime();
            try (Progress p = Progress.bytes("building")) {
                LlamaModelBuilder.write(spec, vocab, f16, GgmlType.F16, 42, p);
            }
            out.printf(Locale.ROOT, "   %s: %,d bytes in %.1f s%n", f16.getFileName(), Files.size(f16), (System.nanoTime() - t0) / 1e9);

            out.println("2. quantising to Q8_0 (llama_model_quantize)");
            t0 = System.nanoTime();
            Model.quantize(f16, q8, FileType.MOSTLY_Q8_0, common.threads);
            out.printf(Locale.ROOT, "   %s: %,d bytes in %.1f s%n", q8.getFileName(), Files.size(q8), (System.nanoTime() - t0) / 1e9);

            out.println("3. loading and generating (greedy; the weights are random, so the text is too)");
            try (Model m = Model.load(q8);
                 Context ctx = m.newContext(ContextParams.defaults().withContextSize(512).withThreads(common.threads))) {
                out.printf(Locale.ROOT, "   model: %s, %,d parameters, %,d bytes of weights%n", m.description(), m.parameterCount(), m.sizeBytes());
                out.print("   " + prompt);
                Generation g = ctx.generate(prompt, maxTokens, SamplerParams.greedy(), text -> out.print(text.replace("\n", "\n   ")));
                out.println();
                out.printf(Locale.ROOT, "4. speed: prompt %d tokens at %.1f tok/s, generation %d tokens at %.1f tok/s (%s)%n",
                        g.promptTokens(), g.promptTokensPerSecond(), g.tokens().length, g.tokensPerSecond(),
                        common.threads > 0 ? common.threads + " threads" : Runtime.getRuntime().availableProcessors() + " threads");
            }
        } finally {
            if (keep == null) {
                deleteTree(dir);
            }
        }
        return 0;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
