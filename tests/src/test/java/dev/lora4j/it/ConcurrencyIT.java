package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Generation;
import dev.lora4j.Model;
import dev.lora4j.SamplerParams;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** Several threads, one model: contexts per thread, close racing with use, handles a user forgot. */
class ConcurrencyIT {
    static Path model() {
        return TestFiles.sharedModel("tinystories-656k-q8_0.gguf");
    }

    @Test
    void contextsOnSeveralThreadsGenerateIndependently() throws Exception {
        String[] prompts = {"Once upon a time", "The little dog", "Lily and Tom", "One day, a bird"};
        try (Model m = Model.load(model())) {
            List<String> expected = new ArrayList<>();
            try (Context ctx = m.newContext(ContextParams.defaults().withThreads(1))) {
                for (String p : prompts) {
                    expected.add(ctx.generate(p, 32, SamplerParams.greedy(), null).text());
                }
            }
            ExecutorService pool = Executors.newFixedThreadPool(prompts.length);
            try {
                for (int round = 0; round < 3; round++) {
                    List<Future<String>> results = new ArrayList<>();
                    for (String p : prompts) {
                        results.add(pool.submit(() -> {
                            try (Context ctx = m.newContext(ContextParams.defaults().withThreads(1))) {
                                return ctx.generate(p, 32, SamplerParams.greedy(), null).text();
                            }
                        }));
                    }
                    for (int i = 0; i < prompts.length; i++) {
                        assertEquals(expected.get(i), results.get(i).get(), "thread " + i + ", round " + round);
                    }
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void closeWaitsForTheUseInProgress() throws Exception {
        try (Model m = Model.load(model())) {
            Context ctx = m.newContext(ContextParams.defaults().withThreads(1));
            CountDownLatch started = new CountDownLatch(1);
            AtomicReference<Object> outcome = new AtomicReference<>();
            Thread t = new Thread(() -> {
                try {
                    Generation g = ctx.generate("Once upon a time", 200, SamplerParams.greedy(), s -> started.countDown());
                    outcome.set(g);
                } catch (Throwable e) {
                    outcome.set(e);
                }
            });
            t.start();
            started.await();
            ctx.close(); // waits for the generation to finish, then frees
            t.join();
            assertTrue(outcome.get() instanceof Generation, "the generation ran to its end: " + outcome.get());
            assertFalse(ctx.isOpen());
            assertThrows(IllegalStateException.class, () -> ctx.decode(1));
        }
    }

    @Test
    void closingTheModelWhileContextsWorkOnOtherThreads() throws Exception {
        Model m = Model.load(model());
        List<Thread> threads = new ArrayList<>();
        List<Object> outcomes = java.util.Collections.synchronizedList(new ArrayList<>());
        CountDownLatch started = new CountDownLatch(3);
        for (int i = 0; i < 3; i++) {
            Context ctx = m.newContext(ContextParams.defaults().withThreads(1));
            Thread t = new Thread(() -> {
                try {
                    outcomes.add(ctx.generate("Once upon a time", 100, SamplerParams.greedy(), s -> started.countDown()));
                } catch (Throwable e) {
                    outcomes.add(e);
                }
            });
            threads.add(t);
            t.start();
        }
        started.await();
        m.close(); // closes each context once its generation is done, then the model
        for (Thread t : threads) {
            t.join();
        }
        assertEquals(3, outcomes.size());
        for (Object o : outcomes) {
            // a generation either finished before its context closed, or found it closed: never a crash
            assertTrue(o instanceof Generation || o instanceof IllegalStateException, String.valueOf(o));
        }
        assertFalse(m.isOpen());
    }

    /**
     * Contexts and adapters a user forgot to close are freed by the Cleaner while their model is still open (the model
     * holds them weakly), and the model itself is freed only after all of them, whatever order the Cleaner runs in.
     */
    @Test
    void forgottenHandlesAreFreedByTheCleaner() throws Exception {
        try (Model m = Model.load(model())) {
            for (int i = 0; i < 3; i++) {
                System.gc();
                Thread.sleep(100);
            }
            long before = TestFiles.nativeHeapBytes();
            long peak = 0;
            for (int i = 0; i < 30; i++) {
                Context ctx = m.newContext(ContextParams.defaults().withContextSize(512).withThreads(1));
                ctx.decode(m.vocabulary().tokenize("Once upon a time", true, false));
                peak = Math.max(peak, TestFiles.nativeHeapBytes());
                // not closed
            }
            long after = 0;
            for (int i = 0; i < 20; i++) {
                System.gc();
                Thread.sleep(100);
                after = TestFiles.nativeHeapBytes();
                if (after - before < 64L << 20) {
                    break;
                }
            }
            System.out.printf("ConcurrencyIT: native heap before %d KiB, peak with forgotten contexts %d KiB, after GC %d KiB%n",
                    before / 1024, peak / 1024, after / 1024);
            assertTrue(after - before < 64L << 20, "forgotten contexts were not freed: " + (after - before) / 1024 + " KiB still in use");
            // the model still works
            try (Context ctx = m.newContext(ContextParams.defaults())) {
                assertEquals(32, ctx.generate("Once upon a time", 32, SamplerParams.greedy(), null).tokens().length);
            }
        }
        // a forgotten model with forgotten contexts: the Cleaner frees all of them, the model last
        for (int i = 0; i < 5; i++) {
            Model m = Model.load(model());
            m.newContext(ContextParams.defaults().withContextSize(256)).decode(1);
        }
        for (int i = 0; i < 10; i++) {
            System.gc();
            Thread.sleep(100);
        }
        try (Model again = Model.load(model()); Context ctx = again.newContext(ContextParams.defaults())) {
            assertEquals(32, ctx.generate("Once upon a time", 32, SamplerParams.greedy(), null).tokens().length);
        }
    }

    /**
     * llama.cpp keeps a model's adapters in an unsynchronised set, changed by every adapter load and free: adapters
     * loaded and closed (or left to the Cleaner) on several threads at once must not corrupt it.
     */
    @Test
    void adaptersOfOneModelLoadedAndFreedOnSeveralThreads(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        Path adapter = tmp.resolve("qv.gguf");
        try (dev.lora4j.gguf.GgufFile b = dev.lora4j.gguf.GgufFile.open(model())) {
            dev.lora4j.LoraAdapterWriter.random(b, List.of("q", "v"), 2, 4, 0.1f, 0.1f, 5).write(adapter);
        }
        try (Model m = Model.load(model())) {
            ExecutorService pool = Executors.newFixedThreadPool(4);
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int thread = t;
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < 1000; i++) {
                        dev.lora4j.LoraAdapter a = dev.lora4j.LoraAdapter.load(m, adapter);
                        if ((i + thread) % 2 == 0) {
                            a.close();
                        } else if (i % 100 == 0) {
                            System.gc(); // the Cleaner frees the forgotten half meanwhile, on its own thread
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
            pool.shutdown();
            try (Context ctx = m.newContext(ContextParams.defaults().withContextSize(64));
                 dev.lora4j.LoraAdapter a = dev.lora4j.LoraAdapter.load(m, adapter)) {
                ctx.setAdapter(a, 1f);
                assertEquals(8, ctx.generate("Once upon a time", 8, SamplerParams.greedy(), null).tokens().length);
            }
        }
    }
}
