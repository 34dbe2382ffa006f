package io.gptneo.weights;

/**
 * A pickle stream was refused: a global outside the allowlist, an opcode outside the subset {@code torch.save}
 * writes, or a malformed or truncated stream. The message names the file, the byte offset and what was asked for.
 */
public final class PickleException extends SafeTensorsException {
    public PickleException(String message) {
        super(message);
    }
}
