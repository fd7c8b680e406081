package dev.lora4j.internal;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.NativeException;
import dev.lora4j.SamplerParams;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** A {@code llama_sampler} chain built from {@link SamplerParams}: its downcalls and lifetime. One thread at a time. */
public final class SamplerHandle {
    private final NativeHandle handle;

    public SamplerHandle(int nVocab, SamplerParams params) {
        Llama.init();
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

    /** Samples from output {@code index} of the context's last decode and accepts it; {@link NativeException} on failure. */
    public int sample(ContextHandle context, int index) {
        MemorySegment s = handle.enter();
        try {
            NativeErrors.clear();
            int token = lora4j_h.lora4j_sampler_sample(s, context.pointer(), index);
            if (token < 0) {
                throw NativeErrors.error(NativeException::new, "sampling failed");
            }
            return token;
        } finally {
            handle.exit();
        }
    }

    public void reset() {
        MemorySegment s = handle.enter();
        try {
            llama_sampler_reset(s);
        } finally {
            handle.exit();
        }
    }

    public void close() {
        handle.close();
    }
}
