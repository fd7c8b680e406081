package dev.lora4j.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lora4j.BufferReport;
import dev.lora4j.Context;
import dev.lora4j.ContextParams;
import dev.lora4j.Generation;
import dev.lora4j.LoraAdapter;
import dev.lora4j.LoraAdapterWriter;
import dev.lora4j.Model;
import dev.lora4j.ModelLoadException;
import dev.lora4j.ModelParams;
import dev.lora4j.SamplerParams;
import dev.lora4j.gguf.GgufFile;
import java.io.IOException;
import java.io.InputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ggml's RPC backend: two {@code lora4j rpc-server}s on loopback (child JVMs of the CLI, one thread each) take every
 * layer of a real model. Greedy text, logits and LoRA adapters match the local run; llama.cpp's own client runs on our
 * servers; an unreachable, busy or foreign server is a {@link ModelLoadException}, never a crash or a hang.
 */
class RpcIT {
    static final String PROMPT = "Once upon a time";
    static final int TOKENS = 48;
    static final List<Process> SERVERS = new ArrayList<>();
    static List<String> endpoints;

    @TempDir
    Path tmp;

    static Path base() {
        return TestFiles.sharedModel("stories260K.gguf");
    }

    @BeforeAll
    static void startServers() throws Exception {
        base();
        List<String> e = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            int port = freePort();
            Path log = startServer(TestFiles.cli("rpc-server", "--host", "127.0.0.1", "--port", port, "--threads", 1), port);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); // it prints once it has seen the server accept
            while (!Files.readString(log).contains("listening on 127.0.0.1:" + port) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(Files.readString(log).contains("listening on 127.0.0.1:" + port), Files.readString(log));
            e.add("127.0.0.1:" + port);
        }
        endpoints = List.copyOf(e);
    }

    /** Starts a server process (stopped after the class) and waits until it accepts connections; its output's file. */
    static Path startServer(List<String> command, int port) throws Exception {
        Path log = Files.createTempFile("lora4j-rpc-server", ".log");
        log.toFile().deleteOnExit();
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        SERVERS.add(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            try {
                new Socket("127.0.0.1", port).close();
                break;
            } catch (IOException notYet) {
                assertTrue(p.isAlive() && System.nanoTime() < deadline, "the RPC server did not start:\n" + Files.readString(log));
                Thread.sleep(50);
            }
        }
        return log;
    }

    @AfterAll
    static void stopServers() throws InterruptedException {
        for (Process p : SERVERS) {
            p.destroy();
            p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static ModelParams onServers() {
        return ModelParams.defaults().withGpuLayers(-1).withRpcServers(endpoints);
    }

    record Run(float[] logits, Generation generation) {}

    /** The prompt's last logits, then a greedy generation, on one thread. */
    static Run run(Model m) {
        try (Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1))) {
            ctx.decode(m.vocabulary().tokenize(PROMPT, true, false));
            float[] logits = ctx.logits();
            ctx.clear();
            return new Run(logits, ctx.generate(PROMPT, TOKENS, SamplerParams.greedy(), null));
        }
    }

    @Test
    void everyLayerOnTwoServersGivesTheLocalTextAndLogits() {
        Run local;
        try (Model m = Model.load(base())) {
            local = run(m);
        }
        BufferReport.Captured<Model> loaded = BufferReport.capture(() -> Model.load(base(), onServers()));
        Run remote;
        try (Model m = loaded.value()) {
            remote = run(m);
        }
        for (String e : endpoints) {
            assertTrue(loaded.report().buffers().stream().anyMatch(b -> b.kind().equals("model") && b.buffer().contains(e)),
                    "weights on " + e + ": " + loaded.report());
        }
        assertArrayEquals(local.generation().tokens(), remote.generation().tokens(), local.generation().text() + "\nvs\n" + remote.generation().text());
        double err = Logits.relativeError(local.logits(), remote.logits());
        System.out.printf(Locale.ROOT, "RpcIT: %d greedy tokens identical; logits max |local - rpc| / max |local| = %.3g;"
                + " %.1f tok/s local, %.1f tok/s on 2 servers%n", TOKENS, err, local.generation().tokensPerSecond(),
                remote.generation().tokensPerSecond());
        assertTrue(err <= 1e-4, "relative logits error " + err);
    }

    @Test
    void anAdapterAppliedThroughRpcGivesTheLocalText() {
        Path adapter = tmp.resolve("adapter.gguf");
        try (GgufFile b = GgufFile.open(base())) {
            LoraAdapterWriter.random(b, List.of("all-linear"), 4, 8f, 0.3f, 0.3f, 5).write(adapter);
        }
        String plain, local, remote;
        try (Model m = Model.load(base())) {
            plain = run(m).generation().text();
            local = withAdapter(m, adapter);
        }
        try (Model m = Model.load(base(), onServers())) {
            remote = withAdapter(m, adapter);
        }
        assertNotEquals(plain, local, "the adapter changes the text");
        assertEquals(local, remote);
    }

    static String withAdapter(Model m, Path adapter) {
        try (LoraAdapter a = LoraAdapter.load(m, adapter);
             Context ctx = m.newContext(ContextParams.defaults().withContextSize(256).withThreads(1))) {
            ctx.setAdapter(a, 1f);
            return ctx.generate(PROMPT, TOKENS, SamplerParams.greedy(), null).text();
        }
    }

    @Test
    void theCliUsesTheServersAndLlamaCppInteroperates() throws Exception {
        String text;
        try (Model m = Model.load(base())) {
            text = run(m).generation().text();
        }
        String rpc = String.join(",", endpoints);
        TestFiles.Result r = TestFiles.cliInProcess("generate", "-m", base(), "-p", PROMPT, "-n", TOKENS, "--temperature", 0,
                "-c", 256, "-t", 1, "--rpc", rpc, "-ngl", -1);
        assertEquals(0, r.exit(), r.stderr());
        assertEquals(text + "\n", r.stdout());
        assertTrue(r.stderr().contains("RPC0[" + endpoints.get(1) + "]"), "memory report: " + r.stderr());
        // llama.cpp's client on lora4j's servers
        TestFiles.assertLlamaCompletionPrints(text, "llama-completion --rpc on lora4j's servers",
                "-m", base(), "-p", PROMPT, "-n", TOKENS, "-c", 256, "--rpc", rpc, "-ngl", 99);
        // lora4j on llama.cpp's server
        int port = freePort();
        startServer(TestFiles.cmd(TestFiles.tool("ggml-rpc-server"), "-H", "127.0.0.1", "-p", port, "-t", 1), port);
        try (Model m = Model.load(base(), ModelParams.defaults().withGpuLayers(-1).withRpcServers(List.of("127.0.0.1:" + port)))) {
            assertEquals(text, run(m).generation().text());
        }
    }

    @Test
    void trainingOverRpcIsRefused() {
        TestFiles.Result train = TestFiles.cliInProcess("train", "--base", base(), "--data", base(), "--out", tmp.resolve("a.gguf"),
                "--rpc", String.join(",", endpoints), "-ngl", -1);
        assertEquals(2, train.exit());
        assertTrue(train.stderr().contains("training does not run on RPC servers"), train.stderr());
    }

    @Test
    void aServerThatCannotServeIsAClearException() throws Exception {
        // nothing listens
        String refused = "127.0.0.1:" + freePort();
        assertTrue(loadFails(refused).contains("RPC server " + refused + ": connection refused"));
        // something else listens: it answers the handshake with text and hangs up
        try (ServerSocket http = new ServerSocket(0)) {
            Thread t = Thread.ofVirtual().start(() -> {
                try (Socket s = http.accept()) {
                    s.getOutputStream().write("HTTP/1.0 400 Bad Request\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                } catch (IOException ignored) {
                    // the test fails on its own
                }
            });
            assertTrue(loadFails("127.0.0.1:" + http.getLocalPort()).contains("does not answer ggml-rpc's handshake"));
            t.join();
        }
        // the server is busy with another client: ggml-rpc serves one at a time, and its own client would wait forever
        try (Socket other = new Socket("127.0.0.1", Integer.parseInt(endpoints.get(0).split(":")[1]))) {
            other.getOutputStream().write(ByteBuffer.allocate(1 + 8 + 24).order(ByteOrder.LITTLE_ENDIAN).put((byte) 14).putLong(24).array());
            InputStream in = other.getInputStream();
            assertEquals(8 + 4 + 24, in.readNBytes(8 + 4 + 24).length, "the server answers its first client");
            long t0 = System.nanoTime();
            String m = loadFails(endpoints.get(0));
            assertTrue(m.contains("no answer within 5 s"), m);
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(20));
        }
        assertTrue(loadFails("no-such-host.invalid:50052").contains("unknown host"));
        String same = assertThrows(IllegalArgumentException.class, () -> Model.load(base(), ModelParams.defaults().withGpuLayers(-1)
                .withRpcServers(List.of(endpoints.get(0), endpoints.get(0).replace("127.0.0.1", "localhost"))))).getMessage();
        assertTrue(same.contains("are the same server"), same);
        String noLayers = assertThrows(IllegalArgumentException.class,
                () -> Model.load(base(), ModelParams.defaults().withRpcServers(endpoints))).getMessage();
        assertTrue(noLayers.contains("gpuLayers 0"), noLayers);
        // and the servers still serve
        try (Model m = Model.load(base(), onServers())) {
            assertTrue(run(m).generation().tokens().length > 0);
        }
    }

    static String loadFails(String endpoint) {
        ModelParams p = ModelParams.defaults().withGpuLayers(-1).withRpcServers(List.of(endpoint));
        String m = assertThrows(ModelLoadException.class, () -> Model.load(base(), p).close()).getMessage();
        System.out.println("RpcIT: " + m);
        return m;
    }

    @Test
    void rpcServerRefusesABadHostOrPort() throws IOException {
        TestFiles.Result port = TestFiles.cliInProcess("rpc-server", "--port", 70000);
        assertEquals(2, port.exit());
        assertTrue(port.stderr().contains("--port must be from 1 to 65535"), port.stderr());
        TestFiles.Result host = TestFiles.cliInProcess("rpc-server", "--host", "no-such-host.invalid");
        assertEquals(2, host.exit());
        assertTrue(host.stderr().contains("unknown host"), host.stderr());
        TestFiles.Result v6 = TestFiles.cliInProcess("rpc-server", "--host", "::1");
        assertEquals(2, v6.exit());
        assertTrue(v6.stderr().contains("IPv4 only"), v6.stderr());
        String used = endpoints.get(0).split(":")[1];
        TestFiles.Result inUse = TestFiles.cliInProcess("rpc-server", "--port", used);
        assertEquals(2, inUse.exit());
        assertTrue(inUse.stderr().contains("cannot listen on 127.0.0.1:" + used), inUse.stderr());
    }
}
