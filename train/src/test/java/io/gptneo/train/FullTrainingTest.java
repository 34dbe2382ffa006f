package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.model.CostModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.train.optim.AdamW;
import io.gptneo.train.optim.GradClip;
import io.gptneo.train.optim.ParamGroup;
import io.gptneo.weights.SharedData;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Full-parameter training of the cost model (every weight trainable), in float64 so finite differences are sharp. */
class FullTrainingTest {
    @BeforeAll
    static void data() throws Exception {
        LoraTrajectoryTest.load();
    }

    @Test
    void everyWeightGetsTheFiniteDifferenceGradientAndAdamWLowersTheLoss() throws Exception {
        CostModel cm = CostModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.DOUBLE);
        cm.model().setTrainable(true);
        cm.head().setTrainable(true);
        Map<String, Tensor> params = cm.parameters();
        Tensor loss = LoraTrajectoryTest.batchLoss(cm, 0, 2);
        loss.backward();
        for (var e : params.entrySet()) {
            assertNotNull(e.getValue().grad(), e.getKey() + " has no gradient");
            assertArrayEquals(e.getValue().shape(), e.getValue().grad().shape(), e.getKey());
        }
        // spot checks by central differences: a LayerNorm weight, an MLP weight, a position embedding, the head
        record Probe(String name, long index) {}
        List<Probe> probes = List.of(
                new Probe("transformer.h.1.ln_1.weight", 3),
                new Probe("transformer.h.2.mlp.c_fc.weight", 37),
                new Probe("transformer.wpe.weight", 2 * 32 + 5),
                new Probe("transformer.h.3.attn.attention.k_proj.weight", 100),
                new Probe("score.weight", 7));
        for (Probe p : probes) {
            INDArray w = params.get(p.name()).data();
            double analytic = params.get(p.name()).grad().getDouble(p.index());
            double orig = w.getDouble(p.index()), h = 1e-5;
            double up, down;
            try (var off = GradMode.off()) {
                w.putScalar(p.index(), orig + h);
                up = LoraTrajectoryTest.batchLoss(cm, 0, 2).item();
                w.putScalar(p.index(), orig - h);
                down = LoraTrajectoryTest.batchLoss(cm, 0, 2).item();
                w.putScalar(p.index(), orig);
            }
            double numeric = (up - down) / (2 * h);
            assertEquals(numeric, analytic, 1e-6 + 1e-5 * Math.abs(numeric), p.name() + "[" + p.index() + "]");
        }
        // biases and LayerNorm weights go to the no-decay group
        List<ParamGroup> groups = ParamGroup.decayAndNoDecay(params, 0.01);
        assertTrue(groups.get(1).params().containsKey("transformer.ln_f.weight"));
        assertTrue(groups.get(1).params().containsKey("transformer.h.0.attn.attention.out_proj.bias"));
        assertTrue(groups.get(0).params().containsKey("transformer.h.0.attn.attention.q_proj.weight"));
        assertEquals(
                params.size(),
                groups.get(0).params().size() + groups.get(1).params().size());
        AdamW opt = AdamW.torch(groups);
        double first = loss.item();
        List<Double> losses = new ArrayList<>();
        for (int s = 0; s < 4; s++) {
            if (s > 0) {
                Tensor l = LoraTrajectoryTest.batchLoss(cm, 0, 2);
                losses.add(l.item());
                l.backward();
            }
            GradClip.clipGlobalNorm(opt.parameters(), 1.0);
            opt.step(1e-3);
            opt.zeroGrad();
        }
        assertTrue(losses.get(losses.size() - 1) < first - 0.05, "loss " + first + " -> " + losses);
    }
}
