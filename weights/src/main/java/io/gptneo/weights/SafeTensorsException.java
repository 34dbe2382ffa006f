package io.gptneo.weights;

import java.io.IOException;
import java.nio.file.Path;

/** A safetensors file, index or checkpoint is malformed or inconsistent. The message names the file (and tensor). */
public class SafeTensorsException extends IOException {
    public SafeTensorsException(String message) {
        super(message);
    }

    public SafeTensorsException(String message, Throwable cause) {
        super(message, cause);
    }

    static SafeTensorsException of(Path file, String tensor, String what) {
        return new SafeTensorsException(file + (tensor == null ? "" : ": tensor '" + tensor + "'") + ": " + what);
    }
}
