package io.gptneo;

/**
 * The one unchecked exception of the public API for bad input: an argument, a data line, a setting or a model folder
 * that cannot be used. The message names what is wrong and where (file, line, field, limit), for example a prompt
 * that would run past the model's {@code max_position_embeddings}. I/O failures are checked {@link java.io.IOException}s.
 */
public class GptNeoException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** An exception with a message naming the bad input. */
    public GptNeoException(String message) {
        super(message);
    }

    /** An exception with a message naming the bad input and the failure that revealed it. */
    public GptNeoException(String message, Throwable cause) {
        super(message, cause);
    }
}
