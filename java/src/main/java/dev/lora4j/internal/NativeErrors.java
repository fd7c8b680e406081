package dev.lora4j.internal;

import dev.lora4j.DecodeException;
import dev.lora4j.NativeException;
import dev.lora4j.bindings.lora4j_h;
import java.util.function.Function;

/**
 * The one mapping from native failures to lora4j's exceptions. The shim's rule (native/include/lora4j.h): a status
 * or count is {@code >= 0} on success and a negative {@code LORA4J_ERR_*} code on failure, a pointer is NULL on
 * failure, and the failure's code and message are kept per thread. The explanation an exception carries joins
 * the shim's message and the last error llama.cpp logged on this thread ({@link Llama#lastLoggedError()}).
 *
 * <p>Bracket a mapped call with {@link #clear()} before it; then {@link #error} builds the exception.
 */
public final class NativeErrors {
    private NativeErrors() {}

    /** Forgets this thread's last shim failure and llama.cpp log error: call before a native call that may fail. */
    public static void clear() {
        Llama.clearLoggedError();
        lora4j_h.lora4j_clear_error();
    }

    /** The best explanation available for a failure that just happened on this thread. */
    public static String reason() {
        String shim = lora4j_h.lora4j_last_error().getString(0);
        String log = Llama.lastLoggedError();
        if (!shim.isEmpty() && log != null && !shim.contains("see the log")) {
            return shim + " (llama.cpp: " + log + ")";
        }
        if (log != null) {
            return log;
        }
        return shim.isEmpty() ? "no reason given by llama.cpp" : shim;
    }

    /** An exception of {@code type} saying "{@code what}: reason" for the failure that just happened. */
    public static <E extends RuntimeException> E error(Function<String, E> type, String what) {
        return type.apply(what + ": " + reason());
    }

    /** Returns a shim status or count; a negative one (a LORA4J_ERR_* code) throws "{@code what} failed: reason". */
    public static int check(int rc, String what) {
        if (rc < 0) {
            throw error(NativeException::new, what + " failed");
        }
        return rc;
    }

    /** As {@link #check(int, String)} for a 64-bit count. */
    public static long check(long rc, String what) {
        if (rc < 0) {
            throw error(NativeException::new, what + " failed");
        }
        return rc;
    }

    /** The failure of {@code lora4j_decode}, which passes on llama_decode's own codes besides the shim's. */
    static DecodeException decodeError(int rc) {
        return new DecodeException(rc, "decode failed: " + decodeMeaning(rc) + " (" + reason() + ")");
    }

    private static String decodeMeaning(int code) {
        if (code == lora4j_h.LORA4J_ERR_EXCEPTION()) {
            return "llama.cpp threw a C++ exception";
        }
        if (code == lora4j_h.LORA4J_ERR_ARGUMENT()) {
            return "the batch was rejected before reaching llama.cpp";
        }
        return switch (code) {
            case 1 -> "no room in the context's KV cache for the batch (the context is full)";
            case 2 -> "decoding was aborted";
            case -1 -> "the batch is invalid";
            default -> "llama.cpp error " + code;
        };
    }
}
