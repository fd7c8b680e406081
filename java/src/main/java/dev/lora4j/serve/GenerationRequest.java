package dev.lora4j.serve;

import dev.lora4j.LoraAdapter;
import dev.lora4j.SamplerParams;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * One generation for a {@link BatchEngine}: a prompt (text, tokenized with special tokens added and parsed as
 * {@link dev.lora4j.Context#generate(String, int, SamplerParams, Consumer)} does, or tokens), the adapter to
 * run it with (null = the base model) and its scale, the sampler, the most tokens to generate, stop strings (the
 * text ends before the first one that appears) and a callback that receives the text as it is generated (whole
 * characters only, nothing of a stop string; called on the engine's thread, so it should be quick).
 *
 * <pre>{@code
 * GenerationRequest r = GenerationRequest.of("Once upon a time", 64)
 *         .withAdapter(adapter, 1f).withSampler(SamplerParams.greedy()).withStop("\n").withOnText(System.out::print);
 * }</pre>
 */
public record GenerationRequest(String prompt, int[] promptTokens, LoraAdapter adapter, float adapterScale,
                                SamplerParams sampler, int maxTokens, List<String> stop, Consumer<String> onText) {
    public GenerationRequest {
        if ((prompt == null) == (promptTokens == null)) {
            throw new IllegalArgumentException("give either a prompt or prompt tokens");
        }
        if (promptTokens != null) {
            if (promptTokens.length == 0) throw new IllegalArgumentException("the prompt has no tokens");
            promptTokens = promptTokens.clone();
        }
        if (!Float.isFinite(adapterScale)) throw new IllegalArgumentException("adapterScale must be finite, got " + adapterScale);
        Objects.requireNonNull(sampler, "sampler");
        if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        stop = List.copyOf(Objects.requireNonNull(stop, "stop"));
        for (String s : stop) {
            if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
        }
    }

    /** {@code maxTokens} after {@code prompt}, base model, {@link SamplerParams#defaults()}, no stop strings, no callback. */
    public static GenerationRequest of(String prompt, int maxTokens) {
        return new GenerationRequest(Objects.requireNonNull(prompt, "prompt"), null, null, 1f, SamplerParams.defaults(), maxTokens, List.of(), null);
    }

    /** As {@link #of(String, int)} from tokens (used as they are: nothing is added). */
    public static GenerationRequest of(int[] promptTokens, int maxTokens) {
        return new GenerationRequest(null, Objects.requireNonNull(promptTokens, "promptTokens"), null, 1f, SamplerParams.defaults(), maxTokens, List.of(), null);
    }

    @Override
    public int[] promptTokens() {
        return promptTokens == null ? null : promptTokens.clone();
    }

    /** The adapter (null = none) and its scale (1 = as trained). */
    public GenerationRequest withAdapter(LoraAdapter a, float scale) {
        return new GenerationRequest(prompt, promptTokens, a, scale, sampler, maxTokens, stop, onText);
    }

    public GenerationRequest withSampler(SamplerParams p) {
        return new GenerationRequest(prompt, promptTokens, adapter, adapterScale, p, maxTokens, stop, onText);
    }

    public GenerationRequest withMaxTokens(int n) {
        return new GenerationRequest(prompt, promptTokens, adapter, adapterScale, sampler, n, stop, onText);
    }

    public GenerationRequest withStop(List<String> strings) {
        return new GenerationRequest(prompt, promptTokens, adapter, adapterScale, sampler, maxTokens, strings, onText);
    }

    public GenerationRequest withStop(String... strings) {
        return withStop(Arrays.asList(strings));
    }

    public GenerationRequest withOnText(Consumer<String> callback) {
        return new GenerationRequest(prompt, promptTokens, adapter, adapterScale, sampler, maxTokens, stop, callback);
    }
}
