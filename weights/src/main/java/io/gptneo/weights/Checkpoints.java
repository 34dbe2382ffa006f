package io.gptneo.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens the weights of a model directory in the HuggingFace layout. */
public final class Checkpoints {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";

    private Checkpoints() {}

    /**
     * {@code model.safetensors} if present, else {@code model.safetensors.index.json} (sharded). A path to a
     * {@code .safetensors} file or an index file is opened directly.
     */
    public static TensorSource open(Path modelDir) throws IOException {
        if (Files.isRegularFile(modelDir)) {
            String n = modelDir.getFileName().toString();
            return n.endsWith(".index.json") ? ShardedCheckpoint.open(modelDir) : SafeTensorsFile.open(modelDir);
        }
        if (!Files.isDirectory(modelDir)) throw new SafeTensorsException(modelDir + ": model directory not found");
        Path single = modelDir.resolve(SINGLE);
        if (Files.isRegularFile(single)) return SafeTensorsFile.open(single);
        Path index = modelDir.resolve(INDEX);
        if (Files.isRegularFile(index)) return ShardedCheckpoint.open(index);
        StringBuilder msg = new StringBuilder(modelDir + ": no weights found: looked for " + SINGLE + " and " + INDEX);
        if (Files.exists(modelDir.resolve("pytorch_model.bin")) || Files.exists(modelDir.resolve("pytorch_model.bin.index.json")))
            msg.append("; pytorch_model.bin is present but PyTorch pickle checkpoints are not supported"
                    + " (convert it to safetensors, e.g. with the safetensors Python library)");
        throw new SafeTensorsException(msg.toString());
    }
}
