package dev.lora4j.serve;

import dev.lora4j.Batch;
import dev.lora4j.Context;
import dev.lora4j.ContextOverflowException;
import dev.lora4j.Lora4jException;
import dev.lora4j.LoraAdapter;
import dev.lora4j.Model;
import dev.lora4j.Sampler;
import dev.lora4j.Vocabulary;
import dev.lora4j.serve.GenerationResult.StopReason;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Continuous batching: generation requests from any number of threads, decoded together in one llama batch per
 * step. One thread of its own owns one {@link Context} of {@link EngineParams#sequences()} sequences; each running
 * request holds a sequence, with its own adapter ({@link Context#setSequenceAdapter}), sampler and stop strings. A
 * step decodes the last sampled token of every running request and, in what is left of the batch
 * ({@link Context#batchSize()}), the prompts of newly admitted requests (a long prompt over several steps). When a
 * request finishes, its sequence is cleared and the next queued request takes it at the next step, while the
 * others go on.
 *
 * <pre>{@code
 * try (BatchEngine engine = new BatchEngine(model, EngineParams.defaults().withSequences(8))) {
 *     CompletableFuture<GenerationResult> f = engine.submit(GenerationRequest.of("Once upon a time", 64)
 *             .withAdapter(adapter, 1f).withSampler(SamplerParams.greedy()));
 *     System.out.println(f.join().text());
 * }
 * }</pre>
 *
 * <p>{@link #submit} never blocks: it returns a future, or throws {@link QueueFullException} at once when
 * {@link EngineParams#queueCapacity()} requests are already waiting. Cancelling the future ends the request (queued
 * or running) and frees its sequence. A failure of one request (its text callback threw, its sampler failed) fails
 * that request only; a failed decode fails the requests that were in that batch. {@link #close()} fails the queued and
 * running requests with {@link EngineClosedException}, then frees the context. Text callbacks, and the futures'
 * dependent stages that are not async, run on the engine's thread: they should be quick, and must not wait for
 * another request of the same engine.
 */
public final class BatchEngine implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.lora4j.serve");
    private static final AtomicInteger ENGINES = new AtomicInteger();

    private final Model model;
    private final EngineParams params;
    private final Context context;
    private final int sequenceSize;
    private final ArrayBlockingQueue<Job> queue;
    private final Object submitLock = new Object();
    private volatile boolean closed;
    private final Thread thread;
    // the engine thread's own
    private final Batch batch;
    private final int batchSize;
    private final Job[] slots;
    private final List<Job> running = new ArrayList<>(); // in the order they were admitted
    private final List<Job> inBatch = new ArrayList<>();

    /** Creates the context (llama.cpp's errors as {@link Lora4jException}) and starts the engine's thread. */
    public BatchEngine(Model model, EngineParams params) {
        this.model = Objects.requireNonNull(model, "model");
        this.params = Objects.requireNonNull(params, "params");
        int perSequence = params.sequenceSize() > 0 ? params.sequenceSize() : model.contextLengthTrain();
        this.context = model.newContext(params.context().withSequences(params.sequences())
                .withContextSize(Math.multiplyExact(perSequence, params.sequences())));
        try {
            this.sequenceSize = context.sequenceSize();
            this.batchSize = context.batchSize();
            this.batch = new Batch(batchSize);
        } catch (RuntimeException e) {
            context.close();
            throw e;
        }
        this.queue = new ArrayBlockingQueue<>(params.queueCapacity());
        this.slots = new Job[params.sequences()];
        this.thread = Thread.ofPlatform().name("lora4j-batch-engine-" + ENGINES.incrementAndGet()).daemon().unstarted(this::run);
        thread.start();
    }

    public Model model() {
        return model;
    }

    public EngineParams params() {
        return params;
    }

    /** Token positions each request has, prompt and generated tokens together. */
    public int sequenceSize() {
        return sequenceSize;
    }

    /** Requests waiting for a sequence now. */
    public int queued() {
        return queue.size();
    }

    /**
     * Queues a request; the future completes with its result, or exceptionally with what failed it. Cancel the future
     * to end the request.
     *
     * @throws QueueFullException        when {@link EngineParams#queueCapacity()} requests are waiting already (at once,
     *                                   never blocks)
     * @throws ContextOverflowException  when the prompt does not fit in {@link #sequenceSize()}
     * @throws IllegalArgumentException  for an adapter of another model or a token outside the vocabulary
     * @throws IllegalStateException     when the engine is closed
     */
    public CompletableFuture<GenerationResult> submit(GenerationRequest request) {
        Objects.requireNonNull(request, "request");
        LoraAdapter adapter = request.adapter();
        if (adapter != null && adapter.model() != model) {
            throw new IllegalArgumentException(adapter + " was loaded for another model (" + adapter.model().path() + ")");
        }
        Vocabulary vocab = model.vocabulary();
        int[] tokens = request.prompt() != null ? vocab.tokenize(request.prompt(), true, true) : request.promptTokens();
        for (int t : tokens) {
            if (t < 0 || t >= vocab.size()) {
                throw new IllegalArgumentException("token id " + t + " is outside the vocabulary [0, " + vocab.size() + ")");
            }
        }
        if (tokens.length > sequenceSize) {
            throw new ContextOverflowException(tokens.length, sequenceSize, sequenceSize);
        }
        Job job = new Job(request, tokens);
        synchronized (submitLock) {
            if (closed) {
                throw new IllegalStateException("the engine is closed");
            }
            if (!queue.offer(job)) {
                throw new QueueFullException(params.queueCapacity());
            }
        }
        job.future.whenComplete((r, e) -> {
            if (job.future.isCancelled()) {
                queue.remove(job); // a running one is released by the engine's next step
            }
        });
        return job.future;
    }

    /**
     * {@link #submit} and waits for the result; the failure is rethrown as it is. Interrupted, it cancels the request
     * and throws {@link CancellationException} (the interrupt stays set).
     *
     * @throws IllegalStateException on the engine's own thread (a text callback), where it would wait for itself
     */
    public GenerationResult generate(GenerationRequest request) {
        if (Thread.currentThread() == thread) {
            throw new IllegalStateException("generate() on the engine's own thread (in a text callback?) would wait for itself; use submit()");
        }
        CompletableFuture<GenerationResult> f = submit(request);
        try {
            return f.get();
        } catch (InterruptedException e) {
            f.cancel(true);
            Thread.currentThread().interrupt();
            throw new CancellationException("interrupted while waiting for the generation");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new Lora4jException("the generation failed: " + cause, cause);
        }
    }

    /**
     * Fails the queued and running requests with {@link EngineClosedException}, stops the engine's thread (after the
     * step in progress) and frees the context. Idempotent; on the engine's own thread it returns at once and the
     * engine stops after the current step.
     */
    @Override
    public void close() {
        synchronized (submitLock) {
            closed = true;
        }
        if (Thread.currentThread() == thread) {
            return;
        }
        thread.interrupt(); // wakes it when idle
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private void run() {
        Throwable fatal = null;
        try {
            while (!closed) {
                admit();
                if (running.isEmpty()) {
                    Job next;
                    try {
                        next = queue.poll(100, TimeUnit.MILLISECONDS);
                    } catch (InterruptedException e) {
                        continue; // close() wakes it so
                    }
                    if (next != null) {
                        start(next);
                    }
                    continue;
                }
                try {
                    step();
                } catch (RuntimeException e) {
                    if (!context.isOpen()) {
                        throw e; // its model was closed
                    }
                    recover(e);
                }
            }
        } catch (Throwable t) {
            fatal = t;
        } finally {
            shutdown(fatal);
        }
    }

    /** Gives free sequences to queued requests. */
    private void admit() {
        while (running.size() < slots.length) {
            Job next = queue.poll();
            if (next == null) {
                return;
            }
            start(next);
        }
    }

    private void start(Job job) {
        if (job.future.isDone()) {
            return; // cancelled while it waited
        }
        job.admitted = System.nanoTime();
        GenerationRequest r = job.request;
        if (r.maxTokens() == 0) {
            job.prefilled = job.admitted;
            job.text = new TextOutput(r.stop(), null);
            finish(job, StopReason.MAX_TOKENS);
            return;
        }
        int seq = 0;
        while (slots[seq] != null) {
            seq++;
        }
        try {
            job.sampler = new Sampler(model, r.sampler());
            job.text = new TextOutput(r.stop(), r.onText() == null ? null : piece -> {
                if (!job.future.isDone()) {
                    r.onText().accept(piece);
                }
            });
            if (r.adapter() != null) {
                context.setSequenceAdapter(seq, r.adapter(), r.adapterScale());
            }
        } catch (RuntimeException e) {
            fail(job, e);
            return;
        }
        job.seq = seq;
        slots[seq] = job;
        running.add(job);
    }

    /** One batch: each running request's last sampled token, then prompt chunks in the order requests were admitted. */
    private void step() {
        for (Job j : List.copyOf(running)) {
            if (j.future.isDone()) {
                release(j); // cancelled
            }
        }
        if (running.isEmpty()) {
            return;
        }
        batch.clear();
        inBatch.clear();
        int budget = batchSize;
        for (Job j : running) {
            j.output = -1;
            if (j.next >= 0) {
                j.output = batch.add(j.seq, j.next, true);
                j.next = -1;
                budget--;
                inBatch.add(j);
            }
        }
        for (Job j : running) {
            int n = Math.min(budget, j.prompt.length - j.decoded);
            if (n <= 0) {
                continue;
            }
            for (int i = j.decoded; i < j.decoded + n; i++) {
                boolean last = i == j.prompt.length - 1;
                int index = batch.add(j.seq, j.prompt[i], last);
                if (last) {
                    j.output = index;
                }
            }
            j.decoded += n;
            budget -= n;
            inBatch.add(j);
        }
        try {
            context.decode(batch);
        } catch (RuntimeException e) {
            if (!context.isOpen()) {
                throw e;
            }
            for (Job j : List.copyOf(inBatch)) {
                fail(j, e);
            }
            return;
        }
        long now = System.nanoTime();
        for (Job j : inBatch) {
            if (j.output < 0) {
                continue; // a prompt chunk that is not the last
            }
            if (j.n == 0) {
                j.prefilled = now;
            }
            try {
                accept(j, j.sampler.sample(context, j.output));
            } catch (RuntimeException e) {
                if (!context.isOpen()) {
                    throw e;
                }
                fail(j, e);
            }
        }
    }

    /** A sampled token: ends the request (as {@link Context#generate} would) or is decoded in the next step. */
    private void accept(Job j, int token) {
        Vocabulary vocab = model.vocabulary();
        if (vocab.isEndOfGeneration(token)) {
            finish(j, StopReason.END_OF_GENERATION);
            return;
        }
        j.add(token);
        if (j.text.write(vocab.tokenBytes(token, false))) {
            finish(j, StopReason.STOP_STRING);
        } else if (j.n == j.request.maxTokens()) {
            finish(j, StopReason.MAX_TOKENS);
        } else if (j.prompt.length + j.n - 1 >= sequenceSize) {
            finish(j, StopReason.CONTEXT_FULL); // no position left for this token
        } else {
            j.next = token;
        }
    }

    private void finish(Job j, StopReason reason) {
        String text;
        try {
            text = j.text.finish(); // passes on the held-back text: the callback may throw
        } catch (RuntimeException e) {
            fail(j, e);
            return;
        }
        long now = System.nanoTime();
        GenerationResult result = new GenerationResult(text, Arrays.copyOf(j.out, j.n), j.prompt.length, reason,
                j.admitted - j.submitted, j.prefilled - j.admitted, now - j.prefilled);
        try {
            release(j);
        } finally {
            j.future.complete(result);
        }
    }

    private void fail(Job j, Throwable e) {
        try {
            release(j);
        } finally {
            j.future.completeExceptionally(e);
        }
    }

    /** Clears the request's sequence (its tokens, its adapter) and frees its sampler. */
    private void release(Job j) {
        running.remove(j);
        int seq = j.seq;
        j.seq = -1;
        try {
            if (seq >= 0) {
                slots[seq] = null;
                context.removeTokens(seq, 0, -1);
                if (j.request.adapter() != null) {
                    context.setSequenceAdapter(seq, null, 0f);
                }
            }
        } finally {
            if (j.sampler != null) {
                j.sampler.close();
            }
        }
    }

    /** After an unexpected failure of a step: fails the running requests and clears every sequence. */
    private void recover(RuntimeException e) {
        LOG.log(System.Logger.Level.ERROR, "BatchEngine step failed; failing its " + running.size() + " running requests", e);
        List<Job> failed = List.copyOf(running);
        running.clear();
        Arrays.fill(slots, null);
        for (Job j : failed) {
            if (j.sampler != null) {
                j.sampler.close();
            }
            j.future.completeExceptionally(e);
        }
        context.clear();
        for (Job j : failed) {
            if (j.seq >= 0 && j.request.adapter() != null) {
                context.setSequenceAdapter(j.seq, null, 0f);
            }
            j.seq = -1;
        }
    }

    private void shutdown(Throwable fatal) {
        Thread.interrupted(); // close()'s wake-up must not disturb what follows
        synchronized (submitLock) {
            closed = true;
        }
        String why = fatal == null ? "the engine was closed" : "the engine stopped (" + fatal + ")";
        if (fatal != null && context.isOpen()) {
            LOG.log(System.Logger.Level.ERROR, "BatchEngine stopped", fatal);
        }
        for (Job j : List.copyOf(running)) {
            running.remove(j);
            if (j.sampler != null) {
                j.sampler.close();
            }
            j.future.completeExceptionally(new EngineClosedException(why + " while the request was running", fatal));
        }
        for (Job j; (j = queue.poll()) != null; ) {
            j.future.completeExceptionally(new EngineClosedException(why + " before the request started", fatal));
        }
        context.close();
    }

    /** A request and its state; only the engine's thread touches the state. */
    private static final class Job {
        final GenerationRequest request;
        final int[] prompt;
        final CompletableFuture<GenerationResult> future = new CompletableFuture<>();
        final long submitted = System.nanoTime();
        long admitted;
        long prefilled;
        int seq = -1;
        int decoded; // prompt tokens in the batch or the context
        int next = -1; // sampled token to decode in the next step
        int output = -1; // index of its logits in this step's batch
        Sampler sampler;
        TextOutput text;
        int[] out = new int[16];
        int n;

        Job(GenerationRequest request, int[] prompt) {
            this.request = request;
            this.prompt = prompt;
        }

        void add(int token) {
            if (n == out.length) {
                out = Arrays.copyOf(out, n * 2);
            }
            out[n++] = token;
        }
    }
}
