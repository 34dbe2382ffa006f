package io.gptneo.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.model.CostModel;
import io.gptneo.model.GptNeoModel;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.GptNeoConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * LoRA on a bf16 base: adapters and score head stay fp32 and trainable, and the costs and every LoRA/score gradient
 * are within the bf16 tolerance of the fp32 model's (RMS error ≤ 2.5% of the fp32 values' RMS, as Bf16ModelTest).
 */
class Bf16LoraTest {
    @Test
    void loraGradientsOnABf16BaseFollowTheFp32Ones() {
        Map<String, INDArray> fp32 = grads(false), bf16 = grads(true);
        assertEquals(fp32.keySet(), bf16.keySet());
        for (String k : fp32.keySet()) {
            INDArray e = fp32.get(k), d = e.sub(bf16.get(k));
            double rms = d.norm2Number().doubleValue() / e.norm2Number().doubleValue();
            System.out.printf("bf16 vs fp32 %s: RMS error %.4f%n", k, rms);
            assertTrue(e.norm2Number().doubleValue() > 0, k + " gradient is zero");
            assertTrue(rms <= 2.5e-2, k + ": RMS error " + rms);
        }
    }

    /** costs (key "costs") and the gradients of Σ w_i·cost_i for every trainable tensor. */
    private static Map<String, INDArray> grads(boolean bf16) {
        GptNeoModel body = GptNeoModel.random(GptNeoConfig.of(64, 32, 32, 2, 4, 4), 3, DataType.FLOAT);
        if (bf16) body.holdBaseInBf16();
        CostModel cm = new CostModel(body, ScoreHead.normal(1, 32, 5, DataType.FLOAT));
        LoraModel lora = LoraModel.inject(cm, LoraConfig.of(4, 8, 0, List.of("q_proj", "v_proj")), 7);
        for (LoraLinear l : lora.adapters()) {
            assertEquals(DataType.FLOAT, l.loraA().dtype());
            l.loraB()
                    .data()
                    .assign(Rand.normal(
                            DataType.FLOAT, 11 + l.index(), 0.1, l.loraB().shape()));
        }
        int[][] ids = {{5, 9, 13, 2, 40, 7, 21, 8}, {3, 11, 60, 1, 1, 1, 1, 1}};
        int[][] mask = {{1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0}};
        Tensor c = cm.costs(ids, mask);
        Ops.sum(Ops.mul(c, Tensor.constant(Rand.normal(DataType.FLOAT, 1, 1.0, 2))))
                .backward();
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("costs", c.data().dup());
        lora.namedTrainable().forEach((k, v) -> out.put(k, v.grad().dup()));
        if (bf16) assertThrows(IllegalStateException.class, lora::merge, "no merge into bf16 weights");
        return out;
    }
}
