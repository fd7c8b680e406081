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
}
