package dev.lora4j;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.internal.Llama;
import dev.lora4j.internal.NativeHandle;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A llama.cpp sampler chain built from {@link SamplerParams}; keeps the state penalties need. One thread at a time. */
public final class Sampler implements AutoCloseable {
    private final NativeHandle handle;
    private final SamplerParams params;

    public Sampler(Model model, SamplerParams params) {
        Llama.init();
        this.params = params;
        int nVocab = model.vocabulary().size();
        MemorySegment chain;
        try (Arena arena = Arena.ofConfined()) {
            chain = llama_sampler_chain_init(llama_sampler_chain_default_params(arena));
        }
        this.handle = new NativeHandle(this, "sampler", chain, p -> llama_sampler_free(p));
        if (params.repeatPenalty() != 1f || params.frequencyPenalty() != 0f || params.presencePenalty() != 0f) {
            add(llama_sampler_init_penalties(nVocab, params.repeatLastN(), params.repeatPenalty(),
                    params.frequencyPenalty(), params.presencePenalty()));
        }
        if (params.isGreedy()) {
            add(llama_sampler_init_greedy());
        } else {
            if (params.topK() > 0) add(llama_sampler_init_top_k(params.topK()));
            if (params.topP() < 1f) add(llama_sampler_init_top_p(params.topP(), 1));
            if (params.minP() > 0f) add(llama_sampler_init_min_p(params.minP(), 1));
            add(llama_sampler_init_temp(params.temperature()));
            add(llama_sampler_init_dist((int) params.seed()));
        }
    }

    private void add(MemorySegment s) {
        llama_sampler_chain_add(handle.get(), s); // the chain owns s from here on
    }

    public SamplerParams params() {
        return params;
    }

    /** Samples from the logits of output {@code index} of the context's last decode (-1 = last) and accepts it. */
    public int sample(Context context, int index) {
        MemorySegment s = handle.enter();
        try {
            Llama.clearLastError();
            int token = lora4j_h.lora4j_sampler_sample(s, context.pointerForSampling(), index);
            if (token < 0) {
                throw new NativeException("sampling failed: " + Llama.reason());
            }
            return token;
        } finally {
            handle.exit();
        }
    }

    /** Forgets the tokens seen so far (penalty history, RNG state stays seeded). */
    public void reset() {
        MemorySegment s = handle.enter();
        try {
            llama_sampler_reset(s);
        } finally {
            handle.exit();
        }
    }

    @Override
    public void close() {
        handle.close();
    }
}
