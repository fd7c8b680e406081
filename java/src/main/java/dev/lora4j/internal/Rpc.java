package dev.lora4j.internal;

import static dev.lora4j.bindings.ggml_backend_h.*;
import static dev.lora4j.bindings.ggml_rpc_h.*;
import static dev.lora4j.bindings.llama_h.llama_max_devices;
import static dev.lora4j.bindings.llama_h.llama_supports_rpc;

import dev.lora4j.ModelLoadException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.ConnectException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.net.UnknownHostException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * ggml's RPC backend ({@code ggml-rpc.h}): the devices of remote RPC servers for {@link ModelHandle#load}, and the
 * server itself ({@link #serve}).
 *
 * <p>ggml-rpc aborts the process when a server refuses its connection or fails its handshake, and waits with no
 * timeout on one that accepts but does not answer (a server serves one client at a time). So each server is first
 * probed here with that handshake and a timeout; not one this process is connected to already (it would wait on
 * ourselves), which is why servers are named by IPv4 address: one server, one name, one native connection.
 */
public final class Rpc {
    /** How long a probe waits for the connection, then for the handshake's answer. */
    static final int TIMEOUT_MS = 5000;
    // ggml-rpc.cpp's wire format, which its header does not declare: RPC_CMD_HELLO (pinned to 14 by a static_assert
    // there), then the request's and the response's conn_caps (RPC_CONN_CAPS_SIZE of ggml-rpc/transport.h)
    private static final int CMD_HELLO = 14;
    private static final int CONN_CAPS = 24;
    /** Endpoint (IPv4:port) -> models of this process placed on it, i.e. holding a native connection. */
    private static final Map<String, Integer> CONNECTED = new HashMap<>();

    private Rpc() {}

    /** The RPC servers of one model and their devices, in use until {@link #release()}. */
    static final class Servers {
        private final List<String> endpoints;
        private final List<MemorySegment> devices;
        private boolean released;

        private Servers(List<String> endpoints, List<MemorySegment> devices) {
            this.endpoints = endpoints;
            this.devices = devices;
        }

        /** {@code llama_model_params.devices}: these servers' devices, then this build's GPUs (llama.cpp's order), NULL-ended. */
        MemorySegment deviceList(Arena arena) {
            List<MemorySegment> all = new ArrayList<>(devices);
            List<MemorySegment> igpus = new ArrayList<>();
            boolean gpu = false;
            for (long i = 0, n = ggml_backend_dev_count(); i < n; i++) {
                MemorySegment d = ggml_backend_dev_get(i);
                int type = ggml_backend_dev_type(d);
                if (type == GGML_BACKEND_DEVICE_TYPE_GPU()) {
                    all.add(d);
                    gpu = true;
                } else if (type == GGML_BACKEND_DEVICE_TYPE_IGPU()) {
                    igpus.add(d);
                }
            }
            if (!gpu) {
                all.addAll(igpus);
            }
            if (all.size() > llama_max_devices()) {
                throw new IllegalArgumentException("rpcServers: " + all.size() + " devices, more than llama.cpp's "
                        + llama_max_devices());
            }
            MemorySegment list = arena.allocate(ValueLayout.ADDRESS, all.size() + 1L);
            for (int i = 0; i < all.size(); i++) {
                list.setAtIndex(ValueLayout.ADDRESS, i, all.get(i));
            }
            return list;
        }

        /** The model is freed: its connections are gone. Idempotent. */
        void release() {
            synchronized (Rpc.class) {
                if (!released) {
                    released = true;
                    endpoints.forEach(e -> CONNECTED.computeIfPresent(e, (k, n) -> n > 1 ? n - 1 : null));
                }
            }
        }
    }

    /**
     * Checks that every server answers ggml-rpc's handshake and returns their devices for the model at {@code path};
     * {@link ModelLoadException} naming the server and why when one does not.
     */
    static Servers connect(Path path, List<String> endpoints) {
        synchronized (Rpc.class) {
            if (!llama_supports_rpc()) {
                throw new ModelLoadException(path, "this build of the natives has no RPC backend (GGML_RPC=OFF)");
            }
            if (endpoints.size() > GGML_RPC_MAX_SERVERS()) {
                throw new IllegalArgumentException("rpcServers: " + endpoints.size() + " servers, more than ggml-rpc's "
                        + GGML_RPC_MAX_SERVERS());
            }
            List<String> resolved = new ArrayList<>();
            for (String e : endpoints) {
                InetSocketAddress a = resolve(path, e);
                String name = a.getAddress().getHostAddress() + ":" + a.getPort();
                int same = resolved.indexOf(name);
                if (same >= 0) {
                    throw new IllegalArgumentException("rpcServers: " + endpoints.get(same) + " and " + e + " are the same server (" + name + ")");
                }
                if (!CONNECTED.containsKey(name)) {
                    String why = probe(a);
                    if (why != null) {
                        throw new ModelLoadException(path, "RPC server " + e + ": " + why);
                    }
                }
                resolved.add(name);
            }
            List<MemorySegment> devices = new ArrayList<>();
            try (Arena arena = Arena.ofConfined()) {
                for (int i = 0; i < resolved.size(); i++) {
                    MemorySegment reg = ggml_backend_rpc_add_server(arena.allocateFrom(resolved.get(i)));
                    long n = reg.equals(MemorySegment.NULL) ? 0 : ggml_backend_reg_dev_count(reg);
                    if (n == 0) {
                        throw new ModelLoadException(path, "RPC server " + endpoints.get(i) + " has no device");
                    }
                    for (long d = 0; d < n; d++) {
                        devices.add(ggml_backend_reg_dev_get(reg, d));
                    }
                }
            }
            resolved.forEach(e -> CONNECTED.merge(e, 1, Integer::sum));
            return new Servers(List.copyOf(resolved), List.copyOf(devices));
        }
    }

    /** The first IPv4 address of {@code host}, or null when it has none (ggml-rpc connects and listens over IPv4 only). */
    public static InetAddress ipv4(String host) throws UnknownHostException {
        for (InetAddress a : InetAddress.getAllByName(host)) {
            if (a instanceof Inet4Address) {
                return a;
            }
        }
        return null;
    }

    /** The endpoint's host at its first IPv4 address. */
    private static InetSocketAddress resolve(Path path, String endpoint) {
        int colon = endpoint.lastIndexOf(':');
        String host = endpoint.substring(0, colon);
        try {
            InetAddress a = ipv4(host);
            if (a == null) {
                throw new ModelLoadException(path, "RPC server " + endpoint + ": " + host + " has no IPv4 address (ggml-rpc connects over IPv4 only)");
            }
            return new InetSocketAddress(a, Integer.parseInt(endpoint.substring(colon + 1)));
        } catch (UnknownHostException e) {
            throw new ModelLoadException(path, "RPC server " + endpoint + ": unknown host " + host);
        }
    }

    /** ggml-rpc's HELLO exchange with the server, as its client does it; null when it answers as one of our protocol, else why not. */
    private static String probe(InetSocketAddress a) {
        try (Socket s = new Socket()) {
            s.connect(a, TIMEOUT_MS);
            s.setSoTimeout(TIMEOUT_MS);
            s.setTcpNoDelay(true);
            // | cmd (1 byte) | request size (8, little-endian) | conn_caps (all 0: plain TCP) |
            s.getOutputStream().write(ByteBuffer.allocate(1 + 8 + CONN_CAPS).order(ByteOrder.LITTLE_ENDIAN)
                    .put((byte) CMD_HELLO).putLong(CONN_CAPS).array());
            // | response size (8) | major, minor, patch, padding | conn_caps |
            InputStream in = s.getInputStream();
            ByteBuffer rsp = ByteBuffer.wrap(in.readNBytes(8 + 4 + CONN_CAPS)).order(ByteOrder.LITTLE_ENDIAN);
            String ours = RPC_PROTO_MAJOR_VERSION() + "." + RPC_PROTO_MINOR_VERSION() + "." + RPC_PROTO_PATCH_VERSION();
            if (rsp.limit() < 8 + 4 || rsp.getLong(0) != 4 + CONN_CAPS) {
                return "it does not answer ggml-rpc's handshake (protocol " + ours + "): not an RPC server, or one of another version";
            }
            int major = rsp.get(8), minor = rsp.get(9), patch = rsp.get(10);
            if (major != RPC_PROTO_MAJOR_VERSION() || minor > RPC_PROTO_MINOR_VERSION()) {
                return "it speaks RPC protocol " + major + "." + minor + "." + patch + ", this build " + ours
                        + " (run the same llama.cpp version on both sides)";
            }
            return null;
        } catch (ConnectException e) {
            return "connection refused: no RPC server listens there (start one with lora4j rpc-server --host HOST --port PORT)";
        } catch (SocketTimeoutException e) {
            return "no answer within " + TIMEOUT_MS / 1000 + " s: the host is unreachable, or the server is busy with"
                    + " another client (an RPC server serves one at a time), or it is not an RPC server";
        } catch (IOException e) {
            return e.getMessage();
        }
    }

    /**
     * Serves this machine's CPU device over ggml-rpc on {@code host:port} (an IPv4 address) with {@code threads}
     * threads, until the process ends; {@code cacheDir} (or null) keeps large tensors received, by hash. Returns only
     * when ggml-rpc could not listen or accept (it printed why on stderr).
     */
    public static void serve(String host, int port, int threads, Path cacheDir) {
        Llama.init();
        if (!llama_supports_rpc()) {
            throw new IllegalStateException("this build of the natives has no RPC backend (GGML_RPC=OFF)");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU());
            ggml_backend_rpc_start_server(arena.allocateFrom(host + ":" + port),
                    cacheDir == null ? MemorySegment.NULL : arena.allocateFrom(cacheDir.toString()),
                    threads, 1, arena.allocateFrom(ValueLayout.ADDRESS, cpu));
        }
    }
}
