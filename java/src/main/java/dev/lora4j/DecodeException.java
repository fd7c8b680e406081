package dev.lora4j;

/**
 * {@code llama_decode} failed. {@link #code()} is llama.h's return code: 1 = no KV slot for the batch (context
 * full), 2 = aborted, -1 = invalid batch, below -1 = error; -100/-101 are the lora4j shim's (C++ exception
 * caught / argument rejected).
 */
public class DecodeException extends Lora4jException {
    private final int code;

    public DecodeException(int code, String message) {
        super(message);
        this.code = code;
    }

    public int code() {
        return code;
    }

    static String meaning(int code) {
        return switch (code) {
            case 1 -> "no room in the context's KV cache for the batch (the context is full)";
            case 2 -> "decoding was aborted";
            case -1 -> "the batch is invalid";
            case -100 -> "llama.cpp threw a C++ exception";
            case -101 -> "the batch was rejected before reaching llama.cpp";
            default -> "llama.cpp error " + code;
        };
    }
}
