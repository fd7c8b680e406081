package dev.lora4j.cli;

import dev.lora4j.SamplerParams;
import picocli.CommandLine.Option;

/** The sampler chain's options (a picocli mixin of generate); their defaults are {@link SamplerParams#defaults()}. */
final class SamplingOptions {
    private static final SamplerParams DEFAULTS = SamplerParams.defaults();

    @Option(names = "--temperature", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    float temperature = DEFAULTS.temperature();

    @Option(names = "--top-k", description = "0 = off (default: ${DEFAULT-VALUE}).")
    int topK = DEFAULTS.topK();

    @Option(names = "--top-p", description = "1 = off (default: ${DEFAULT-VALUE}).")
    float topP = DEFAULTS.topP();

    @Option(names = "--min-p", description = "0 = off (default: ${DEFAULT-VALUE}).")
    float minP = DEFAULTS.minP();

    @Option(names = "--repeat-penalty", description = "1 = off (default: ${DEFAULT-VALUE}).")
    float repeatPenalty = DEFAULTS.repeatPenalty();

    @Option(names = "--repeat-last-n", description = "Tokens the penalties look at (default: ${DEFAULT-VALUE}).")
    int repeatLastN = DEFAULTS.repeatLastN();

    @Option(names = "--frequency-penalty", description = "0 = off.")
    float frequencyPenalty = DEFAULTS.frequencyPenalty();

    @Option(names = "--presence-penalty", description = "0 = off.")
    float presencePenalty = DEFAULTS.presencePenalty();

    @Option(names = {"-s", "--seed"}, description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed = DEFAULTS.seed();

    /** The sampler these options give (checked by {@link SamplerParams}). */
    SamplerParams params() {
        return new SamplerParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
    }
}
