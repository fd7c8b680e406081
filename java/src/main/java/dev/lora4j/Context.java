package dev.lora4j;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.bindings.llama_batch;
import dev.lora4j.bindings.llama_context_params;
import dev.lora4j.bindings.lora4j_h;
import dev.lora4j.internal.Llama;
import dev.lora4j.internal.NativeHandle;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * An inference context: KV cache, batch and logits. One thread at a time: a second thread that tries to use it
 * while it is busy gets an {@link IllegalStateException}. Close it (or its model) to free the native memory.
 */
public final class Context implements AutoCloseable {
    static {
        dev.lora4j.internal.Internals.install(new dev.lora4j.internal.Internals.Access() {
            @Override
            public MemorySegment model(Object model) {
                return ((Model) model).pointer();
            }

            @Override
            public MemorySegment enterContext(Object context) {
                return ((Context) context).handle.enter();
            }

            @Override
            public void exitContext(Object context) {
                ((Context) context).handle.exit();
            }

            @Override
            public MemorySegment adapter(Object adapter) {
                return ((LoraAdapter) adapter).pointer();
            }
        });
    }

    private final Model model;
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
    private final int nBatch;
    private final int nSeq;
    private final int nVocab;
    private final boolean embeddings;
    private int outputs; // outputs of the last decode
    private Map<LoraAdapter, Float> adapters = Map.of();

    Context(Model model, ContextParams params) {
        this.model = model;
        MemorySegment m = model.pointer();
        int nCtxWanted = params.contextSize() > 0 ? params.contextSize() : model.contextLengthTrain();
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment cp = llama_context_default_params(tmp);
            llama_context_params.n_ctx(cp, nCtxWanted);
            llama_context_params.n_batch(cp, params.batchSize());
            llama_context_params.n_ubatch(cp, params.ubatchSize() > 0 ? params.ubatchSize() : params.batchSize());
            llama_context_params.n_seq_max(cp, params.sequences());
            llama_context_params.n_threads(cp, params.effectiveThreads());
            llama_context_params.n_threads_batch(cp, params.effectiveThreadsBatch());
            llama_context_params.embeddings(cp, params.embeddings());
            if (params.embeddings()) {
                llama_context_params.pooling_type(cp, LLAMA_POOLING_TYPE_MEAN());
            }
            llama_context_params.flash_attn_type(cp, params.flashAttention().id);
            if (params.kvCacheType() != null) {
                llama_context_params.type_k(cp, params.kvCacheType().id());
                llama_context_params.type_v(cp, params.kvCacheType().id());
            }
            llama_context_params.no_perf(cp, true);
            Llama.clearLastError();
            MemorySegment ctx = lora4j_h.lora4j_context_init(m, cp);
            if (ctx.equals(MemorySegment.NULL)) {
                throw new Lora4jException("could not create a context (n_ctx=" + nCtxWanted + "): " + Llama.reason());
            }
            // persistent threadpools, as llama-cli and llama-bench use: without them ggml starts and joins its
            // threads on every graph computation (measured: ~12% of decode speed on a 100M model, 2 threads)
            MemorySegment tp = lora4j_h.lora4j_threadpool_new(params.effectiveThreads());
            MemorySegment tpb = params.effectiveThreadsBatch() == params.effectiveThreads() ? tp
                    : lora4j_h.lora4j_threadpool_new(params.effectiveThreadsBatch());
            if (tp.equals(MemorySegment.NULL) || tpb.equals(MemorySegment.NULL)) {
                String reason = Llama.reason();
                llama_free(ctx);
                freeThreadpools(tp, tpb);
                throw new Lora4jException("could not create the context's threadpool: " + reason);
            }
            llama_attach_threadpool(ctx, tp, tpb);
            dev.lora4j.internal.NativeOwner modelOwner = model.owner();
            modelOwner.retain();
            this.handle = new NativeHandle(this, "context", ctx, p -> {
                llama_free(p);
                freeThreadpools(tp, tpb);
                modelOwner.release();
            });
            this.nCtx = llama_n_ctx(ctx);
            this.nBatch = llama_n_batch(ctx);
            this.nSeq = params.sequences();
        }
        this.nVocab = model.vocabulary().size();
        this.embeddings = params.embeddings();
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

    public Model model() {
        return model;
    }

    /** Token positions the context holds (per sequence, with one sequence). */
    public int contextSize() {
        return nCtx;
    }

    public int batchSize() {
        return nBatch;
    }

    /** Next free position of sequence {@code seq} (0 when empty). */
    public int position(int seq) {
        checkSeq(seq);
        MemorySegment c = handle.enter();
        try {
            return positionOf(c, seq);
        } finally {
            handle.exit();
        }
    }

    private static int positionOf(MemorySegment c, int seq) {
        return llama_memory_seq_pos_max(llama_get_memory(c), seq) + 1;
    }

    /** Forgets every token of every sequence (the KV cache's cells, not its bytes: llama-bench clears it so too). */
    public void clear() {
        MemorySegment c = handle.enter();
        try {
            llama_memory_clear(llama_get_memory(c), false);
        } finally {
            handle.exit();
        }
    }

    /** Removes positions [from, to) of sequence {@code seq} (to = -1: to the end). */
    public void removeTokens(int seq, int from, int to) {
        checkSeq(seq);
        MemorySegment c = handle.enter();
        try {
            llama_memory_seq_rm(llama_get_memory(c), seq, from, to);
        } finally {
            handle.exit();
        }
    }

    /**
     * Appends tokens to sequence {@code seq} and runs the model over them, in batches of {@link #batchSize()}.
     * Logits are kept for the last token, or for every token with {@code allLogits} (then only if the tokens fit
     * one batch).
     *
     * @throws ContextOverflowException if the tokens do not fit in what is left of the context
     * @throws DecodeException          if llama.cpp fails
     */
    public void decode(int[] tokens, int seq, boolean allLogits) {
        checkSeq(seq);
        if (tokens.length == 0) {
            throw new IllegalArgumentException("no tokens to decode");
        }
        if (allLogits && tokens.length > nBatch) {
            throw new IllegalArgumentException("allLogits needs the tokens in one batch: " + tokens.length + " > batchSize " + nBatch);
        }
        MemorySegment c = handle.enter();
        try {
            decodeLocked(c, tokens, seq, allLogits);
        } finally {
            handle.exit();
        }
    }

    /** {@link #decode(int[], int, boolean)} on sequence 0, logits for the last token. */
    public void decode(int... tokens) {
        decode(tokens, 0, false);
    }

    private void decodeLocked(MemorySegment c, int[] tokens, int seq, boolean allLogits) {
        for (int t : tokens) {
            if (t < 0 || t >= nVocab) {
                throw new IllegalArgumentException("token id " + t + " is outside the vocabulary [0, " + nVocab + ")");
            }
        }
        int pos = positionOf(c, seq);
        if (pos + tokens.length > nCtx) {
            throw new ContextOverflowException(tokens.length, nCtx - pos, nCtx);
        }
        for (int start = 0; start < tokens.length; start += nBatch) {
            int n = Math.min(nBatch, tokens.length - start);
            for (int i = 0; i < n; i++) {
                batchTokens.setAtIndex(ValueLayout.JAVA_INT, i, tokens[start + i]);
                batchPos.setAtIndex(ValueLayout.JAVA_INT, i, pos + start + i);
                batchNSeqId.setAtIndex(ValueLayout.JAVA_INT, i, 1);
                batchSeqId[i].set(ValueLayout.JAVA_INT, 0, seq);
                boolean last = start + i == tokens.length - 1;
                batchLogits.set(ValueLayout.JAVA_BYTE, i, (byte) (allLogits || last ? 1 : 0));
            }
            llama_batch.n_tokens(batch, n);
            Llama.clearLastError();
            int rc = lora4j_h.lora4j_decode(c, batch);
            if (rc != 0) {
                throw new DecodeException(rc, "decode failed: " + DecodeException.meaning(rc) + " (" + Llama.reason() + ")");
            }
            outputs = allLogits ? n : 1;
        }
    }

    /** Logits of the last decoded token. */
    public float[] logits() {
        return logits(-1);
    }

    /** Logits of output {@code index} of the last decode (-1 = the last output). */
    public float[] logits(int index) {
        MemorySegment c = handle.enter();
        try {
            if (outputs == 0) {
                throw new IllegalStateException("no logits: nothing has been decoded yet");
            }
            if (index < -outputs || index >= outputs) {
                throw new IndexOutOfBoundsException("output " + index + " of " + outputs);
            }
            MemorySegment p = llama_get_logits_ith(c, index);
            if (p.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("llama.cpp has no logits for output " + index);
            }
            return p.reinterpret((long) nVocab * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            handle.exit();
        }
    }

    /**
     * Mean-pooled embedding of {@code text} (the context must have been created with embeddings on). Clears the
     * context first.
     */
    public float[] embed(String text) {
        if (!embeddings) {
            throw new IllegalStateException("this context was created without embeddings (ContextParams.withEmbeddings(true))");
        }
        int[] tokens = model.vocabulary().tokenize(text, true, false);
        MemorySegment c = handle.enter();
        try {
            llama_memory_clear(llama_get_memory(c), false);
            decodeLocked(c, tokens, 0, true);
            MemorySegment p = llama_get_embeddings_seq(c, 0);
            if (p.equals(MemorySegment.NULL)) {
                throw new IllegalStateException("llama.cpp returned no pooled embedding");
            }
            // the pooled vector has the model's output width (llama.cpp sizes its buffer by n_embd_out)
            int nEmbd = llama_model_n_embd_out(model.pointer());
            return p.reinterpret((long) nEmbd * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
        } finally {
            handle.exit();
        }
    }

    /**
     * Generates text after {@code prompt} on a cleared context (the prompt is tokenized with special tokens
     * added and parsed). {@code onText} (may be null) receives the text as it is generated, whole characters only.
     */
    public Generation generate(String prompt, int maxTokens, SamplerParams samplerParams, Consumer<String> onText) {
        int[] promptTokens = model.vocabulary().tokenize(prompt, true, true);
        try (Sampler sampler = new Sampler(model, samplerParams)) {
            return generate(promptTokens, maxTokens, sampler, onText);
        }
    }

    /** As {@link #generate(String, int, SamplerParams, Consumer)} from tokens, with a sampler of the caller's. */
    public Generation generate(int[] promptTokens, int maxTokens, Sampler sampler, Consumer<String> onText) {
        if (maxTokens < 0) {
            throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        }
        if (promptTokens.length == 0) {
            throw new IllegalArgumentException("the prompt has no tokens");
        }
        Vocabulary vocab = model.vocabulary();
        MemorySegment c = handle.enter();
        try {
            llama_memory_clear(llama_get_memory(c), false);
            long t0 = System.nanoTime();
            decodeLocked(c, promptTokens, 0, false);
            long t1 = System.nanoTime();
            Utf8Stream text = new Utf8Stream(onText);
            int[] out = new int[Math.min(maxTokens, 1024)];
            int n = 0;
            Generation.StopReason stop = Generation.StopReason.MAX_TOKENS;
            int pos = promptTokens.length;
            while (n < maxTokens) {
                int token = sampler.sample(this, -1);
                if (vocab.isEndOfGeneration(token)) {
                    stop = Generation.StopReason.END_OF_GENERATION;
                    break;
                }
                if (n == out.length) {
                    out = Arrays.copyOf(out, Math.min(maxTokens, out.length * 2));
                }
                out[n++] = token;
                text.write(vocab.tokenBytes(token, false));
                if (n == maxTokens) {
                    break;
                }
                if (pos >= nCtx) {
                    stop = Generation.StopReason.CONTEXT_FULL;
                    break;
                }
                decodeLocked(c, new int[] {token}, 0, false);
                pos++;
            }
            long t2 = System.nanoTime();
            return new Generation(text.finish(), Arrays.copyOf(out, n), promptTokens.length, stop, t1 - t0, t2 - t1);
        } finally {
            handle.exit();
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

    /**
     * Applies these LoRA adapters, each with its scale (1 = as trained; 0 = off, exactly the base model), replacing
     * the set in use: switching adapters between requests is cheap (nothing is reloaded). The KV cache is cleared,
     * since what it holds was computed with the old set.
     */
    public void setAdapters(Map<LoraAdapter, Float> scales) {
        Map<LoraAdapter, Float> copy = new LinkedHashMap<>(scales);
        for (Map.Entry<LoraAdapter, Float> e : copy.entrySet()) {
            LoraAdapter a = e.getKey();
            if (a.model() != model) {
                throw new IllegalArgumentException(a + " was loaded for another model (" + a.model().path() + ")");
            }
            if (!a.isOpen()) {
                throw new IllegalStateException(a + " is closed");
            }
            if (e.getValue() == null || !Float.isFinite(e.getValue())) {
                throw new IllegalArgumentException("the scale of " + a + " must be finite, got " + e.getValue());
            }
        }
        MemorySegment c = handle.enter();
        try {
            apply(c, copy);
            llama_memory_clear(llama_get_memory(c), false);
        } finally {
            handle.exit();
        }
    }

    /** {@link #setAdapters(Map)} with one adapter. */
    public void setAdapter(LoraAdapter adapter, float scale) {
        setAdapters(Map.of(adapter, scale));
    }

    /** Back to the base model. */
    public void clearAdapters() {
        setAdapters(Map.of());
    }

    /** The adapters in use and their scales. */
    public Map<LoraAdapter, Float> adapters() {
        return Collections.unmodifiableMap(adapters);
    }

    private void apply(MemorySegment c, Map<LoraAdapter, Float> set) {
        try (Arena tmp = Arena.ofConfined()) {
            int n = set.size();
            MemorySegment ptrs = n == 0 ? MemorySegment.NULL : tmp.allocate(ValueLayout.ADDRESS, n);
            MemorySegment scales = n == 0 ? MemorySegment.NULL : tmp.allocate(ValueLayout.JAVA_FLOAT, n);
            int i = 0;
            for (Map.Entry<LoraAdapter, Float> e : set.entrySet()) {
                ptrs.setAtIndex(ValueLayout.ADDRESS, i, e.getKey().pointer());
                scales.setAtIndex(ValueLayout.JAVA_FLOAT, i, e.getValue());
                i++;
            }
            Llama.clearLastError();
            int rc = lora4j_h.lora4j_set_adapters_lora(c, ptrs, (long) n, scales);
            if (rc != 0) {
                throw new NativeException("could not set the adapters: " + Llama.reason());
            }
            adapters = set;
        }
    }

    /** Called by {@link LoraAdapter#close()}: stop using the adapter (waits for a use in progress). */
    void detach(LoraAdapter adapter) {
        if (!adapters.containsKey(adapter)) {
            return;
        }
        MemorySegment c;
        try {
            c = handle.enter();
        } catch (IllegalStateException busyOrClosed) {
            if (!handle.isOpen()) {
                return;
            }
            throw new IllegalStateException("cannot close " + adapter + " while a context using it is busy on another thread");
        }
        try {
            Map<LoraAdapter, Float> rest = new LinkedHashMap<>(adapters);
            rest.remove(adapter);
            apply(c, rest);
        } finally {
            handle.exit();
        }
    }

    /** The context pointer for a sampler call made while this thread uses the context (or it is idle). */
    MemorySegment pointerForSampling() {
        return handle.get();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    /** Frees the context (waits for a use in progress on another thread). Idempotent. */
    @Override
    public void close() {
        if (!handle.isOpen()) {
            return;
        }
        handle.close();
        llama_batch_free(batch);
        arena.close();
        model.unregister(this);
    }

    private void checkSeq(int seq) {
        if (seq < 0 || seq >= nSeq) {
            throw new IllegalArgumentException("sequence " + seq + " is outside [0, " + nSeq + ") (ContextParams.sequences)");
        }
    }

    /** Turns token bytes into text, passing on only complete UTF-8 characters. */
    private static final class Utf8Stream {
        private final Consumer<String> sink;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE).onUnmappableCharacter(CodingErrorAction.REPLACE);
        private final ByteArrayOutputStream all = new ByteArrayOutputStream();
        private ByteBuffer pending = ByteBuffer.allocate(0);

        Utf8Stream(Consumer<String> sink) {
            this.sink = sink;
        }

        void write(byte[] bytes) {
            all.writeBytes(bytes);
            if (sink == null) {
                return;
            }
            ByteBuffer in = ByteBuffer.allocate(pending.remaining() + bytes.length);
            in.put(pending).put(bytes).flip();
            CharBuffer out = CharBuffer.allocate(in.remaining() + 1);
            decoder.decode(in, out, false);
            pending = in.slice();
            out.flip();
            if (out.hasRemaining()) {
                sink.accept(out.toString());
            }
        }

        String finish() {
            if (sink != null && pending.hasRemaining()) {
                sink.accept(new String(pending.array(), pending.arrayOffset() + pending.position(), pending.remaining(), StandardCharsets.UTF_8));
            }
            return all.toString(StandardCharsets.UTF_8);
        }
    }
}
