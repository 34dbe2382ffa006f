package io.gptneo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.GptNeoWeights;
import io.gptneo.weights.SafeTensorsWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link GptNeoModel#loadBf16Base} (block linear weights read from the file straight into bf16) gives exactly the
 * model of a float32 load followed by {@link GptNeoModel#holdBaseInBf16}: every tensor bit for bit, same dtypes
 * (embeddings, norms, biases float32), same forward output.
 */
class Bf16LoadTest {
    @Test
    void loadingIntoBf16EqualsConvertingAfterLoading(@TempDir Path dir) throws Exception {
        GptNeoConfig cfg = GptNeoConfig.of(64, 32, 32, 2, 4, 4);
        GptNeoModel random = GptNeoModel.random(cfg, 5, DataType.FLOAT);
        Map<String, INDArray> w = new LinkedHashMap<>();
        random.parameters().forEach((k, v) -> w.put(k, v.data()));
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), w, Map.of("format", "pt"));
        cfg.save(dir.resolve("config.json"));

        GptNeoModel converted = GptNeoModel.load(dir, DataType.FLOAT);
        converted.holdBaseInBf16();
        GptNeoModel direct = GptNeoModel.loadBf16Base(dir);
        assertTrue(direct.bf16Base());
        Map<String, Tensor> a = converted.parameters(), b = direct.parameters();
        assertEquals(a.keySet(), b.keySet());
        int bf16 = 0;
        for (String k : a.keySet()) {
            INDArray x = a.get(k).data(), y = b.get(k).data();
            assertEquals(x.dataType(), y.dataType(), k);
            boolean block = GptNeoWeights.isBlockLinearWeight(k.replaceFirst("^transformer\\.", ""));
            assertEquals(block ? DataType.BFLOAT16 : DataType.FLOAT, y.dataType(), k);
            if (block) bf16++;
            assertArrayEquals(JavaArrays.floats(x), JavaArrays.floats(y), k + " differs"); // bf16 widens exactly
        }
        assertEquals(2 * 6, bf16, "six linear weights per block");

        int[][] ids = {{1, 5, 9, 2, 7}, {3, 3, 60, 0, 4}};
        try (var off = GradMode.off()) {
            assertArrayEquals(
                    JavaArrays.floats(converted.forward(ids, null, null).data()),
                    JavaArrays.floats(direct.forward(ids, null, null).data()));
        }
    }
}
