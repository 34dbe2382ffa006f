package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.lora.LoraLinear;
import io.gptneo.lora.LoraModel;
import io.gptneo.lora.PeftAdapter;
import io.gptneo.model.CostModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** forInference folds LoRA into float32 base weights: the costs of the unmerged side paths, to float32 rounding. */
class ScoringMergeTest {
    static final Path BASE = SharedData.resolve("fixtures/gptneo-tiny");
    static final Path ADAPTER = SharedData.resolve("fixtures/lora-tiny/adapter_init");

    @Test
    void mergedScoringGivesTheCostsOfTheSidePaths() throws Exception {
        int[][] ids = {{464, 3290, 373, 257, 1332, 13, 50256, 50256}, {40, 588, 257, 2068, 286, 262, 3290, 13}};
        int[][] mask = {{1, 1, 1, 1, 1, 1, 1, 0}, {1, 1, 1, 1, 1, 1, 1, 1}};

        CostModel plain = TrainSetup.loadBase(BASE);
        LoraModel sides = PeftAdapter.load(ADAPTER, plain);
        sides.setTraining(false);
        double update = 0;
        for (LoraLinear l : sides.adapters())
            update += l.deltaWeight().norm2Number().doubleValue();
        assertTrue(update > 1e-3, "the fixture's adapter changes the weights, so merging it is visible: " + update);

        GptNeoCostModel merged = GptNeoCostModel.forInference(TrainSetup.loadBase(BASE), ADAPTER);
        assertTrue(merged.lora().isMerged(), "float32 base weights: merged for scoring");
        for (LoraLinear l : merged.lora().adapters())
            assertNull(l.base().adapter(), l.base().name() + " runs without its side path");
        try (var off = GradMode.off()) {
            float[] want = plain.costs(ids, mask).data().toFloatVector();
            float[] got = merged.costs(ids, mask).data().toFloatVector();
            for (int i = 0; i < want.length; i++)
                assertEquals(want[i], got[i], 1e-5 * (1 + Math.abs(want[i])), "cost " + i);
        }
        assertThrows(IllegalStateException.class, () -> merged.setTraining(true), "a merged model is not trained");

        GptNeoCostModel bf16 = GptNeoCostModel.forInference(TrainSetup.loadBase(BASE, "bf16"), ADAPTER);
        assertFalse(bf16.lora().isMerged(), "bf16 base weights keep LoRA as a float32 side path");
    }
}
