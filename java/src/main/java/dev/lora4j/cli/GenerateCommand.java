package dev.lora4j.cli;

import dev.lora4j.BufferReport;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Generation;
import dev.lora4j.Model;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import dev.lora4j.merge.MergeOptions;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code lora4j generate}: prints only the generated text on stdout. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt (only the generated text goes to stdout).")
final class GenerateCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file.")
    Path model;

    @Option(names = {"-p", "--prompt"}, required = true, description = "Prompt text (special tokens are parsed).")
    String prompt;

    @Option(names = {"-n", "--max-tokens"}, defaultValue = "128", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Mixin
    SamplingOptions sampling;

    @Option(names = {"-c", "--ctx-size"}, description = "Context size (0 = the model's).")
    int ctxSize = ContextParams.defaults().contextSize();

    @Mixin
    GpuOptions gpu;

    @Option(names = "--lora", paramLabel = "FILE[:SCALE]", description = "Apply a LoRA adapter (GGUF) with a scale (default 1); repeatable.")
    java.util.List<String> loras = new java.util.ArrayList<>();

    @Option(names = "--any-architecture", description = "Load architectures and tokenizers lora4j has not audited (trusted files only).")
    boolean anyArchitecture;

    @Option(names = "--stats", description = "Print speed figures on stderr.")
    boolean stats;

    @Override
    public Integer call() {
        common.apply();
        SamplerParams sp = sampling.params();
        PrintStream out = CommonOptions.stdout();
        ModelParams mp = gpu.apply(ModelParams.defaults().withAnyArchitecture(anyArchitecture), System.err);
        BufferReport.Captured<Model> loaded = BufferReport.capture(() -> Model.load(model, mp));
        try (Model m = loaded.value();
             Context ctx = newContext(m, loaded.report())) {
            java.util.Map<dev.lora4j.LoraAdapter, Float> adapters = new java.util.LinkedHashMap<>();
            for (String spec : loras) {
                MergeOptions.Adapter a = MergeOptions.Adapter.parse(spec);
                adapters.put(dev.lora4j.LoraAdapter.load(m, a.path()), a.scale());
            }
            if (!adapters.isEmpty()) {
                ctx.setAdapters(adapters);
            }
            Generation g = ctx.generate(prompt, maxTokens, sp, text -> {
                out.print(text);
                out.flush();
            });
            out.println();
            if (stats) {
                System.err.printf("prompt: %d tokens, %.1f tok/s; generated: %d tokens, %.1f tok/s; stop: %s%n",
                        g.promptTokens(), g.promptTokensPerSecond(), g.tokens().length, g.tokensPerSecond(), g.stopReason());
            }
        }
        return 0;
    }

    private Context newContext(Model m, BufferReport modelBuffers) {
        BufferReport.Captured<Context> c = BufferReport.capture(
                () -> m.newContext(ContextParams.defaults().withContextSize(ctxSize).withThreads(common.threads)));
        if (stats || gpu.offloading()) {
            java.util.List<BufferReport.Buffer> all = new java.util.ArrayList<>(modelBuffers.buffers());
            all.addAll(c.report().buffers());
            GpuOptions.report(new BufferReport(all), System.err);
        }
        return c.value();
    }
}
