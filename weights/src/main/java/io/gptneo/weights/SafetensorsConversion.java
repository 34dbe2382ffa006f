package io.gptneo.weights;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Rewrites a model folder's weights (any format {@link Checkpoints} opens, e.g. {@code pytorch_model.bin}) as one
 * {@code model.safetensors}, beside copies of config.json, generation_config.json and the tokenizer files. Tensors keep
 * their dtype unless one is given for floating-point data. A tensor that shares its storage with
 * {@code transformer.wte.weight} (the tied {@code lm_head.weight} of a PyTorch state dict) is left out, as
 * {@code save_pretrained} does: safetensors holds no shared tensors and the loader ties a missing head to wte.
 */
public final class SafetensorsConversion {
    private static final List<String> COPIED = List.of(
            "config.json",
            "generation_config.json",
            "vocab.json",
            "merges.txt",
            "tokenizer.json",
            "tokenizer_config.json",
            "special_tokens_map.json");

    private SafetensorsConversion() {}

    /** Converts {@code modelDir} into {@code outDir} (created; an existing model.safetensors is replaced atomically). Returns the tensor names written. */
    public static List<String> convert(Path modelDir, Path outDir, Dtype floatDtype) throws IOException {
        if (floatDtype != null && !floatDtype.isFloating())
            throw new IllegalArgumentException("--dtype must be a floating-point type, not " + floatDtype);
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        try (TensorSource src = Checkpoints.open(modelDir)) {
            for (String n : src.names()) {
                if (tiedToEmbedding(src, n)) continue;
                Dtype d = src.info(n).dtype();
                tensors.put(
                        n,
                        src.load(
                                n,
                                switch (d) {
                                    case F16 -> DataType.HALF;
                                    case BF16 -> DataType.BFLOAT16;
                                    default -> d.naturalDataType();
                                }));
            }
        }
        Files.createDirectories(outDir);
        SafeTensorsWriter.write(outDir.resolve(Checkpoints.SINGLE), tensors, Map.of("format", "pt"), floatDtype);
        if (!Files.isSameFile(modelDir, outDir))
            for (String f : COPIED)
                if (Files.isRegularFile(modelDir.resolve(f)))
                    Files.copy(modelDir.resolve(f), outDir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        return new ArrayList<>(tensors.keySet());
    }

    private static boolean tiedToEmbedding(TensorSource src, String name) {
        String wte = "transformer." + GptNeoWeights.WTE;
        if (!name.equals(GptNeoWeights.LM_HEAD) || !src.contains(wte)) return false;
        TensorSource a = src, b = src;
        if (src instanceof ShardedCheckpoint s) {
            a = s.shard(name);
            b = s.shard(wte);
        }
        return a == b && a instanceof TorchCheckpoint t && t.storageKey(name).equals(t.storageKey(wte));
    }
}
