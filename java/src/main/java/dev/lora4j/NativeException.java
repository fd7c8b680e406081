package dev.lora4j;

/** A native call failed in a way the input did not predict; carries the shim's or llama.cpp's error text. */
public class NativeException extends Lora4jException {
    public NativeException(String message) {
        super(message);
    }
}
