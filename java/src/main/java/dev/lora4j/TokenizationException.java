package dev.lora4j;

/** Text that the model's vocabulary cannot encode (or tokens it cannot decode). */
public class TokenizationException extends Lora4jException {
    public TokenizationException(String message) {
        super(message);
    }
}
