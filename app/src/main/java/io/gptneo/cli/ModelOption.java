package io.gptneo.cli;

import io.gptneo.weights.ModelResolver;
import java.io.IOException;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --model DIR|HUB_ID}, required, as a picocli mixin: the commands that read one pretrained GPT-Neo. */
final class ModelOption {
    @Option(
            names = "--model",
            required = true,
            paramLabel = "DIR|HUB_ID",
            description = "Required. GPT-Neo model folder or Hugging Face Hub id (org/name[@revision]).")
    String model;

    /** The local folder: the directory itself, or the Hub id's snapshot (downloaded on first use). */
    Path resolve() throws IOException {
        return ModelResolver.resolveModel(model);
    }
}
