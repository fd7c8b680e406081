package dev.lora4j.cli;

import dev.lora4j.merge.LoraMerger;
import dev.lora4j.merge.MergeOptions;
import dev.lora4j.merge.MergeReport;
import dev.lora4j.merge.OutputType;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code lora4j merge --base FILE --lora FILE[:SCALE] [--lora ...] --out FILE [--type keep|f16|q8_0|...]}: merges LoRA
 * adapters into a base model (see {@link LoraMerger}). Also a plain main class:
 * {@code java --enable-native-access=ALL-UNNAMED -cp lora4j-all.jar dev.lora4j.cli.MergeCommand --base ...}.
 */
@Command(name = "merge", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Merge LoRA adapters into a base model: W' = W + sum(scale * alpha/r * B*A) for every adapted tensor.",
                "Untouched tensors are copied byte for byte, metadata kept (plus a lora4j.merge.* record); the output is written "
                        + "atomically. Prints a table of the error of each merged tensor against the exact F32 merge."})
public final class MergeCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = "--base", required = true, paramLabel = "FILE", description = "Base model (GGUF).")
    Path base;

    @Option(names = "--lora", required = true, paramLabel = "FILE[:SCALE]",
            description = "LoRA adapter (GGUF) with an optional user scale (default 1); repeat for several adapters.")
    List<String> loras;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output model (written atomically; never the base).")
    Path out;

    @Option(names = "--type", defaultValue = "keep", paramLabel = "TYPE",
            description = "Type of merged tensors: keep (re-quantise each to its base type, default), f32, f16, bf16, q8_0, q4_0, "
                    + "q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, ...")
    String type;

    @Option(names = "--no-errors", description = "Skip measuring the merge error (one pass less over each merged tensor).")
    boolean noErrors;

    @Option(names = "--quiet", description = "Print only the total line, not the per-tensor table.")
    boolean quiet;

    /** Runs {@code lora4j merge ARGS} and exits with its status. */
    public static void main(String[] args) {
        String[] all = new String[args.length + 1];
        all[0] = "merge";
        System.arraycopy(args, 0, all, 1, args.length);
        System.exit(Main.run(all));
    }

    @Override
    public Integer call() {
        common.apply();
        OutputType t = OutputType.parse(type);
        List<MergeOptions.Adapter> adapters = loras.stream().map(MergeOptions.Adapter::parse).toList();
        MergeOptions options = new MergeOptions(adapters, t, common.threads, !noErrors);
        MergeReport report;
        // the bar appears with the first bytes written: a refused input leaves no bar on the terminal
        Progress[] bar = {null};
        try {
            report = LoraMerger.merge(base, options, out, (done, total) -> {
                if (bar[0] == null) {
                    bar[0] = Progress.bytes("merging " + out.getFileName());
                }
                bar[0].progress(done, total);
            });
        } finally {
            if (bar[0] != null) {
                bar[0].close();
            }
        }
        String text = report.format();
        if (quiet) {
            List<String> lines = text.lines().toList();
            text = String.join(System.lineSeparator(), lines.subList(lines.size() - 2, lines.size())) + System.lineSeparator();
        }
        System.out.print(text);
        System.out.flush();
        return 0;
    }
}
