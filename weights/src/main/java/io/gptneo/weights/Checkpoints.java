package io.gptneo.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Opens the weights of a model directory in the HuggingFace layout. */
public final class Checkpoints {
    public static final String SINGLE = "model.safetensors";
    public static final String INDEX = "model.safetensors.index.json";
    public static final String TORCH_SINGLE = "pytorch_model.bin";
    public static final String TORCH_INDEX = "pytorch_model.bin.index.json";
    /** The weight files looked for, in order of preference (safetensors first). */
    public static final List<String> PREFERENCE = List.of(SINGLE, INDEX, TORCH_SINGLE, TORCH_INDEX);

    private Checkpoints() {}

    /**
     * The first of {@link #PREFERENCE} present in the directory: safetensors when both formats exist, else PyTorch
     * {@code .bin} (read safely by {@link TorchCheckpoint}). A path to a {@code .safetensors}, {@code .bin} or
     * index file is opened directly.
     */
    public static TensorSource open(Path modelDir) throws IOException {
        if (Files.isRegularFile(modelDir)) {
            String n = modelDir.getFileName().toString();
            if (n.endsWith(".index.json")) return ShardedCheckpoint.open(modelDir);
            return n.endsWith(".bin") || n.endsWith(".pt") || n.endsWith(".pth")
                    ? TorchCheckpoint.open(modelDir)
                    : SafeTensorsFile.open(modelDir);
        }
        if (!Files.isDirectory(modelDir)) throw new SafeTensorsException(modelDir + ": model directory not found");
        Path found = find(modelDir);
        if (found == null)
            throw new SafeTensorsException(
                    modelDir + ": no weights found: looked for " + String.join(", ", PREFERENCE));
        return open(found);
    }

    /** The preferred weights file of a directory, or null when it has none. */
    public static Path find(Path modelDir) {
        for (String n : PREFERENCE) if (Files.isRegularFile(modelDir.resolve(n))) return modelDir.resolve(n);
        return null;
    }
}
