package dev.lora4j.cli;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import picocli.CommandLine.Option;

/** Options every subcommand shares (a picocli mixin). */
final class CommonOptions {
    @Option(names = {"-v", "--verbose"}, description = "Log llama.cpp's output and show stack traces.")
    boolean verbose;

    @Option(names = {"-t", "--threads"}, description = "CPU threads (default: all available processors).")
    int threads;

    void apply() {
        Main.configureLogging(verbose);
    }

    /** Where a command prints its results: stdout, in UTF-8, flushed at each line. */
    static PrintStream stdout() {
        return new PrintStream(System.out, true, StandardCharsets.UTF_8);
    }
}
