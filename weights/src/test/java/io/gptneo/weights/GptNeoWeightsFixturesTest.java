package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Loads the four shared GPT-Neo fixtures and checks names, shapes, dtypes and cross-fixture values. */
class GptNeoWeightsFixturesTest {
    static Path fixture(String name) {
        return SharedData.resolve("fixtures/" + name);
    }

    @Test
    void tinyLoadsWithCanonicalNamesAndShapes() throws Exception {
        GptNeoWeights w = GptNeoWeights.load(fixture("gptneo-tiny"));
        GptNeoConfig c = w.config();
        assertEquals(2 + 4 * 13 + 2, w.tensors().size());
        assertFalse(w.hasLmHead());
        assertSame(w.get("wte.weight"), w.lmHead());
        for (var e : GptNeoWeights.expectedShapes(c).entrySet()) {
            INDArray a = w.get(e.getKey());
            assertArrayEquals(e.getValue(), a.shape(), e.getKey());
            assertEquals(DataType.FLOAT, a.dataType());
        }
        assertArrayEquals(new long[] {50257, 32}, w.get("wte.weight").shape());
        assertArrayEquals(new long[] {128, 32}, w.get("h.3.mlp.c_fc.weight").shape());
        // parameters: V*H + P*H + layers*(4H + 4H^2 + H + 2*I*H + I + H) + 2H
        long h = 32, i = 128;
        assertEquals(50257 * h + 128 * h + 4 * (4 * h + 4 * h * h + h + 2 * i * h + i + h) + 2 * h, w.parameterCount());
        // the values are the file's bytes: compare with a direct read of the mapped buffer
        try (SafeTensorsFile f = SafeTensorsFile.open(fixture("gptneo-tiny").resolve("model.safetensors"))) {
            var raw = f.raw("transformer.h.1.ln_1.weight").asFloatBuffer();
            INDArray ln = w.get("h.1.ln_1.weight");
            for (int k = 0; k < 32; k++) assertEquals(raw.get(k), ln.getFloat(k));
            var wte = f.raw("transformer.wte.weight").asFloatBuffer();
            INDArray e = w.get("wte.weight");
            assertEquals(wte.get(0), e.getFloat(0, 0));
            assertEquals(wte.get(50256 * 32 + 31), e.getFloat(50256, 31));
            assertEquals(wte.get(1234 * 32 + 5), e.getFloat(1234, 5));
        }
    }

    @Test
    void legacyEqualsTinyAndKeepsExplicitLmHead() throws Exception {
        GptNeoWeights tiny = GptNeoWeights.load(fixture("gptneo-tiny"));
        GptNeoWeights legacy = GptNeoWeights.load(fixture("gptneo-tiny-legacy"));
        assertTrue(legacy.hasLmHead());
        assertEquals(tiny.tensors().size() + 1, legacy.tensors().size());
        for (String n : tiny.tensors().keySet()) assertEquals(tiny.get(n), legacy.get(n), n);
        assertEquals(tiny.get("wte.weight"), legacy.lmHead());
        // the ignored buffers really are in the file
        try (TensorSource src = Checkpoints.open(fixture("gptneo-tiny-legacy"))) {
            assertEquals(
                    Dtype.U8, src.info("transformer.h.0.attn.attention.bias").dtype());
            INDArray mask = src.load("transformer.h.0.attn.attention.bias", null);
            assertEquals(DataType.UBYTE, mask.dataType());
            assertArrayEquals(new long[] {1, 1, 128, 128}, mask.shape());
            assertEquals(1, mask.getInt(0, 0, 5, 5));
            assertEquals(0, mask.getInt(0, 0, 5, 6));
            assertEquals(
                    -1e9f,
                    src.load("transformer.h.1.attn.attention.masked_bias", DataType.FLOAT)
                            .getFloat(0),
                    0f);
        }
    }

    @Test
    void f16AndBf16AreTheRoundedTinyWeights() throws Exception {
        GptNeoWeights tiny = GptNeoWeights.load(fixture("gptneo-tiny"));
        GptNeoWeights f16 = GptNeoWeights.load(fixture("gptneo-tiny-f16"));
        GptNeoWeights bf16 = GptNeoWeights.load(fixture("gptneo-tiny-bf16-sharded"));
        assertEquals(tiny.tensors().keySet(), f16.tensors().keySet());
        assertEquals(tiny.tensors().keySet(), bf16.tensors().keySet());
        for (String n : tiny.tensors().keySet()) {
            float[] t = tiny.get(n).data().asFloat();
            float[] h = f16.get(n).data().asFloat();
            float[] b = bf16.get(n).data().asFloat();
            for (int k = 0; k < t.length; k++) {
                // each fixture holds round-to-nearest-even of the F32 weights, widened exactly here
                assertEquals(HalfFloats.halfToFloat(HalfFloats.floatToHalf(t[k])), h[k], 0f, n);
                assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(t[k])), b[k], 0f, n);
            }
        }
    }

    @Test
    void doubleTargetAndShardLayout() throws Exception {
        GptNeoWeights tinyD = GptNeoWeights.load(fixture("gptneo-tiny"), DataType.DOUBLE);
        GptNeoWeights tinyF = GptNeoWeights.load(fixture("gptneo-tiny"));
        assertEquals(DataType.DOUBLE, tinyD.get("wpe.weight").dataType());
        assertEquals(tinyF.get("wpe.weight").castTo(DataType.DOUBLE), tinyD.get("wpe.weight"));
        try (TensorSource src = Checkpoints.open(fixture("gptneo-tiny-bf16-sharded"))) {
            ShardedCheckpoint sc = assertInstanceOf(ShardedCheckpoint.class, src);
            assertEquals(2, sc.shards().size());
            assertEquals(56, sc.names().size());
            assertEquals("3325632", sc.metadata().get("total_size"));
            assertEquals(
                    "model-00002-of-00002.safetensors",
                    sc.shard("transformer.wte.weight").path().getFileName().toString());
            assertEquals(Dtype.BF16, sc.info("transformer.wte.weight").dtype());
            long total = 0;
            for (String n : sc.names()) total += sc.info(n).byteSize();
            assertEquals(3325632, total);
        }
    }

    @Test
    void shapeAndNameErrorsAreReportedTogether() throws Exception {
        GptNeoConfig wrong = GptNeoConfig.of(50257, 128, 32, 3, 4, 8); // 3 layers: h.3.* is unknown
        try (TensorSource src = Checkpoints.open(fixture("gptneo-tiny"))) {
            var e = assertThrows(SafeTensorsException.class, () -> GptNeoWeights.plan(src, wrong, "tiny"));
            assertTrue(e.getMessage().contains("transformer.h.3.mlp.c_fc.weight"), e.getMessage());
            assertTrue(e.getMessage().contains("transformer.h.3.ln_1.bias"), e.getMessage());
            GptNeoConfig wider = GptNeoConfig.of(50257, 128, 32, 4, 4, 8).withIntermediateSize(64);
            var e2 = assertThrows(SafeTensorsException.class, () -> GptNeoWeights.plan(src, wider, "tiny"));
            assertTrue(
                    e2.getMessage().contains("transformer.h.0.mlp.c_fc.weight has shape [128, 32], expected [64, 32]"),
                    e2.getMessage());
            assertTrue(e2.getMessage().contains("transformer.h.3.mlp.c_proj.weight"), e2.getMessage());
            GptNeoConfig more = GptNeoConfig.of(50257, 128, 32, 6, 4, 8);
            var e3 = assertThrows(SafeTensorsException.class, () -> GptNeoWeights.plan(src, more, "tiny"));
            assertTrue(e3.getMessage().contains("missing tensors: h.4.ln_1.weight"), e3.getMessage());
            assertTrue(e3.getMessage().contains("h.5.mlp.c_proj.bias"), e3.getMessage());
        }
    }

    @Test
    void bareNamesAndScoreHeadAreAccepted(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        GptNeoConfig c = GptNeoConfig.of(11, 6, 8, 2, 2, 3);
        Map<String, INDArray> bare = new java.util.TreeMap<>();
        var rnd = new java.util.Random(1);
        for (var e : GptNeoWeights.expectedShapes(c).entrySet())
            bare.put(e.getKey(), org.nd4j.linalg.factory.Nd4j.rand(DataType.FLOAT, e.getValue()));
        bare.put("score.weight", org.nd4j.linalg.factory.Nd4j.rand(DataType.FLOAT, 1, 8));
        bare.put("h.0.attn.attention.masked_bias", org.nd4j.linalg.factory.Nd4j.scalar(-1e9f));
        Path f = dir.resolve("model.safetensors");
        SafeTensorsWriter.write(f, bare, Map.of("format", "pt"));
        try (TensorSource src = Checkpoints.open(dir)) {
            GptNeoWeights w = GptNeoWeights.load(src, c, DataType.FLOAT, dir.toString());
            assertEquals(bare.get("score.weight"), w.get("score.weight"));
            assertEquals(bare.get("h.1.mlp.c_fc.weight"), w.get("h.1.mlp.c_fc.weight"));
            assertEquals(
                    List.copyOf(GptNeoWeights.expectedShapes(c).keySet()).size() + 1,
                    w.tensors().size());
        }
    }
}
