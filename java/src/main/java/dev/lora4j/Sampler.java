package dev.lora4j;

import dev.lora4j.internal.SamplerHandle;

/** A llama.cpp sampler chain built from {@link SamplerParams}; keeps the state penalties need. One thread at a time. */
public final class Sampler implements AutoCloseable {
    private final SamplerHandle handle;
    private final SamplerParams params;

    public Sampler(Model model, SamplerParams params) {
        this.params = params;
        this.handle = new SamplerHandle(model.vocabulary().size(), params);
    }

    public SamplerParams params() {
        return params;
    }

    /** Samples from the logits of output {@code index} of the context's last decode (-1 = last) and accepts it. */
    public int sample(Context context, int index) {
        return handle.sample(context.handle(), index);
    }

    /** Forgets the tokens seen so far (penalty history, RNG state stays seeded). */
    public void reset() {
        handle.reset();
    }

    @Override
    public void close() {
        handle.close();
    }
}
