package io.gptneo.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.model.CostModel;
import io.gptneo.model.GptNeoModel;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.AttentionType;
import io.gptneo.weights.GptNeoConfig;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link CostModel#costs} runs the last block only at each row's last real token; {@link CostModel#costsFull} runs
 * it everywhere. Same costs and same gradients of every LoRA matrix and the score head, for right and left padding,
 * a local (windowed) or global last layer, LoRA dropout in training, and gradient checkpointing.
 */
class LastTokenCostTest {
    private static final int T = 10;
    private static final int[][] SEQS = {{5, 9, 13, 2, 40, 7, 21}, {3, 11, 60}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}};

    @ParameterizedTest(name = "{0}, last layer {1}, {2} padding, lora dropout {3}, checkpointing {4}, targets {5}")
    @CsvSource({
        "FLOAT, LOCAL, right, 0, false, q_proj v_proj c_fc",
        "FLOAT, LOCAL, left, 0, false, q_proj v_proj c_fc",
        "FLOAT, GLOBAL, right, 0, false, q_proj v_proj",
        "FLOAT, GLOBAL, left, 0, true, q_proj v_proj c_proj",
        "FLOAT, LOCAL, right, 0.2, false, q_proj v_proj",
        "FLOAT, LOCAL, left, 0.2, true, q_proj v_proj",
        "FLOAT, LOCAL, left, 0.2, false, q_proj v_proj c_fc", // c_fc's dropout mask: the last block runs in full
        "DOUBLE, LOCAL, left, 0.2, false, q_proj v_proj",
        "DOUBLE, GLOBAL, right, 0, false, q_proj v_proj c_fc"
    })
    void lastTokenPathEqualsFullPath(
            DataType dt,
            AttentionType lastType,
            String side,
            double loraDropout,
            boolean checkpointing,
            String targets) {
        AttentionType first = lastType == AttentionType.LOCAL ? AttentionType.GLOBAL : AttentionType.LOCAL;
        GptNeoConfig cfg = GptNeoConfig.of(64, 32, 32, 2, 4, 4, first, lastType); // window 4 < T: the band matters
        GptNeoModel body = GptNeoModel.random(cfg, 3, dt);
        body.setGradientCheckpointing(checkpointing);
        CostModel cm = new CostModel(body, ScoreHead.normal(1, 32, 5, dt));
        LoraModel lora = LoraModel.inject(cm, LoraConfig.of(4, 8, loraDropout, List.of(targets.split(" "))), 7);
        randomB(lora, dt);
        lora.setTraining(loraDropout > 0);
        lora.setStepSeed(123);

        int[][] ids = new int[SEQS.length][T], mask = new int[SEQS.length][T];
        for (int i = 0; i < SEQS.length; i++) {
            int n = SEQS[i].length, off = side.equals("left") ? T - n : 0;
            Arrays.fill(ids[i], 63);
            System.arraycopy(SEQS[i], 0, ids[i], off, n);
            Arrays.fill(mask[i], off, off + n, 1);
        }
        INDArray weights =
                Nd4j.createFromArray(1.0, -2.0, 0.5).castTo(dt); // loss = Σ w_i · cost_i: distinct gradient per row

        Run full = run(cm::costsFull, ids, mask, weights, lora);
        Run fast = run(cm::costs, ids, mask, weights, lora);
        double tol = dt == DataType.FLOAT ? 2e-5 : 1e-11;
        assertClose("costs", full.costs, fast.costs, tol);
        assertEquals(full.grads.keySet(), fast.grads.keySet());
        assertEquals(
                2 * 2 * targets.split(" ").length + 1,
                full.grads.size(),
                "grads of every lora_A/B and the score head: " + full.grads.keySet());
        for (String name : full.grads.keySet())
            assertClose("grad " + name, full.grads.get(name), fast.grads.get(name), tol);

        try (var off = GradMode.off()) { // inference (the workspace path) agrees too
            assertClose("costs without tape", full.costs, cm.costs(ids, mask).data(), tol);
        }
    }

    /** Random B matrices (B = 0, LoRA's init, would hide A's gradient). */
    static void randomB(LoraModel lora, DataType dt) {
        for (LoraLinear l : lora.adapters())
            l.loraB()
                    .data()
                    .assign(Rand.normal(dt, 11 + l.index(), 0.1, l.loraB().shape()));
    }

    private record Run(INDArray costs, Map<String, INDArray> grads) {}

    private static Run run(
            BiFunction<int[][], int[][], Tensor> costs, int[][] ids, int[][] mask, INDArray weights, LoraModel lora) {
        for (Tensor p : lora.trainableParameters()) p.zeroGrad();
        Tensor c = costs.apply(ids, mask);
        assertArrayEquals(new long[] {ids.length}, c.shape());
        Ops.sum(Ops.mul(c, Tensor.constant(weights))).backward();
        Map<String, INDArray> grads = new LinkedHashMap<>();
        lora.namedTrainable().forEach((k, v) -> grads.put(k, v.grad().dup()));
        return new Run(c.data().dup(), grads);
    }

    /** Max |a − b| ≤ tol · max(1, max |a|), and not all zero (a gradient that vanished would pass trivially). */
    static void assertClose(String what, INDArray expected, INDArray actual, double tol) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double scale = Math.max(1, expected.amaxNumber().doubleValue());
        double diff = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(diff <= tol * scale, what + ": max diff " + diff + " > " + tol * scale);
        assertTrue(expected.amaxNumber().doubleValue() > 0, what + " is all zero");
    }
}
