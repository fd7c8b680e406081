package dev.lora4j.cli;

import dev.lora4j.FileType;
import dev.lora4j.Model;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code lora4j quantize IN OUT TYPE}, like llama-quantize. */
@Command(name = "quantize", mixinStandardHelpOptions = true, description = "Quantise a GGUF model (llama_model_quantize); the output is written atomically.")
final class QuantizeCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Parameters(index = "0", description = "Input GGUF model.")
    Path input;

    @Parameters(index = "1", description = "Output GGUF model.")
    Path output;

    @Parameters(index = "2", description = "Type: f32, f16, bf16, q8_0, q4_0, q4_k_m, q4_k_s, q6_k, ...")
    String type;

    @picocli.CommandLine.Option(names = "--allow-requantize", description = "Also convert weights that are already quantised.")
    boolean allowRequantize;

    @Override
    public Integer call() {
        common.apply();
        FileType ft = FileType.parse(type);
        long t0 = System.nanoTime();
        Model.quantize(input, output, ft, common.threads, allowRequantize);
        System.err.printf("quantised %s -> %s (%s) in %.1f s%n", input, output, ft, (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
