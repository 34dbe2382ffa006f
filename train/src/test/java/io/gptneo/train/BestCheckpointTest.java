package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.gptneo.TrainingListener;
import io.gptneo.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

class BestCheckpointTest {
    @Test
    void restoresTheWeightsOfTheLowestValidationLossEarliestOnATie() {
        Tensor w = Tensor.of(Nd4j.createFromArray(0.0, 0.0), true);
        Map<String, Tensor> params = new LinkedHashMap<>(Map.of("w", w));
        List<Long> seen = new ArrayList<>();
        BestCheckpoint best = new BestCheckpoint(params, new TrainingListener() {
            @Override
            public void onStep(io.gptneo.TrainingStep s) {}

            @Override
            public void onValidation(long step, Map<String, Object> m) {
                seen.add(step);
            }
        });
        assertEquals(-1, best.restore(), "no pass yet: nothing restored");
        double[] losses = {0.9, 0.5, 0.7, 0.5};
        for (int i = 0; i < losses.length; i++) {
            w.setData(Nd4j.createFromArray(i + 1.0, -(i + 1.0))); // an optimizer step replaces the array
            best.onValidation(10L * (i + 1), Map.of("loss", losses[i], "accuracy", 0.5));
        }
        assertEquals(List.of(10L, 20L, 30L, 40L), seen, "every pass reaches the inner listener");
        assertEquals(20, best.restore());
        assertEquals(0.5, best.bestLoss());
        assertEquals(2.0, w.data().getDouble(0));
        assertEquals(-2.0, w.data().getDouble(1));
        assertThrows(IllegalArgumentException.class, () -> best.onValidation(50, Map.of("accuracy", 0.5)));
    }
}
