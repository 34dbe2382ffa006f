package io.gptneo;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.tensor.GradMode;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainSetup;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.weights.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

class SafetyModelTest {
    static final Path BASE = SharedData.resolve("fixtures/gptneo-tiny");
    static final Path ADAPTER = SharedData.resolve("fixtures/lora-tiny/adapter_init");

    @TempDir
    Path dir;

    static List<PromptResponse> pairs(int n) {
        List<PromptResponse> l = new ArrayList<>();
        for (PairExample p : DatasetReader.read(SharedData.resolve("data/pku_saferlhf_pairs.jsonl"), false)
                .pairs()
                .subList(0, n)) {
            l.add(new PromptResponse(p.prompt(), p.response(0)));
            l.add(new PromptResponse(p.prompt(), p.response(1)));
        }
        return l;
    }

    @Test
    void scoresAsTheLowLevelCostModel() throws Exception {
        List<PromptResponse> items = pairs(3);
        float[] got;
        try (SafetyModel m = SafetyModel.load(BASE, ADAPTER).withMaxLength(96)) {
            assertEquals(96, m.maxLength());
            got = m.score(items);
            for (int i = 0; i < items.size(); i++) { // one at a time (no padding) agrees with the padded batch
                assertEquals(got[i], m.score(items.get(i).prompt(), items.get(i).response()), 1e-5f);
                Verdict v = m.verdict(items.get(i).prompt(), items.get(i).response());
                assertEquals(v.cost() > 0, v.unsafe());
                assertEquals(v.unsafe() ? "UNSAFE" : "SAFE", v.label());
            }
        }
        var cm = GptNeoCostModel.forInference(TrainSetup.loadBase(BASE), ADAPTER);
        CostInputs in = new CostInputs(TrainSetup.tokenizer(BASE), 96);
        CostInputs.Batch b = CostInputs.pad(
                items.stream().map(p -> in.encode(p.prompt(), p.response())).toList());
        try (var off = GradMode.off()) {
            assertArrayEquals(
                    cm.costs(b.ids(), b.mask()).data().castTo(DataType.FLOAT).toFloatVector(), got, 0f);
        }
        // the model's positions cap the length
        try (SafetyModel m = SafetyModel.load(BASE, ADAPTER)) {
            assertEquals(128, m.maxLength());
        }
    }

    /** Several threads scoring the same pairs (batches and single pairs, interleaved) get the sequential costs. */
    @Test
    void concurrentScoringEqualsSequential() throws Exception {
        List<PromptResponse> items = pairs(4);
        try (SafetyModel m = SafetyModel.load(BASE, ADAPTER)) {
            float[] batch = m.score(items);
            float[] single = new float[items.size()];
            for (int i = 0; i < single.length; i++)
                single[i] = m.score(items.get(i).prompt(), items.get(i).response());
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<float[][]>> fs = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    fs.add(pool.submit(() -> {
                        float[] s = new float[items.size()];
                        for (int i = 0; i < s.length; i++)
                            s[i] = m.score(items.get(i).prompt(), items.get(i).response());
                        return new float[][] {m.score(items), s, m.score(items)};
                    }));
                }
                for (Future<float[][]> f : fs) {
                    float[][] r = f.get();
                    assertArrayEquals(batch, r[0], 0f);
                    assertArrayEquals(single, r[1], 0f);
                    assertArrayEquals(batch, r[2], 0f);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void loadFindsTheTrainedModelOrSaysWhatIsMissing() throws Exception {
        GptNeoException e = assertThrows(GptNeoException.class, () -> SafetyModel.load(BASE));
        assertTrue(e.getMessage().contains("score.weight"), e.getMessage());
        e = assertThrows(GptNeoException.class, () -> SafetyModel.load(dir));
        assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("config.json"), e.getMessage());
        // a PEFT adapter without base_model_name_or_path
        Path a = dir.resolve("adapter");
        Files.createDirectories(a);
        Files.writeString(a.resolve("adapter_config.json"), "{\"peft_type\": \"LORA\"}");
        e = assertThrows(GptNeoException.class, () -> SafetyModel.load(dir));
        assertTrue(e.getMessage().contains("base_model_name_or_path"), e.getMessage());
    }

    @Test
    void closedModelAndNonFiniteCostsThrow() throws Exception {
        SafetyModel m = SafetyModel.load(BASE, ADAPTER);
        m.close();
        assertThrows(IllegalStateException.class, () -> m.score("a", "b"));
        assertThrows(IllegalStateException.class, () -> Verdict.of(Float.NaN));
        assertFalse(Verdict.of(0f).unsafe());
        assertTrue(Verdict.of(1e-6f).unsafe());
    }
}
