package dev.lora4j.internal;

import static dev.lora4j.bindings.ggml_backend_h.*;
import static dev.lora4j.bindings.llama_h.llama_backend_init;
import static dev.lora4j.bindings.llama_h.llama_log_set;

import dev.lora4j.bindings.ggml_log_callback;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Process-wide llama.cpp state: the one-time {@code llama_backend_init} (and the check that the shim is the one the
 * bindings were generated from), ggml's device registry, and llama.cpp/ggml log output routed to
 * {@link System.Logger} {@code dev.lora4j.llama} (llama.cpp INFO is logged at DEBUG: it is chatty). The last
 * error line logged on each thread is kept for {@link NativeErrors}, so that exceptions can say why llama.cpp
 * refused something.
 */
public final class Llama {
    private static final System.Logger LOG = System.getLogger("dev.lora4j.llama");
    private static final ThreadLocal<StringBuilder> PENDING = ThreadLocal.withInitial(StringBuilder::new);
    private static final ThreadLocal<int[]> PENDING_LEVEL = ThreadLocal.withInitial(() -> new int[] {2});
    private static final ThreadLocal<String> LAST_ERROR = new ThreadLocal<>();
    private static volatile boolean initialized;

    private Llama() {}

    /** Loads the natives, initialises the backends and installs the log router; idempotent and thread-safe. */
    public static void init() {
        if (!initialized) {
            synchronized (Llama.class) {
                if (!initialized) {
                    MemorySegment cb = ggml_log_callback.allocate(Llama::onLog, Arena.global());
                    llama_log_set(cb, MemorySegment.NULL);
                    llama_backend_init();
                    int shim = lora4j_h.lora4j_shim_version();
                    if (shim != lora4j_h.LORA4J_SHIM_VERSION()) {
                        throw new IllegalStateException("lora4j: native shim version " + shim
                                + " does not match the bindings' (" + lora4j_h.LORA4J_SHIM_VERSION() + ")");
                    }
                    initialized = true;
                }
            }
        }
    }

    /** The last error-level line llama.cpp logged on this thread since {@link #clearLoggedError()}, or null. */
    static String lastLoggedError() {
        return LAST_ERROR.get();
    }

    static void clearLoggedError() {
        LAST_ERROR.remove();
    }

    /** One compute device of ggml's registry, its memory as of the call ({@code type}: enum ggml_backend_dev_type). */
    public record Device(String name, String description, int type, long freeBytes, long totalBytes) {}

    /** Every device of ggml's registry, in registry order. */
    public static List<Device> devices() {
        init();
        long n = ggml_backend_dev_count();
        List<Device> out = new ArrayList<>((int) n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            for (int i = 0; i < n; i++) {
                MemorySegment dev = ggml_backend_dev_get(i);
                free.set(ValueLayout.JAVA_LONG, 0, 0);
                total.set(ValueLayout.JAVA_LONG, 0, 0);
                ggml_backend_dev_memory(dev, free, total);
                out.add(new Device(string(ggml_backend_dev_name(dev)), string(ggml_backend_dev_description(dev)),
                        ggml_backend_dev_type(dev), free.get(ValueLayout.JAVA_LONG, 0), total.get(ValueLayout.JAVA_LONG, 0)));
            }
        }
        return List.copyOf(out);
    }

    private static String string(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0, StandardCharsets.UTF_8);
    }

    private static void onLog(int level, MemorySegment text, MemorySegment userData) {
        try {
            String s = text.getString(0, StandardCharsets.UTF_8);
            StringBuilder pending = PENDING.get();
            if (level != 5 /* GGML_LOG_LEVEL_CONT */) {
                PENDING_LEVEL.get()[0] = level;
            }
            pending.append(s);
            int nl;
            while ((nl = pending.indexOf("\n")) >= 0) {
                emit(PENDING_LEVEL.get()[0], pending.substring(0, nl));
                pending.delete(0, nl + 1);
            }
        } catch (Throwable t) {
            // an upcall must never throw into native code
        }
    }

    private static void emit(int level, String line) {
        if (line.isBlank()) {
            return;
        }
        System.Logger.Level l = switch (level) {
            case 4 -> System.Logger.Level.ERROR;
            case 3 -> System.Logger.Level.WARNING;
            case 2 -> System.Logger.Level.DEBUG;
            default -> System.Logger.Level.TRACE;
        };
        if (level == 4) {
            LAST_ERROR.set(line.strip());
        }
        if (LOG.isLoggable(l)) {
            LOG.log(l, line);
        }
    }
}
