package io.gptneo.weights;

import java.io.IOException;

/** A model could not be fetched from the Hub (offline, unreachable, not found, or corrupt download). */
public class HubException extends IOException {
    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
