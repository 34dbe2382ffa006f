package io.gptneo.lora;

import static io.gptneo.lora.LastTokenCostTest.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.model.CostModel;
import io.gptneo.model.GenerationConfig;
import io.gptneo.model.GptNeoModel;
import io.gptneo.model.KvCache;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.AttentionType;
import io.gptneo.weights.GptNeoConfig;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * q, k and v as one product ({@code GptNeoModel.setFusedQkv}, the default) against three products: same LM loss,
 * costs (full and last-token path), gradients of every trainable tensor, KV-cached generation; LoRA on q/v (and k),
 * LoRA dropout, checkpointing, full training (which falls back to three products), bf16 base, and a stacked weight
 * that must follow a LoRA merge or in-place training.
 */
class FusedQkvTest {
    private static final int[][] IDS = {{5, 9, 13, 2, 40, 7, 21, 8, 30, 4}, {3, 11, 60, 1, 1, 1, 1, 1, 1, 1}};
    private static final int[][] MASK = {{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 0, 0, 0, 0, 0, 0, 0}};

    @ParameterizedTest(name = "{0}, lora dropout {1}, checkpointing {2}, targets {3}, full training {4}, bf16 {5}")
    @CsvSource({
        "FLOAT, 0, false, q_proj v_proj, false, false",
        "FLOAT, 0.2, false, q_proj v_proj, false, false",
        "FLOAT, 0.2, true, q_proj k_proj v_proj c_fc, false, false",
        "FLOAT, 0, true, q_proj v_proj, true, false",
        "FLOAT, 0, false, q_proj v_proj out_proj, false, true",
        "FLOAT, 0.1, false, q_proj v_proj, false, true",
        "DOUBLE, 0.2, false, q_proj v_proj, false, false",
        "DOUBLE, 0, true, q_proj k_proj v_proj, false, false"
    })
    void fusedEqualsThreeProducts(
            DataType dt, double dropout, boolean checkpointing, String targets, boolean full, boolean bf16) {
        GptNeoModel body = GptNeoModel.random(
                GptNeoConfig.of(64, 32, 32, 2, 4, 4, AttentionType.GLOBAL, AttentionType.LOCAL), 3, dt);
        if (bf16) body.holdBaseInBf16();
        body.setGradientCheckpointing(checkpointing);
        CostModel cm = new CostModel(body, ScoreHead.normal(1, 32, 5, dt));
        LoraModel lora = LoraModel.inject(cm, LoraConfig.of(4, 8, dropout, List.of(targets.split(" "))), 7);
        LastTokenCostTest.randomB(lora, dt);
        if (full) body.setTrainable(true);
        lora.setTraining(dropout > 0);
        lora.setStepSeed(123);

        Map<String, Tensor> trainable = new LinkedHashMap<>(lora.namedTrainable());
        if (full) body.parameters().forEach(trainable::put);
        Map<String, INDArray> fused = run(cm, body, trainable);
        body.setFusedQkv(false);
        Map<String, INDArray> three = run(cm, body, trainable);
        assertEquals(three.keySet(), fused.keySet());
        double tol = dt == DataType.DOUBLE ? 1e-11 : bf16 ? 1e-3 : 2e-5;
        for (String k : three.keySet()) assertClose(k, three.get(k), fused.get(k), tol);
    }

    /** Loss = LM loss (full forward) + Σ wᵢ·costᵢ (last-token path); returns its parts and every gradient. */
    private static Map<String, INDArray> run(CostModel cm, GptNeoModel body, Map<String, Tensor> trainable) {
        for (Tensor p : trainable.values()) p.zeroGrad();
        Tensor lm = body.lmLoss(IDS, MASK);
        Tensor costs = cm.costs(IDS, MASK), full = cm.costsFull(IDS, MASK);
        Tensor w = Tensor.constant(Rand.normal(body.dtype(), 1, 1.0, 2));
        Ops.add(Ops.add(lm, Ops.sum(Ops.mul(costs, w))), Ops.sum(Ops.mul(full, w)))
                .backward();
        Map<String, INDArray> out = new LinkedHashMap<>();
        out.put("lm loss", lm.data().dup());
        out.put("costs", costs.data().dup());
        out.put("costs (full path)", full.data().dup());
        trainable.forEach((k, v) -> out.put("grad " + k, v.grad().dup()));
        try (var off = GradMode.off()) { // inference: workspaces and the KV cache
            out.put("costs without tape", cm.costs(IDS, MASK).data().dup());
            int[][] prompt = {{5, 9, 13, 2}, {3, 11, 60, 1}};
            KvCache cache = body.newCache(2, 6);
            INDArray prefill = body.forward(prompt, null, null, cache).data().dup();
            int[][] next = {{7, 8}, {9, 10}};
            INDArray step = body.forward(next, new int[][] {{1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 1}}, null, cache)
                    .data()
                    .dup();
            out.put("prefill hidden", prefill);
            out.put("decode hidden", step);
            int[] tokens = body.generate(prompt, GenerationConfig.greedy(4)).first();
            out.put("greedy tokens", Nd4jInts.of(tokens, body.dtype()));
        }
        return out;
    }

    @Test
    void stackedWeightFollowsMergeAndInPlaceTraining() {
        GptNeoModel body = GptNeoModel.random(GptNeoConfig.of(64, 32, 32, 2, 4, 4), 3, DataType.FLOAT);
        LoraModel lora = LoraModel.inject(body, LoraConfig.of(4, 8, 0, List.of("q_proj", "v_proj")), 7);
        LastTokenCostTest.randomB(lora, DataType.FLOAT);
        lora.setTraining(false);
        INDArray adapted = hidden(body); // builds the stacked weights
        lora.merge(); // replaces q's and v's arrays: the stacked copy must follow
        assertClose("merged vs adapted", adapted, hidden(body), 2e-5);
        lora.unmerge();

        body.setTrainable(
                true); // an optimizer changes the arrays in place (not by a constant: LayerNorm's zero-mean output
        // would hide it), then the base is frozen again
        for (var e : body.linears().entrySet())
            if (e.getKey().endsWith("k_proj"))
                e.getValue()
                        .weight()
                        .data()
                        .addi(Rand.normal(
                                DataType.FLOAT, 9, 0.05, e.getValue().weight().shape()));
        body.setTrainable(false);
        INDArray fused = hidden(body);
        body.setFusedQkv(false);
        assertClose("after in-place training", hidden(body), fused, 2e-5);
        assertTrue(fused.sub(adapted).amaxNumber().doubleValue() > 1e-3, "the k change shows");
    }

    private static INDArray hidden(GptNeoModel body) {
        try (var off = GradMode.off()) {
            return body.forward(IDS, MASK, null).data().dup();
        }
    }

    private static final class Nd4jInts {
        static INDArray of(int[] v, DataType dt) {
            return org.nd4j.linalg.factory.Nd4j.createFromArray(v).castTo(dt).addi(1); // +1: token 0 is not "zero"
        }
    }
}
