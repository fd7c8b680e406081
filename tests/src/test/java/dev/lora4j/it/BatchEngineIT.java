package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextOverflowException;
import dev.lora4j.ContextParams;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgufFile;
import dev.lora4j.serve.BatchEngine;
import dev.lora4j.serve.EngineClosedException;
import dev.lora4j.serve.EngineParams;
import dev.lora4j.serve.GenerationRequest;
import dev.lora4j.serve.GenerationResult;
import dev.lora4j.serve.GenerationResult.StopReason;
import dev.lora4j.serve.QueueFullException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The continuous-batching engine on TinyStories-656K Q8_0: many requests with different adapters in one batch give each the
 * text it gives alone; a full queue refuses at once; close, cancellation and stop strings; no native memory kept per
 * request.
 */
class BatchEngineIT {
    static final String[] PROMPTS = {"Once upon a time", "The little dog", "Lily and Tom", "One day, a bird",
            "Tim had a big", "The sun was", "Mom said", "A girl named Sue"};

    @TempDir
    static Path tmp;
    static Model model;
    /** Index 0: no adapter (the base model); 1-4: random adapters of different targets and ranks. */
    static final List<LoraAdapter> adapters = new ArrayList<>();
    static final Map<String, String> alone = new HashMap<>();
    static Context reference;

    @BeforeAll
    static void load() {
        // a Q8_0 model: llama.cpp decodes it batch-invariantly, while on F32 weights a sequence's logits depend on the
        // batch at the 1e-4 level (MultiAdapterIT), which can flip a near-tie of greedy decoding
        Path base = TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
        model = Model.load(base);
        adapters.add(null);
        Object[][] specs = {{List.of("q", "v"), 4}, {List.of("all-linear"), 8}, {List.of("o", "down"), 2}, {List.of("k", "up", "gate"), 4}};
        try (GgufFile b = GgufFile.open(base)) {
            for (int i = 0; i < specs.length; i++) {
                @SuppressWarnings("unchecked") List<String> targets = (List<String>) specs[i][0];
                int r = (Integer) specs[i][1];
                Path out = tmp.resolve("adapter" + i + ".gguf");
                // B small beside A, as after training (see MultiAdapterIT)
                LoraAdapterWriter.random(b, targets, r, 2f * r, 0.2f, 0.06f, 10 + i).write(out);
                adapters.add(LoraAdapter.load(model, out));
            }
        }
        reference = model.newContext(ContextParams.defaults().withContextSize(256).withThreads(1));
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close(); // closes the adapters and contexts too
        }
    }

    static EngineParams params(int sequences, int queueCapacity) {
        return EngineParams.defaults().withSequences(sequences).withSequenceSize(256).withQueueCapacity(queueCapacity)
                .withContext(ContextParams.defaults().withThreads(1));
    }

    /** The greedy text of one request run alone: Context.setAdapter + Context.generate. */
    static synchronized String alone(String prompt, int adapter, int maxTokens) {
        return alone.computeIfAbsent(prompt + "|" + adapter + "|" + maxTokens, k -> {
            LoraAdapter a = adapters.get(adapter);
            if (a == null) {
                reference.clearAdapters();
            } else {
                reference.setAdapter(a, 1f);
            }
            return reference.generate(prompt, maxTokens, SamplerParams.greedy(), null).text();
        });
    }

    static GenerationRequest greedy(String prompt, int adapter, int maxTokens) {
        return GenerationRequest.of(prompt, maxTokens).withSampler(SamplerParams.greedy()).withAdapter(adapters.get(adapter), 1f);
    }

    @Test
    void concurrentRequestsWithDifferentAdaptersGiveTheirTextAlone() throws Exception {
        for (int a = 1; a < adapters.size(); a++) {
            assertNotEquals(alone(PROMPTS[0], 0, 24), alone(PROMPTS[0], a, 24), "adapter " + a + " changes the text");
        }
        int n = 64;
        try (BatchEngine engine = new BatchEngine(model, params(8, n))) {
            ExecutorService submitters = Executors.newFixedThreadPool(16);
            List<Future<CompletableFuture<GenerationResult>>> submitted = new ArrayList<>();
            List<StringBuilder> streamed = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                StringBuilder sb = new StringBuilder();
                streamed.add(sb);
                GenerationRequest r = greedy(PROMPTS[i % PROMPTS.length], i % adapters.size(), 8 + (i % 7) * 6)
                        .withOnText(sb::append);
                submitted.add(submitters.submit(() -> engine.submit(r)));
            }
            List<GenerationResult> results = new ArrayList<>();
            for (Future<CompletableFuture<GenerationResult>> f : submitted) {
                results.add(f.get().get(120, TimeUnit.SECONDS));
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            submitters.shutdown();
            int tokens = 0;
            for (int i = 0; i < n; i++) {
                String prompt = PROMPTS[i % PROMPTS.length];
                int adapter = i % adapters.size();
                int maxTokens = 8 + (i % 7) * 6;
                GenerationResult r = results.get(i);
                String what = "request " + i + " (" + prompt + ", adapter " + adapter + ", " + maxTokens + " tokens)";
                assertEquals(alone(prompt, adapter, maxTokens), r.text(), what);
                assertEquals(r.text(), streamed.get(i).toString(), what + ": streamed text");
                assertTrue(r.stopReason() == StopReason.MAX_TOKENS || r.stopReason() == StopReason.END_OF_GENERATION, what + ": " + r.stopReason());
                tokens += r.tokens().length;
            }
            System.out.printf("BatchEngineIT: %d requests, %d tokens in %.2f s (%.0f tokens/s, 8 sequences)%n", n, tokens, seconds, tokens / seconds);
        }
    }

    /**
     * Adapters loaded and closed on other threads while 8 sequences stream: a request with a freshly loaded adapter
     * gives its text alone, and closing an adapter in the middle of its request (which waits for the step in
     * progress, then the request goes on without it) never crashes or hangs the others.
     */
    @Test
    void adaptersLoadAndCloseWhileOthersStream() throws Exception {
        Path file = tmp.resolve("adapter1.gguf"); // the all-linear one
        String wantWith = alone(PROMPTS[1], 2, 16);
        try (BatchEngine engine = new BatchEngine(model, params(8, 256))) {
            assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
                List<CompletableFuture<GenerationResult>> background = new ArrayList<>();
                for (int i = 0; i < 100; i++) {
                    background.add(engine.submit(greedy(PROMPTS[i % PROMPTS.length], 1 + i % 4, 24)));
                }
                for (int cycle = 0; cycle < 50; cycle++) {
                    try (LoraAdapter fresh = LoraAdapter.load(model, file)) {
                        GenerationResult r = engine.submit(GenerationRequest.of(PROMPTS[1], 16).withSampler(SamplerParams.greedy())
                                .withAdapter(fresh, 1f)).get();
                        assertEquals(wantWith, r.text(), "cycle " + cycle);
                    }
                    // closed while its request runs: that request loses the adapter, nothing else happens
                    LoraAdapter doomed = LoraAdapter.load(model, file);
                    CompletableFuture<GenerationResult> f = engine.submit(GenerationRequest.of(PROMPTS[2], 40)
                            .withSampler(SamplerParams.greedy()).withAdapter(doomed, 1f));
                    doomed.close();
                    try {
                        f.get();
                    } catch (ExecutionException e) {
                        // refused at admission (the adapter was already closed): a clear exception is fine
                        assertInstanceOf(IllegalStateException.class, e.getCause());
                    }
                }
                for (int i = 0; i < background.size(); i++) {
                    assertEquals(alone(PROMPTS[i % PROMPTS.length], 1 + i % 4, 24), background.get(i).get().text(), "request " + i);
                }
            });
        }
    }

    @Test
    void longPromptsArePrefilledOverSeveralStepsBesideTheOthers() throws Exception {
        String story = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her"
                + " friends, and her mother made her a big red ball. One day, when the sun was hot, she saw a little bird in a tree";
        EngineParams small = params(4, 16).withContext(ContextParams.defaults().withThreads(1).withBatchSize(16));
        try (BatchEngine engine = new BatchEngine(model, small)) {
            assertTrue(model.vocabulary().tokenize(story, true, true).length > 2 * 16, "the prompt takes several steps");
            List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
            for (int i = 0; i < 10; i++) {
                String prompt = i % 2 == 0 ? story : PROMPTS[i % PROMPTS.length];
                futures.add(engine.submit(greedy(prompt, i % adapters.size(), 20)));
            }
            for (int i = 0; i < 10; i++) {
                String prompt = i % 2 == 0 ? story : PROMPTS[i % PROMPTS.length];
                assertEquals(alone(prompt, i % adapters.size(), 20), futures.get(i).get(60, TimeUnit.SECONDS).text(), "request " + i);
            }
        }
    }

    @Test
    void aFullQueueRefusesAtOnce() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        try (BatchEngine engine = new BatchEngine(model, params(1, 4))) {
            // the one sequence's request holds the engine's thread in its callback: nothing leaves the queue
            CompletableFuture<GenerationResult> blocking = engine.submit(greedy(PROMPTS[0], 0, 8).withOnText(s -> {
                started.countDown();
                await(release);
            }));
            assertTrue(started.await(30, TimeUnit.SECONDS));
            List<CompletableFuture<GenerationResult>> queued = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                queued.add(engine.submit(greedy(PROMPTS[i], 0, 4)));
            }
            assertEquals(4, engine.queued());
            long t0 = System.nanoTime();
            QueueFullException e = assertThrows(QueueFullException.class, () -> engine.submit(greedy(PROMPTS[5], 0, 4)));
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(ms < 1000, "refused in " + ms + " ms");
            assertTrue(e.getMessage().contains("queue is full") && e.getMessage().contains("capacity 4"), e.getMessage());
            assertEquals(4, e.capacity());
            release.countDown();
            assertEquals(alone(PROMPTS[0], 0, 8), blocking.get(30, TimeUnit.SECONDS).text());
            for (int i = 0; i < 4; i++) {
                assertEquals(alone(PROMPTS[i], 0, 4), queued.get(i).get(30, TimeUnit.SECONDS).text());
            }
        } finally {
            release.countDown();
        }
    }

    @Test
    void closeFailsQueuedAndRunningRequests() throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        BatchEngine engine = new BatchEngine(model, params(2, 16));
        List<CompletableFuture<GenerationResult>> futures = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            futures.add(engine.submit(greedy(PROMPTS[i % PROMPTS.length], i % adapters.size(), 250).withOnText(s -> {
                running.countDown();
                sleep(2); // slow: a request takes about a second
            })));
        }
        assertTrue(running.await(30, TimeUnit.SECONDS));
        assertTimeoutPreemptively(Duration.ofSeconds(30), engine::close);
        int wasRunning = 0;
        int wasQueued = 0;
        for (CompletableFuture<GenerationResult> f : futures) {
            assertTrue(f.isDone());
            if (f.isCompletedExceptionally()) {
                ExecutionException e = assertThrows(ExecutionException.class, f::get);
                EngineClosedException closed = assertInstanceOf(EngineClosedException.class, e.getCause());
                wasRunning += closed.getMessage().contains("while the request was running") ? 1 : 0;
                wasQueued += closed.getMessage().contains("before the request started") ? 1 : 0;
            } // else it ended (end of generation) before close
        }
        assertTrue(wasRunning >= 1 && wasRunning <= 2, "running at close: " + wasRunning);
        assertTrue(wasQueued >= 6, "queued at close: " + wasQueued);
        assertThrows(IllegalStateException.class, () -> engine.submit(greedy(PROMPTS[0], 0, 4)));
        engine.close(); // idempotent
    }

    @Test
    void cancelledRequestsGiveTheirSequenceBack() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger pieces = new AtomicInteger();
        try (BatchEngine engine = new BatchEngine(model, params(1, 8))) {
            CompletableFuture<GenerationResult> running = engine.submit(greedy(PROMPTS[0], 1, 200).withOnText(s -> {
                pieces.incrementAndGet();
                started.countDown();
                await(release);
            }));
            assertTrue(started.await(30, TimeUnit.SECONDS));
            CompletableFuture<GenerationResult> queued = engine.submit(greedy(PROMPTS[1], 0, 8));
            assertEquals(1, engine.queued());
            assertTrue(queued.cancel(true));
            assertEquals(0, engine.queued(), "a cancelled request leaves the queue");
            assertTrue(running.cancel(true));
            release.countDown();
            assertThrows(CancellationException.class, running::join);
            // the same sequence serves the next request from a clean state
            for (int a = 0; a < adapters.size(); a++) {
                assertEquals(alone(PROMPTS[2], a, 16), engine.generate(greedy(PROMPTS[2], a, 16)).text(), "adapter " + a);
            }
            assertEquals(1, pieces.get(), "no text after the cancellation");
        } finally {
            release.countDown();
        }
    }

    @Test
    void stopStringsEndTheTextBeforeThem() throws Exception {
        String full = alone(PROMPTS[0], 0, 48);
        String stop = full.substring(full.length() / 2, full.length() / 2 + 4);
        String expected = full.substring(0, full.indexOf(stop));
        try (BatchEngine engine = new BatchEngine(model, params(4, 16))) {
            StringBuilder streamed = new StringBuilder();
            GenerationResult r = engine.generate(greedy(PROMPTS[0], 0, 48).withStop("never in this text", stop).withOnText(streamed::append));
            assertEquals(StopReason.STOP_STRING, r.stopReason());
            assertEquals(expected, r.text());
            assertEquals(expected, streamed.toString(), "nothing of the stop string is streamed");
            // the earliest of several stop strings wins; one that never appears changes nothing
            String early = full.substring(3, 6);
            assertEquals(full.substring(0, full.indexOf(early)), engine.generate(greedy(PROMPTS[0], 0, 48).withStop(stop, early)).text());
            GenerationResult none = engine.generate(greedy(PROMPTS[0], 0, 48).withStop("never in this text"));
            assertEquals(full, none.text());
            assertEquals(StopReason.MAX_TOKENS, none.stopReason());
        }
    }

    @Test
    void errorsFailTheirRequestOnly() throws Exception {
        try (BatchEngine engine = new BatchEngine(model, params(2, 16))) {
            CompletableFuture<GenerationResult> ok = engine.submit(greedy(PROMPTS[0], 1, 32));
            CompletableFuture<GenerationResult> throwing = engine.submit(greedy(PROMPTS[1], 2, 32).withOnText(s -> {
                throw new IllegalStateException("callback failed");
            }));
            String tooLong = "Once upon a time ".repeat(100);
            assertThrows(ContextOverflowException.class, () -> engine.submit(greedy(tooLong, 0, 8)));
            // a sequence fills up: the request stops with CONTEXT_FULL, the others go on
            GenerationResult full = engine.generate(greedy(PROMPTS[2], 0, 10_000));
            assertTrue(full.stopReason() == StopReason.CONTEXT_FULL || full.stopReason() == StopReason.END_OF_GENERATION, full.stopReason().toString());
            ExecutionException e = assertThrows(ExecutionException.class, throwing::get);
            assertEquals("callback failed", e.getCause().getMessage());
            assertEquals(alone(PROMPTS[0], 1, 32), ok.get().text());
            assertEquals(alone(PROMPTS[3], 0, 16), engine.generate(greedy(PROMPTS[3], 0, 16)).text());
        }
    }

    /**
     * 10,000 short requests keep no native memory: RSS after 10,000 is within 32 MiB of RSS after 1,000 (both after a
     * GC and malloc_trim; less what the Java heap committed meanwhile). Measured: +0.8 to +6.6 MiB; with the engine
     * keeping each request's sampler chain open (what a request allocates natively: its sequence's KV cells are
     * preallocated and only cleared), +169 MiB. A sequence not cleared would fill up and stop its next requests with
     * CONTEXT_FULL.
     */
    @Test
    void tenThousandRequestsKeepNativeMemoryFlat() throws Throwable {
        try (BatchEngine engine = new BatchEngine(model, params(8, 64))) {
            long[] at1000 = null;
            int done = 0;
            long t0 = System.nanoTime();
            while (done < 10_000) {
                List<CompletableFuture<GenerationResult>> wave = new ArrayList<>();
                for (int i = 0; i < 64 && done + i < 10_000; i++) {
                    int k = done + i;
                    wave.add(engine.submit(GenerationRequest.of(PROMPTS[k % PROMPTS.length], 2 + k % 3)
                            .withSampler(SamplerParams.defaults().withSeed(k)).withAdapter(adapters.get(k % adapters.size()), 1f)));
                }
                for (CompletableFuture<GenerationResult> f : wave) {
                    GenerationResult r = f.get(60, TimeUnit.SECONDS);
                    assertTrue(r.stopReason() == StopReason.MAX_TOKENS || r.stopReason() == StopReason.END_OF_GENERATION, r.stopReason().toString());
                }
                done += wave.size();
                if (at1000 == null && done >= 1000) {
                    at1000 = memory();
                }
            }
            long[] at10000 = memory();
            double seconds = (System.nanoTime() - t0) / 1e9;
            long javaHeapGrowth = at10000[2] - at1000[2];
            long rssGrowth = at10000[0] - at1000[0] - Math.max(0, javaHeapGrowth);
            System.out.printf("BatchEngineIT: 10,000 requests in %.1f s; from 1,000 to 10,000: RSS %+d KiB (Java heap committed %+d KiB),"
                    + " malloc'd %+d KiB%n", seconds, (at10000[0] - at1000[0]) / 1024, javaHeapGrowth / 1024, (at10000[1] - at1000[1]) / 1024);
            assertTrue(rssGrowth < 32L << 20, "RSS grew by " + rssGrowth / 1024 + " KiB (less the Java heap)");
        }
    }

    private static final java.lang.invoke.MethodHandle MALLOC_TRIM = java.lang.foreign.Linker.nativeLinker().defaultLookup()
            .find("malloc_trim").map(f -> java.lang.foreign.Linker.nativeLinker().downcallHandle(f,
                    java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT, java.lang.foreign.ValueLayout.JAVA_LONG)))
            .orElse(null);

    /**
     * RSS, native heap in use (malloc) and committed Java heap, bytes, after a GC and glibc's malloc_trim (which gives
     * back to the system what malloc holds free: the JIT's freed arenas, for one, would otherwise stay resident).
     */
    static long[] memory() throws Throwable {
        System.gc();
        Thread.sleep(200);
        if (MALLOC_TRIM != null) {
            int released = (int) MALLOC_TRIM.invokeExact(0L);
        }
        long heapCommitted = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
        return new long[] {TestFiles.rssKiB() * 1024, TestFiles.nativeHeapBytes(), heapCommitted};
    }

    static void await(CountDownLatch latch) {
        try {
            latch.await(60, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
