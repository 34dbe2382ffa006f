package io.gptneo.lora;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.model.CostModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** lora-tiny: adapter_init loaded onto gptneo-tiny reproduces the fixture's costs and LM logits. */
class LoraFixtureTest {
    @TempDir
    Path tmp;

    static final Path LORA = SharedData.resolve("fixtures/lora-tiny");
    static final Path TINY = SharedData.resolve("fixtures/gptneo-tiny");

    static int[][] ints(JsonNode a) {
        int[][] r = new int[a.size()][];
        for (int i = 0; i < r.length; i++) {
            r[i] = new int[a.get(i).size()];
            for (int j = 0; j < r[i].length; j++) r[i][j] = a.get(i).get(j).asInt();
        }
        return r;
    }

    static int[][] ones(int[][] ids) {
        int[][] m = new int[ids.length][];
        for (int i = 0; i < m.length; i++) {
            m[i] = new int[ids[i].length];
            java.util.Arrays.fill(m[i], 1);
        }
        return m;
    }

    /** max |a − b| / max(1, max |b|): absolute near zero, relative for large values (the fixture's 1e-4 rule). */
    static double err(INDArray a, INDArray b) {
        INDArray x = a.castTo(DataType.DOUBLE).reshape(b.length()),
                y = b.castTo(DataType.DOUBLE).reshape(b.length());
        return x.sub(y).amaxNumber().doubleValue()
                / Math.max(1.0, y.amaxNumber().doubleValue());
    }

    @Test
    void costsAndLogitsWithAdapterMatchTheFixtureMergedOrNot() throws Exception {
        JsonNode json =
                new ObjectMapper().readTree(LORA.resolve("expected.json").toFile());
        INDArray costsWant, logitsWant;
        try (SafeTensorsFile st = SafeTensorsFile.open(LORA.resolve("expected.safetensors"))) {
            costsWant = st.load("costs", DataType.FLOAT);
            logitsWant = st.load("lm_logits_last_with_adapter", DataType.FLOAT);
        }
        CostModel cm = CostModel.load(TINY, DataType.FLOAT);
        Map<String, INDArray> w0 = new HashMap<>();
        cm.model().parameters().forEach((k, v) -> w0.put(k, v.data().dup()));
        INDArray costsBase;
        int[][] ids = ints(json.get("cost_token_ids"));
        try (var off = GradMode.off()) {
            costsBase = cm.costs(ids, ones(ids)).data().dup();
        }
        LoraModel lora = PeftAdapter.load(LORA.resolve("adapter_init"), cm);
        // 4 layers × {q, v} × (A 4·32 + B 32·4) + score 32; all = body + score + LoRA
        long all = cm.model().parameterCount() + 32 + 2048;
        assertEquals(
                String.format(
                        java.util.Locale.ROOT,
                        "trainable params: 2,080 || all params: %,d || trainable%%: %.4f",
                        all,
                        208000.0 / all),
                lora.trainableSummary());
        int[][] lm = new int[1][json.get("lm_ids").size()];
        for (int i = 0; i < lm[0].length; i++)
            lm[0][i] = json.get("lm_ids").get(i).asInt();
        try (var off = GradMode.off()) {
            INDArray costs = cm.costs(ids, ones(ids)).data();
            assertTrue(err(costs, costsWant) < 1e-4, "costs " + costs + " vs " + costsWant);
            assertTrue(err(costsBase, costsWant) > 1e-3, "the adapter and score head change the costs");
            INDArray logits =
                    cm.model().lastLogits(cm.model().forward(lm, null, null)).data();
            double e = err(logits, logitsWant);
            assertTrue(e < 1e-4, "unmerged logits error " + e);

            lora.merge();
            assertTrue(lora.isMerged());
            INDArray merged =
                    cm.model().lastLogits(cm.model().forward(lm, null, null)).data();
            assertTrue(err(merged, logitsWant) < 1e-4, "merged logits error " + err(merged, logitsWant));
            assertTrue(err(cm.costs(ids, ones(ids)).data(), costsWant) < 1e-4);
            lora.unmerge();
        }
        double worst = 0;
        for (var e : cm.model().parameters().entrySet()) {
            worst = Math.max(
                    worst,
                    e.getValue().data().sub(w0.get(e.getKey())).amaxNumber().doubleValue());
        }
        assertTrue(worst < 1e-6, "unmerge left W off by " + worst);
        // the base stays frozen: no base tensor needs a gradient
        for (var e : cm.model().parameters().entrySet())
            assertFalse(e.getValue().requiresGrad(), e.getKey());
    }

    @Test
    void savedAdapterReloadsOntoAFreshModelWithTheSameCosts() throws Exception {
        JsonNode json =
                new ObjectMapper().readTree(LORA.resolve("expected.json").toFile());
        int[][] ids = ints(json.get("cost_token_ids"));
        CostModel a = CostModel.load(TINY, DataType.FLOAT);
        LoraModel la = PeftAdapter.load(LORA.resolve("adapter_init"), a);
        // perturb so a stale copy could not pass
        for (Tensor t : la.trainableParameters()) t.setData(t.data().mul(1.5));
        Path out = tmp.resolve("adapter");
        PeftAdapter.save(out, la, a.head(), "gptneo-tiny");
        CostModel b = CostModel.load(TINY, DataType.FLOAT);
        LoraModel lb = PeftAdapter.load(out, b);
        assertEquals(la.namedTrainable().keySet(), lb.namedTrainable().keySet());
        try (var off = GradMode.off()) {
            assertEquals(a.costs(ids, ones(ids)).data(), b.costs(ids, ones(ids)).data());
        }
    }
}
