package dev.lora4j;

import dev.lora4j.internal.AdapterHandle;
import dev.lora4j.internal.ContextHandle;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * An inference context: KV cache, batch and logits. One thread at a time: a second thread that tries to use it
 * while it is busy gets an {@link IllegalStateException}. Close it (or its model) to free the native memory.
 */
public final class Context implements AutoCloseable {
    private final Model model;
    private final ContextHandle handle;
    private final int nSeq;
    private final int nVocab;
    private final boolean embeddings;
    private int outputs; // outputs of the last decode
    private boolean[] batchOutputs; // after decode(Batch): which batch indices have logits (else null)
    private Map<LoraAdapter, Float> adapters = Map.of();
    private final LoraAdapter[] seqAdapters;
    private final float[] seqScales;

    Context(Model model, ContextParams params) {
        this.model = model;
        this.handle = new ContextHandle(model.handle(),  params,
                params.contextSize() > 0 ? params.contextSize() : model.contextLengthTrain());
        this.nSeq = params.sequences();
        this.nVocab = model.vocabulary().size();
        this.embeddings = params.embeddings();
        this.seqAdapters = new LoraAdapter[nSeq];
        this.seqScales = new float[nSeq];
    }

    public Model model() {
        return model;
    }

    /** Token positions the context holds, all sequences together (one sequence: {@link #sequenceSize()}). */
    public int contextSize() {
        return handle.contextSize();
    }

    public int batchSize() {
        return handle.batchSize();
    }

    /** Positions one sequence may hold: {@link #contextSize()} divided among {@link ContextParams#sequences()}. */
    public int sequenceSize() {
        return handle.sequenceSize();
    }

    /** Next free position of sequence {@code seq} (0 when empty). */
    public int position(int seq) {
        checkSeq(seq);
        return handle.positionMax(seq) + 1;
    }

    /** Forgets every token of every sequence (the KV cache's cells, not its bytes: llama-bench clears it so too). */
    public void clear() {
        handle.clearMemory();
    }

    /** Removes positions [from, to) of sequence {@code seq} (to = -1: to the end). */
    public void removeTokens(int seq, int from, int to) {
        checkSeq(seq);
        handle.removeTokens(seq, from, to);
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
        if (allLogits && tokens.length > handle.batchSize()) {
            throw new IllegalArgumentException("allLogits needs the tokens in one batch: " + tokens.length + " > batchSize " + handle.batchSize());
        }
        handle.enter();
        try {
            decodeLocked(tokens, seq, allLogits);
        } finally {
            handle.exit();
        }
    }

    /** {@link #decode(int[], int, boolean)} on sequence 0, logits for the last token. */
    public void decode(int... tokens) {
        decode(tokens, 0, false);
    }

    /**
     * Runs the tokens of several sequences as one batch, each sequence with its own adapter
     * ({@link #setSequenceAdapter}), in one pass of the model. Afterwards {@link #logits(int)} and
     * {@link Sampler#sample(Context, int)} take the indices {@link Batch#add} returned for tokens with logits.
     *
     * @throws ContextOverflowException if a sequence's tokens do not fit in what is left of the context
     * @throws DecodeException          if llama.cpp fails
     */
    public void decode(Batch batch) {
        int n = batch.size();
        if (n == 0) {
            throw new IllegalArgumentException("no tokens to decode");
        }
        if (n > handle.batchSize()) {
            throw new IllegalArgumentException("a batch of " + n + " tokens does not fit batchSize " + handle.batchSize());
        }
        int[] pos = new int[n];
        int[] first = new int[nSeq];
        int[] count = new int[nSeq];
        Arrays.fill(first, -1);
        handle.enter();
        try {
            for (int i = 0; i < n; i++) {
                int seq = batch.seqs[i];
                checkSeq(seq);
                checkToken(batch.tokens[i]);
                if (first[seq] < 0) {
                    first[seq] = handle.positionMax(seq) + 1;
                }
                pos[i] = first[seq] + count[seq]++;
            }
            int nCtx = handle.sequenceSize();
            for (int seq = 0; seq < nSeq; seq++) {
                if (first[seq] >= 0 && first[seq] + count[seq] > nCtx) {
                    throw new ContextOverflowException(count[seq], nCtx - first[seq], nCtx);
                }
            }
            outputs = 0;
            batchOutputs = null;
            handle.decode(n, batch.tokens, pos, batch.seqs, batch.logits);
            batchOutputs = Arrays.copyOf(batch.logits, n);
            outputs = n;
        } finally {
            handle.exit();
        }
    }

    /**
     * Gives sequence {@code seq} its own adapter at {@code scale} ({@code null} or 0: none), on top of the
     * context's adapters ({@link #setAdapters}). Sequences with different adapters, ranks or targets then decode
     * together in one {@link #decode(Batch)}. Takes effect for the tokens decoded from now on: what the KV cache
     * holds of {@code seq} stays (start a new request with {@code removeTokens(seq, 0, -1)}). Reassigning an adapter
     * this context already uses is cheap; a new one is stacked with the others (a copy of its weights in F32).
     * Adapters of {@code token_embd} or of expert weights cannot be applied per sequence ({@link NativeException}).
     */
    public void setSequenceAdapter(int seq, LoraAdapter adapter, float scale) {
        checkSeq(seq);
        if (adapter != null) {
            checkAdapter(adapter);
        }
        if (!Float.isFinite(scale)) {
            throw new IllegalArgumentException("the scale must be finite, got " + scale);
        }
        handle.enter();
        try {
            if (adapter != null) {
                checkAdapter(adapter); // again under the lock: LoraAdapter.close() may have begun meanwhile
            }
            handle.setSequenceAdapter(seq, adapter == null ? null : adapter.handle(), scale);
            seqAdapters[seq] = adapter == null || scale == 0 ? null : adapter;
            seqScales[seq] = seqAdapters[seq] == null ? 0 : scale;
        } finally {
            handle.exit();
        }
    }

    /**
     * How many decodes reused the previous compute graph instead of building one (llama.cpp's {@code n_reused}): a
     * batch of the same shape as the last one, with the same adapters stacked, reuses it whichever sequence has
     * which adapter.
     */
    public int graphReuses() {
        return handle.graphReuses();
    }

    /** The adapter of sequence {@code seq} ({@link #setSequenceAdapter}), or null. */
    public LoraAdapter sequenceAdapter(int seq) {
        checkSeq(seq);
        return seqAdapters[seq];
    }

    /** The scale of sequence {@code seq}'s adapter (0 without one). */
    public float sequenceAdapterScale(int seq) {
        checkSeq(seq);
        return seqScales[seq];
    }

    private void decodeLocked(int[] tokens, int seq, boolean allLogits) {
        for (int t : tokens) {
            checkToken(t);
        }
        int pos = handle.positionMax(seq) + 1;
        int nCtx = handle.sequenceSize();
        if (pos + tokens.length > nCtx) {
            throw new ContextOverflowException(tokens.length, nCtx - pos, nCtx);
        }
        batchOutputs = null;
        outputs = handle.decode(tokens, pos, seq, allLogits);
    }

    /** Logits of the last decoded token. */
    public float[] logits() {
        return logits(-1);
    }

    /** Logits of output {@code index} of the last decode (-1 = the last output). */
    public float[] logits(int index) {
        handle.enter();
        try {
            if (outputs == 0) {
                throw new IllegalStateException("no logits: nothing has been decoded yet");
            }
            if (index < -outputs || index >= outputs) {
                throw new IndexOutOfBoundsException("output " + index + " of " + outputs);
            }
            if (batchOutputs != null && index >= 0 && !batchOutputs[index]) {
                throw new IllegalArgumentException("batch token " + index + " was added without logits");
            }
            return handle.logits(index, nVocab);
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
        handle.enter();
        try {
            handle.clearMemory();
            decodeLocked(tokens, 0, true);
            return handle.pooledEmbedding(0);
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
        handle.enter();
        try {
            handle.clearMemory();
            long t0 = System.nanoTime();
            decodeLocked(promptTokens, 0, false);
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
                if (pos >= handle.sequenceSize()) {
                    stop = Generation.StopReason.CONTEXT_FULL;
                    break;
                }
                decodeLocked(new int[] {token}, 0, false);
                pos++;
            }
            long t2 = System.nanoTime();
            return new Generation(text.finish(), Arrays.copyOf(out, n), promptTokens.length, stop, t1 - t0, t2 - t1);
        } finally {
            handle.exit();
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
            checkAdapter(a);
            if (e.getValue() == null || !Float.isFinite(e.getValue())) {
                throw new IllegalArgumentException("the scale of " + a + " must be finite, got " + e.getValue());
            }
        }
        handle.enter();
        try {
            copy.keySet().forEach(this::checkAdapter); // again under the lock: a close() may have begun meanwhile
            apply(copy);
            handle.clearMemory();
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

    private void apply(Map<LoraAdapter, Float> set) {
        List<AdapterHandle> handles = set.keySet().stream().map(LoraAdapter::handle).toList();
        float[] scales = new float[set.size()];
        int i = 0;
        for (float scale : set.values()) {
            scales[i++] = scale;
        }
        handle.setAdapters(handles, scales);
        adapters = set;
    }

    /**
     * Called by {@link LoraAdapter#close()}: stop using the adapter. Waits for a use in progress on another thread (a
     * serving thread's decode step), since llama.cpp may still hold the adapter in its per-sequence stacks even when
     * no sequence uses it now: forgetting it there keeps an adapter loaded later at the same address from being
     * taken for it.
     */
    void detach(LoraAdapter adapter) {
        try {
            handle.enterWaiting();
        } catch (IllegalStateException closed) {
            return;
        }
        try {
            if (adapters.containsKey(adapter)) {
                Map<LoraAdapter, Float> rest = new LinkedHashMap<>(adapters);
                rest.remove(adapter);
                apply(rest);
            }
            handle.forgetSequenceAdapter(adapter.handle());
            for (int i = 0; i < nSeq; i++) {
                if (seqAdapters[i] == adapter) {
                    seqAdapters[i] = null;
                    seqScales[i] = 0;
                }
            }
        } finally {
            handle.exitWaiting();
        }
    }

    /**
     * The native context, for lora4j's own packages (training runs on it). Not API: its type is in the module's
     * non-exported {@code dev.lora4j.internal} package.
     */
    public ContextHandle handle() {
        return handle;
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
        model.unregister(this);
    }

    private void checkToken(int t) {
        if (t < 0 || t >= nVocab) {
            throw new IllegalArgumentException("token id " + t + " is outside the vocabulary [0, " + nVocab + ")");
        }
    }

    /** An adapter of this context's model that is not closed, nor being closed ({@link LoraAdapter#usable()}). */
    private void checkAdapter(LoraAdapter a) {
        if (a.model() != model) {
            throw new IllegalArgumentException(a + " was loaded for another model (" + a.model().path() + ")");
        }
        if (!a.usable()) {
            throw new IllegalStateException(a + " is closed");
        }
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
