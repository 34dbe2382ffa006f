package io.gptneo.weights;

import java.io.IOException;

/** config.json is missing, malformed or describes an unsupported model. The message names the file and field. */
public class ConfigException extends IOException {
    public ConfigException(String message) {
        super(message);
    }
}
