package dev.lora4j.cli;

import dev.lora4j.internal.Rpc;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.FutureTask;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code lora4j rpc-server}: serves this machine's CPU as a ggml RPC device until stopped; prints
 * {@code listening on HOST:PORT} on stdout once it accepts connections.
 */
@Command(name = "rpc-server", mixinStandardHelpOptions = true,
        description = {"Serve this machine's CPU to models loaded elsewhere with --rpc HOST:PORT (ggml's RPC backend), until stopped.",
                "No authentication, no encryption: listen only on a network you trust."})
final class RpcServerCommand implements Callable<Integer> {
    @Mixin
    CommonOptions common;

    @Option(names = {"-H", "--host"}, defaultValue = "127.0.0.1",
            description = "IPv4 address (or host name) to listen on; 0.0.0.0 = every interface (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = {"-p", "--port"}, defaultValue = "50052", description = "TCP port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--cache", paramLabel = "DIR",
            description = "Keep the large tensors (> 10 MiB) clients send in DIR, so that loading the same model again sends only their hashes.")
    Path cache;

    @Override
    public Integer call() throws Exception {
        common.apply();
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("--port must be from 1 to 65535, got " + port);
        }
        InetAddress address = ipv4(host);
        String ip = address.getHostAddress();
        // ggml-rpc only prints "Failed to create server socket": say why first (in use, or not this machine's address)
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new InetSocketAddress(address, port));
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot listen on " + ip + ":" + port + ": " + e.getMessage());
        }
        if (cache != null) {
            Files.createDirectories(cache);
        }
        int threads = common.threads > 0 ? common.threads : Runtime.getRuntime().availableProcessors();
        FutureTask<Void> server = new FutureTask<>(() -> {
            Rpc.serve(ip, port, threads, cache);
            return null;
        });
        new Thread(server, "rpc-server").start();
        InetAddress probe = address.isAnyLocalAddress() ? InetAddress.getLoopbackAddress() : address;
        while (!server.isDone() && !accepts(probe, port)) {
            Thread.sleep(20);
        }
        if (!server.isDone()) {
            CommonOptions.stdout().println("listening on " + ip + ":" + port + " (CPU, " + threads + " threads)");
            if (!address.isLoopbackAddress()) {
                System.err.println("lora4j: rpc-server: whoever reaches " + ip + ":" + port
                        + " can use this machine's CPU and memory: no authentication, no encryption");
            }
        }
        try {
            server.get();
        } catch (ExecutionException e) {
            throw e.getCause() instanceof Exception x ? x : e;
        }
        throw new IllegalStateException("the RPC server stopped: ggml-rpc could not listen on or accept at " + ip + ":" + port);
    }

    /** The first IPv4 address of {@code host}: ggml-rpc listens on IPv4 only. */
    private static InetAddress ipv4(String host) {
        InetAddress a;
        try {
            a = Rpc.ipv4(host);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("--host " + host + ": unknown host");
        }
        if (a == null) {
            throw new IllegalArgumentException("--host " + host + ": not an IPv4 address (ggml-rpc listens on IPv4 only)");
        }
        return a;
    }

    /** Whether a TCP connection to the server succeeds (it closes at once: the server goes back to accepting). */
    private static boolean accepts(InetAddress a, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(a, port), 200);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
