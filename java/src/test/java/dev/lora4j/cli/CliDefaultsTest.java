package dev.lora4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lora4j.ContextParams;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.ModelSpec;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Options left out take the API's defaults, which the CLI reads instead of restating (no native code runs). */
class CliDefaultsTest {
    @Test
    void generateTakesTheApisDefaults() {
        GenerateCommand g = new GenerateCommand();
        new CommandLine(g).parseArgs("-m", "model.gguf", "-p", "Once");
        assertEquals(SamplerParams.defaults(), g.sampling.params());
        assertEquals(ContextParams.defaults().contextSize(), g.ctxSize);
        assertEquals(ContextParams.defaults().threads(), g.common.threads);
        assertEquals(ModelParams.defaults().gpuLayers(), g.gpu.gpuLayers);
    }

    @Test
    void givenOptionsReachTheSampler() {
        GenerateCommand g = new GenerateCommand();
        new CommandLine(g).parseArgs("-m", "model.gguf", "-p", "Once", "--temperature", "0", "--top-k", "5", "--top-p", "0.5",
                "--min-p", "0.1", "--repeat-penalty", "1.1", "--repeat-last-n", "32", "--frequency-penalty", "0.2",
                "--presence-penalty", "0.3", "-s", "7");
        assertEquals(new SamplerParams(0f, 5, 0.5f, 0.1f, 1.1f, 32, 0.2f, 0.3f, 7), g.sampling.params());
    }

    @Test
    void buildModelTakesTheSpecsContext() {
        BuildModelCommand b = new BuildModelCommand();
        new CommandLine(b).parseArgs("-o", "out.gguf", "--params", "1M");
        assertEquals(ModelSpec.DEFAULT_CONTEXT, b.ctx);
    }
}
