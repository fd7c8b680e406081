package dev.lora4j;

/**
 * llama.cpp's sampler chain, in its usual order: repetition penalties → top-k → top-p → min-p → temperature →
 * draw (seeded). A temperature of 0 is greedy decoding (argmax), whatever the other settings.
 *
 * @param temperature      0 = greedy
 * @param topK             0 = off
 * @param topP             1 = off
 * @param minP             0 = off
 * @param repeatPenalty    1 = off
 * @param repeatLastN      how many recent tokens the penalties look at (0 = off, -1 = context size)
 * @param frequencyPenalty 0 = off
 * @param presencePenalty  0 = off
 * @param seed             seed of the draw (same seed, same inputs → same text)
 */
public record SamplerParams(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN,
                            float frequencyPenalty, float presencePenalty, long seed) {
    public SamplerParams {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be finite and >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP < 1)) throw new IllegalArgumentException("minP must be in [0, 1), got " + minP);
        if (!(repeatPenalty > 0) || Float.isInfinite(repeatPenalty)) throw new IllegalArgumentException("repeatPenalty must be finite and > 0, got " + repeatPenalty);
        if (repeatLastN < -1) throw new IllegalArgumentException("repeatLastN must be >= -1, got " + repeatLastN);
        if (!Float.isFinite(frequencyPenalty) || !Float.isFinite(presencePenalty)) throw new IllegalArgumentException("penalties must be finite");
        if (seed < 0 || seed > 0xFFFFFFFFL) throw new IllegalArgumentException("seed must fit in 32 unsigned bits, got " + seed);
    }

    /** Greedy decoding: always the most likely token. */
    public static SamplerParams greedy() {
        return new SamplerParams(0f, 0, 1f, 0f, 1f, 64, 0f, 0f, 0);
    }

    /** llama.cpp's defaults (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05). */
    public static SamplerParams defaults() {
        return new SamplerParams(0.8f, 40, 0.95f, 0.05f, 1f, 64, 0f, 0f, 0);
    }

    public SamplerParams withTemperature(float t) {
        return new SamplerParams(t, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
    }

    public SamplerParams withTopK(int k) {
        return new SamplerParams(temperature, k, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
    }

    public SamplerParams withTopP(float p) {
        return new SamplerParams(temperature, topK, p, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
    }

    public SamplerParams withMinP(float p) {
        return new SamplerParams(temperature, topK, topP, p, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, seed);
    }

    public SamplerParams withRepeatPenalty(float penalty, int lastN) {
        return new SamplerParams(temperature, topK, topP, minP, penalty, lastN, frequencyPenalty, presencePenalty, seed);
    }

    public SamplerParams withFrequencyPenalty(float f) {
        return new SamplerParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, f, presencePenalty, seed);
    }

    public SamplerParams withPresencePenalty(float p) {
        return new SamplerParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, p, seed);
    }

    public SamplerParams withSeed(long s) {
        return new SamplerParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, frequencyPenalty, presencePenalty, s);
    }

    public boolean isGreedy() {
        return temperature == 0f;
    }
}
