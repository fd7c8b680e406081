package dev.lora4j.internal;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.ContextParams;
import dev.lora4j.Lora4jException;
import dev.lora4j.NativeException;
import dev.lora4j.bindings.llama_batch;
import dev.lora4j.bindings.llama_context_params;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * A {@code llama_context} with its threadpools and its reusable {@code llama_batch}: every downcall on them, and
 * their lifetime. One thread at a time: each method takes exclusive use for its call, and {@link #enter()} /
 * {@link #exit()} extend it over several calls (the use is reentrant); another thread meanwhile gets an
 * {@link IllegalStateException}.
 */
public final class ContextHandle {
    private final ModelHandle model;
    private final NativeHandle handle;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment batch;
    // the batch's arrays, sized once
    private final MemorySegment batchTokens;
    private final MemorySegment batchPos;
    private final MemorySegment batchNSeqId;
    private final MemorySegment[] batchSeqId;
    private final MemorySegment batchLogits;
    private final int nCtx;
    private final int nCtxSeq;
    private final int nBatch;

    /** Creates a context of {@code nCtx} positions for the model; {@link Lora4jException} with llama.cpp's reason. */
    public ContextHandle(ModelHandle model, ContextParams params, int nCtx) {
        this.model = model;
        MemorySegment m = model.pointer();
        int nSeq = params.sequences();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment cp = llama_context_default_params(tmp);
            llama_context_params.n_ctx(cp, nCtx);
            llama_context_params.n_batch(cp, params.batchSize());
            llama_context_params.n_ubatch(cp, params.ubatchSize() > 0 ? params.ubatchSize() : params.batchSize());
            llama_context_params.n_seq_max(cp, nSeq);
            llama_context_params.n_threads(cp, params.effectiveThreads());
            llama_context_params.n_threads_batch(cp, params.effectiveThreadsBatch());
            llama_context_params.embeddings(cp, params.embeddings());
            if (params.embeddings()) {
                llama_context_params.pooling_type(cp, LLAMA_POOLING_TYPE_MEAN());
            }
            llama_context_params.flash_attn_type(cp, params.flashAttention().id());
            if (params.kvCacheType() != null) {
                llama_context_params.type_k(cp, params.kvCacheType().id());
                llama_context_params.type_v(cp, params.kvCacheType().id());
            }
            llama_context_params.no_perf(cp, true);
            NativeErrors.clear();
            MemorySegment ctx = lora4j_h.lora4j_context_init(m, cp);
            if (ctx.equals(MemorySegment.NULL)) {
                throw NativeErrors.error(Lora4jException::new, "could not create a context (n_ctx=" + nCtx + ")");
            }
            // persistent threadpools, as llama-cli and llama-bench use: without them ggml starts and joins its
            // threads on every graph computation (measured: ~12% of decode speed on a 100M model, 2 threads)
            MemorySegment tp = lora4j_h.lora4j_threadpool_new(params.effectiveThreads());
            MemorySegment tpb = params.effectiveThreadsBatch() == params.effectiveThreads() ? tp
                    : lora4j_h.lora4j_threadpool_new(params.effectiveThreadsBatch());
            if (tp.equals(MemorySegment.NULL) || tpb.equals(MemorySegment.NULL)) {
                Lora4jException e = NativeErrors.error(Lora4jException::new, "could not create the context's threadpool");
                llama_free(ctx);
                freeThreadpools(tp, tpb);
                throw e;
            }
            llama_attach_threadpool(ctx, tp, tpb);
            NativeOwner modelOwner = model.owner();
            modelOwner.retain();
            this.handle = new NativeHandle(this, "context", ctx, p -> {
                llama_free(p);
                freeThreadpools(tp, tpb);
                modelOwner.release();
            });
            this.nCtx = llama_n_ctx(ctx);
            this.nCtxSeq = llama_n_ctx_seq(ctx);
            this.nBatch = llama_n_batch(ctx);
        }
        this.batch = llama_batch_init(arena, nBatch, 0, nSeq);
        this.batchTokens = llama_batch.token(batch).reinterpret((long) nBatch * Integer.BYTES);
        this.batchPos = llama_batch.pos(batch).reinterpret((long) nBatch * Integer.BYTES);
        this.batchNSeqId = llama_batch.n_seq_id(batch).reinterpret((long) nBatch * Integer.BYTES);
        this.batchLogits = llama_batch.logits(batch).reinterpret(nBatch);
        MemorySegment seqIds = llama_batch.seq_id(batch).reinterpret((long) nBatch * ValueLayout.ADDRESS.byteSize());
        this.batchSeqId = new MemorySegment[nBatch];
        for (int i = 0; i < nBatch; i++) {
            batchSeqId[i] = seqIds.getAtIndex(ValueLayout.ADDRESS, i).reinterpret((long) nSeq * Integer.BYTES);
        }
    }

    private static void freeThreadpools(MemorySegment tp, MemorySegment tpb) {
        if (!tpb.equals(tp) && !tpb.equals(MemorySegment.NULL)) {
            lora4j_h.lora4j_threadpool_free(tpb);
        }
        if (!tp.equals(MemorySegment.NULL)) {
            lora4j_h.lora4j_threadpool_free(tp);
        }
    }

    /** Positions the context holds, as llama.cpp made it. */
    public int contextSize() {
        return nCtx;
    }

    public int batchSize() {
        return nBatch;
    }

    /** Positions one sequence may hold ({@code llama_n_ctx_seq}: the context size divided among the sequences). */
    public int sequenceSize() {
        return nCtxSeq;
    }

    /** Begins exclusive use (throws if closed or busy on another thread) and returns the pointer; pair with {@link #exit()}. */
    public MemorySegment enter() {
        return handle.enter();
    }

    /** A short use from another thread than the context's user ({@link NativeHandle#enterWaiting()}). */
    public MemorySegment enterWaiting() {
        return handle.enterWaiting();
    }

    public void exitWaiting() {
        handle.exitWaiting();
    }

    public void exit() {
        handle.exit();
    }

    /** The pointer for a call made while this thread uses the context, or while it is idle (a sampler's). */
    MemorySegment pointer() {
        return handle.get();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /** Highest position of sequence {@code seq} (-1 when empty). */
    public int positionMax(int seq) {
        MemorySegment c = enter();
        try {
            return llama_memory_seq_pos_max(llama_get_memory(c), seq);
        } finally {
            exit();
        }
    }

    /** Forgets every token of every sequence (the cells, not the bytes). */
    public void clearMemory() {
        MemorySegment c = enter();
        try {
            llama_memory_clear(llama_get_memory(c), false);
        } finally {
            exit();
        }
    }

    /** Removes positions [from, to) of sequence {@code seq} (to = -1: to the end). */
    public void removeTokens(int seq, int from, int to) {
        MemorySegment c = enter();
        try {
            llama_memory_seq_rm(llama_get_memory(c), seq, from, to);
        } finally {
            exit();
        }
    }

    /**
     * Runs the model over {@code tokens} at positions {@code pos, pos + 1, …} of sequence {@code seq}, in batches of
     * {@link #batchSize()}; logits for the last token, or for every token of the (last) batch with {@code allLogits}.
     * Returns how many outputs the last batch has; {@link dev.lora4j.DecodeException} when llama.cpp fails.
     */
    public int decode(int[] tokens, int pos, int seq, boolean allLogits) {
        MemorySegment c = enter();
        try {
            int outputs = 0;
            for (int start = 0; start < tokens.length; start += nBatch) {
                int n = Math.min(nBatch, tokens.length - start);
                for (int i = 0; i < n; i++) {
                    boolean last = start + i == tokens.length - 1;
                    put(i, tokens[start + i], pos + start + i, seq, allLogits || last);
                }
                run(c, n);
                outputs = allLogits ? n : 1;
            }
            return outputs;
        } finally {
            exit();
        }
    }

    /**
     * Runs one batch of {@code n} tokens, each at its own position of its own sequence, with logits where asked
     * ({@code n <= batchSize()}); {@link dev.lora4j.DecodeException} when llama.cpp fails.
     */
    public void decode(int n, int[] tokens, int[] pos, int[] seqs, boolean[] logits) {
        MemorySegment c = enter();
        try {
            for (int i = 0; i < n; i++) {
                put(i, tokens[i], pos[i], seqs[i], logits[i]);
            }
            run(c, n);
        } finally {
            exit();
        }
    }

    /** Entry {@code i} of the reusable batch: one token of one sequence. */
    private void put(int i, int token, int pos, int seq, boolean logits) {
        batchTokens.setAtIndex(ValueLayout.JAVA_INT, i, token);
        batchPos.setAtIndex(ValueLayout.JAVA_INT, i, pos);
        batchNSeqId.setAtIndex(ValueLayout.JAVA_INT, i, 1);
        batchSeqId[i].set(ValueLayout.JAVA_INT, 0, seq);
        batchLogits.set(ValueLayout.JAVA_BYTE, i, (byte) (logits ? 1 : 0));
    }

    /** Decodes the batch's first {@code n} entries. */
    private void run(MemorySegment c, int n) {
        llama_batch.n_tokens(batch, n);
        NativeErrors.clear();
        int rc = lora4j_h.lora4j_decode(c, batch);
        if (rc != 0) {
            throw NativeErrors.decodeError(rc);
        }
    }

    /**
     * The adapter of sequence {@code seq} ({@code lora4j_set_seq_adapter_lora}; null = none); {@link NativeException}
     * when refused.
     */
    public void setSequenceAdapter(int seq, AdapterHandle adapter, float scale) {
        MemorySegment c = enter();
        try {
            NativeErrors.clear();
            if (lora4j_h.lora4j_set_seq_adapter_lora(c, seq, adapter == null ? MemorySegment.NULL : adapter.pointer(), scale) != 0) {
                throw NativeErrors.error(NativeException::new, "could not set the adapter of sequence " + seq);
            }
        } finally {
            exit();
        }
    }

    /** Before {@code adapter} is freed: the sequences that use it get none. The caller holds the context. */
    public void forgetSequenceAdapter(AdapterHandle adapter) {
        MemorySegment c = enter();
        try {
            lora4j_h.lora4j_forget_adapter_lora(c, adapter.pointer());
        } finally {
            exit();
        }
    }

    /** How many graph computations reused the previous graph instead of building one (llama.cpp's {@code n_reused}). */
    public int graphReuses() {
        MemorySegment c = enter();
        try (Arena tmp = Arena.ofConfined()) {
            return dev.lora4j.bindings.llama_perf_context_data.n_reused(llama_perf_context(tmp, c));
        } finally {
            exit();
        }
    }

    /** The {@code nVocab} logits of output {@code index} of the last decode (-1 = the last output). */
    public float[] logits(int index, int nVocab) {
        MemorySegment c = enter();
        try {
            MemorySegment p = llama_get_logits_ith(c, index);
            if (p.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("llama.cpp has no logits for output " + index);
            }
            return p.reinterpret((long) nVocab * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            exit();
        }
    }

    /** The pooled embedding of sequence {@code seq} after a decode with embeddings on. */
    public float[] pooledEmbedding(int seq) {
        MemorySegment c = enter();
        try {
            MemorySegment p = llama_get_embeddings_seq(c, seq);
            if (p.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("llama.cpp returned no pooled embedding");
            }
            // the pooled vector has the model's output width (llama.cpp sizes its buffer by n_embd_out)
            return p.reinterpret((long) model.outputEmbeddingLength() * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            exit();
        }
    }

    /** Replaces the set of LoRA adapters in use ({@code llama_set_adapters_lora}); {@link NativeException} when refused. */
    public void setAdapters(List<AdapterHandle> adapters, float[] scales) {
        MemorySegment c = enter();
        try (Arena tmp = Arena.ofConfined()) {
            int n = adapters.size();
            MemorySegment ptrs = n == 0 ? MemorySegment.NULL : tmp.allocate(ValueLayout.ADDRESS, n);
            MemorySegment s = n == 0 ? MemorySegment.NULL : tmp.allocate(ValueLayout.JAVA_FLOAT, n);
            for (int i = 0; i < n; i++) {
                ptrs.setAtIndex(ValueLayout.ADDRESS, i, adapters.get(i).pointer());
                s.setAtIndex(ValueLayout.JAVA_FLOAT, i, scales[i]);
            }
            NativeErrors.clear();
            if (lora4j_h.lora4j_set_adapters_lora(c, ptrs, (long) n, s) != 0) {
                throw NativeErrors.error(NativeException::new, "could not set the adapters");
            }
        } finally {
            exit();
        }
    }

    /** Frees the context, its threadpools and batch (waits for a use in progress on another thread). Idempotent. */
    public void close() {
        if (!handle.isOpen()) {
            return;
        }
        handle.close();
        llama_batch_free(batch);
        arena.close();
    }
}
