package io.gptneo.lora;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.model.CostModel;
import io.gptneo.model.GptNeoModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.weights.Checkpoints;
import io.gptneo.weights.Dtype;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.ShardedCheckpoint;
import io.gptneo.weights.TensorSource;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** base (gptneo-tiny) + adapter (lora-tiny/adapter_init) exported as one merged HF folder gives the same costs. */
class MergedExportTest {
    static final Path ADAPTER = LoraFixtureTest.LORA.resolve("adapter_init");
    static int[][] ids, mask;
    static INDArray costsWant, lmWant;
    static int[][] lm;

    /** Costs and LM logits of base + adapter, unmerged (the reference the exported folder must reproduce). */
    @BeforeAll
    static void reference() throws Exception {
        JsonNode json = new ObjectMapper()
                .readTree(LoraFixtureTest.LORA.resolve("expected.json").toFile());
        ids = LoraFixtureTest.ints(json.get("cost_token_ids"));
        mask = LoraFixtureTest.ones(ids);
        lm = new int[1][json.get("lm_ids").size()];
        for (int i = 0; i < lm[0].length; i++)
            lm[0][i] = json.get("lm_ids").get(i).asInt();
        CostModel cm = CostModel.load(LoraFixtureTest.TINY, DataType.FLOAT);
        PeftAdapter.load(ADAPTER, cm);
        try (var off = GradMode.off()) {
            costsWant = cm.costs(ids, mask).data().dup();
            lmWant = cm.model()
                    .lastLogits(cm.model().forward(lm, null, null))
                    .data()
                    .dup();
        }
    }

    static double maxAbs(INDArray a, INDArray b) {
        return a.castTo(DataType.DOUBLE)
                .sub(b.castTo(DataType.DOUBLE))
                .amaxNumber()
                .doubleValue();
    }

    static INDArray costs(Path dir) throws Exception {
        CostModel cm = CostModel.load(dir, DataType.FLOAT);
        try (var off = GradMode.off()) {
            return cm.costs(ids, mask).data().dup();
        }
    }

    @Test
    void exportedFolderGivesTheSameCostsAndLoadsAsPlainGptNeo(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("merged");
        List<String> files =
                MergedExport.export(LoraFixtureTest.TINY, ADAPTER, out, null, MergedExport.DEFAULT_SHARD_BYTES);
        assertTrue(
                files.containsAll(List.of("model.safetensors", "config.json", "vocab.json", "merges.txt")),
                files.toString());
        double d = maxAbs(costs(out), costsWant);
        System.out.printf("merged export f32: max |cost difference| = %.3g over %d costs%n", d, ids.length);
        assertTrue(d < 1e-5, "max cost difference " + d);
        JsonNode c = new ObjectMapper().readTree(out.resolve("config.json").toFile());
        assertEquals(
                "GPTNeoForSequenceClassification", c.get("architectures").get(0).asText());
        assertEquals(1, c.get("num_labels").asInt());
        assertEquals(50256, c.get("pad_token_id").asInt());
        assertEquals("float32", c.get("torch_dtype").asText());
        try (SafeTensorsFile st = SafeTensorsFile.open(out.resolve(Checkpoints.SINGLE))) {
            assertArrayEquals(new long[] {1, 32}, st.info("score.weight").shape());
            assertFalse(
                    st.names().stream().anyMatch(n -> n.contains("lora")),
                    st.names().toString());
        }
        for (String f : List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"))
            assertArrayEquals(
                    Files.readAllBytes(LoraFixtureTest.TINY.resolve(f)), Files.readAllBytes(out.resolve(f)), f);
        // as a plain GPT-Neo (score.weight ignored): the LM logits of the merged body
        GptNeoModel plain = GptNeoModel.load(out, DataType.FLOAT);
        try (var off = GradMode.off()) {
            double e = maxAbs(plain.lastLogits(plain.forward(lm, null, null)).data(), lmWant);
            assertTrue(e < 1e-4, "LM logits differ by " + e);
        }
        var again = assertThrows(
                java.io.IOException.class,
                () -> MergedExport.export(LoraFixtureTest.TINY, ADAPTER, out, null, MergedExport.DEFAULT_SHARD_BYTES));
        assertTrue(again.getMessage().contains("not empty"), again.getMessage());
    }

    @Test
    void shardsAboveTheLimitAndNarrowDtypes(@TempDir Path tmp) throws Exception {
        Path sharded = tmp.resolve("sharded");
        List<String> files = MergedExport.export(LoraFixtureTest.TINY, ADAPTER, sharded, Dtype.F32, 100_000);
        assertTrue(
                files.contains(Checkpoints.INDEX)
                        && files.stream().filter(f -> f.startsWith("model-")).count() >= 3,
                files.toString());
        try (TensorSource src = Checkpoints.open(sharded)) {
            assertInstanceOf(ShardedCheckpoint.class, src);
        }
        assertTrue(maxAbs(costs(sharded), costsWant) < 1e-5);
        // narrow dtypes: every tensor is exactly the rounding of the f32 export; the costs move only by that rounding
        for (Dtype dt : List.of(Dtype.F16, Dtype.BF16)) {
            Path out = tmp.resolve(dt.name());
            MergedExport.export(LoraFixtureTest.TINY, ADAPTER, out, dt, MergedExport.DEFAULT_SHARD_BYTES);
            try (TensorSource narrow = Checkpoints.open(out);
                    TensorSource wide = Checkpoints.open(sharded)) {
                assertEquals(wide.names(), narrow.names());
                for (String n : wide.names()) {
                    assertEquals(dt, narrow.info(n).dtype(), n);
                    INDArray w = wide.load(n, DataType.FLOAT);
                    assertEquals(
                            w.castTo(dt == Dtype.F16 ? DataType.HALF : DataType.BFLOAT16)
                                    .castTo(DataType.FLOAT),
                            narrow.load(n, DataType.FLOAT),
                            n);
                }
            }
            double d = maxAbs(costs(out), costsWant);
            System.out.printf(
                    "merged export %s: max |cost difference| = %.3g (costs %s vs %s)%n", dt, d, costs(out), costsWant);
            assertTrue(d < (dt == Dtype.BF16 ? 0.15 : 0.01), dt + " cost difference " + d);
        }
        assertEquals(Dtype.BF16, MergedExport.parseDtype("bf16"));
        assertThrows(IllegalArgumentException.class, () -> MergedExport.parseDtype("int8"));
    }
}
