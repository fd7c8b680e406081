package dev.lora4j.internal;

import static dev.lora4j.bindings.llama_h.*;

import dev.lora4j.bindings.ggml_log_callback;
import dev.lora4j.bindings.lora4j_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;

/**
 * Process-wide llama.cpp state: the one-time {@code llama_backend_init}, and llama.cpp/ggml log output routed to
 * {@link System.Logger} {@code dev.lora4j.llama} (llama.cpp INFO is logged at DEBUG: it is chatty). The last
 * error line logged on each thread is kept so that exceptions can say why llama.cpp refused something.
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
                    if (shim != 1) {
                        throw new IllegalStateException("lora4j: native shim version " + shim + " does not match the Java code (1)");
                    }
                    initialized = true;
                }
            }
        }
    }

    /** The last error-level line llama.cpp logged on this thread since {@link #clearLastError()}, or null. */
    public static String lastLoggedError() {
        return LAST_ERROR.get();
    }

    public static void clearLastError() {
        LAST_ERROR.remove();
        lora4j_h.lora4j_clear_error();
    }

    /** The shim's last error text on this thread ("" when none). */
    public static String shimError() {
        return lora4j_h.lora4j_last_error().getString(0);
    }

    /** The best explanation available for a failure that just happened on this thread. */
    public static String reason() {
        String shim = shimError();
        String log = lastLoggedError();
        if (!shim.isEmpty() && log != null && !shim.contains("see the log")) {
            return shim + " (llama.cpp: " + log + ")";
        }
        if (log != null) {
            return log;
        }
        return shim.isEmpty() ? "no reason given by llama.cpp" : shim;
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
