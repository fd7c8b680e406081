package dev.lora4j.cli;

import dev.lora4j.Lora4jException;
import java.io.PrintWriter;
import java.util.logging.ConsoleHandler;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code lora4j} command line: one subcommand per job. Results go to stdout, logs and progress to stderr. */
@Command(name = "lora4j", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Java bindings to llama.cpp: inference, GGUF tools, LoRA adapters.",
        subcommands = {GenerateCommand.class, InspectCommand.class, QuantizeCommand.class, BuildModelCommand.class, TrainCommand.class, MergeCommand.class,
                DemoCommand.class, DevicesCommand.class, RpcServerCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (no System.exit). */
    public static int run(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            boolean verbose = parsed.hasMatchedOption("--verbose");
            PrintWriter err = cmd.getErr();
            if (ex instanceof Lora4jException || ex instanceof IllegalArgumentException || ex instanceof IllegalStateException
                    || ex instanceof java.io.UncheckedIOException) {
                err.println("lora4j: " + ex.getMessage());
                if (verbose) {
                    ex.printStackTrace(err);
                }
                return 2;
            }
            ex.printStackTrace(err);
            return 1;
        });
        return cl.execute(args);
    }

    /** Sends java.util.logging (the default System.Logger backend) to stderr, terse, at the level asked for. */
    static void configureLogging(boolean verbose) {
        LogManager.getLogManager().reset();
        Logger root = Logger.getLogger("");
        ConsoleHandler h = new ConsoleHandler();
        h.setFormatter(new SimpleFormatter() {
            @Override
            public String format(java.util.logging.LogRecord r) {
                return "[" + r.getLevel().getName().toLowerCase(java.util.Locale.ROOT) + "] " + formatMessage(r) + System.lineSeparator();
            }
        });
        Level level = verbose ? Level.FINE : Level.WARNING;
        h.setLevel(level);
        root.setLevel(level);
        root.addHandler(h);
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            Package p = Main.class.getPackage();
            String v = p.getImplementationVersion() != null ? p.getImplementationVersion() : "dev";
            return new String[] {"lora4j " + v + " (llama.cpp v0.5.0, tree fd570ef5)"};
        }
    }
}
