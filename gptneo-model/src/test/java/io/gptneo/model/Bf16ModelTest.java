package io.gptneo.model;

import static io.gptneo.model.Fixture.assertClose;
import static io.gptneo.model.Fixture.ints;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.SharedData;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@code --precision bf16} on the fixtures: the block weights held in bf16, everything else fp32. The documented bf16
 * tolerance, against the float64 oracle (fp32 itself is within 1e-4 elementwise): for hidden states after ln_f, last
 * logits and costs, RMS error ≤ {@link #RMS_TOL} of the oracle's RMS and every element within {@link #MAX_TOL} of the
 * oracle's largest magnitude; the LM loss within {@link #LOSS_TOL} relative. Why these: bf16 keeps 8 significant
 * bits, so each rounded operand is off by up to 2^-9 (0.2%); through the tiny fixture's 4 blocks that compounds to
 * about 1% RMS (measured: hidden 1.1%, logits 1.0%, costs 1.0%; largest element errors 1.6%, 1.3%, 1.3% of the
 * largest magnitude; LM loss 14.9795 vs 14.9765), the same order as PyTorch's bf16 autocast.
 */
class Bf16ModelTest {
    static final double RMS_TOL = 2.5e-2;
    static final double MAX_TOL = 4e-2;
    static final double LOSS_TOL = 1e-2;

    static void assertBf16Close(String what, INDArray expected, INDArray actual) {
        INDArray e = expected.castTo(DataType.DOUBLE),
                d = e.sub(actual.castTo(DataType.DOUBLE).reshape(e.shape()));
        double rms = d.norm2Number().doubleValue() / e.norm2Number().doubleValue();
        double max = d.amaxNumber().doubleValue() / e.amaxNumber().doubleValue();
        System.out.printf("bf16 %s: RMS error %.4f, largest error %.4f of max |oracle|%n", what, rms, max);
        assertTrue(rms <= RMS_TOL, what + ": RMS error " + rms + " > " + RMS_TOL);
        assertTrue(max <= MAX_TOL, what + ": largest error " + max + " of max |oracle| > " + MAX_TOL);
    }

    @Test
    void tinyFixtureInBf16IsWithinTheDocumentedTolerance() throws Exception {
        Fixture f = new Fixture("gptneo-tiny", "gptneo-tiny");
        GptNeoModel m = GptNeoModel.load(f.modelDir, DataType.FLOAT);
        m.holdBaseInBf16();
        assertTrue(m.bf16Base());
        for (Linear l : m.linears().values())
            assertEquals(DataType.BFLOAT16, l.weight().dtype(), l.name());
        assertEquals(DataType.FLOAT, m.lmHeadWeight().dtype(), "embeddings / LM head stay fp32");
        int[] ids = ints(f.expected.get("single").get("ids"));
        int t = ids.length;
        try (var off = GradMode.off()) {
            Tensor hidden = m.forward(new int[][] {ids}, null, null);
            assertBf16Close(
                    "single.hidden", f.array("single.hidden"), hidden.data().get(NDArrayIndex.point(0)));
            INDArray last3 = m.logits(hidden)
                    .data()
                    .get(NDArrayIndex.point(0), NDArrayIndex.interval(t - 3, t), NDArrayIndex.all());
            assertBf16Close("single.logits_last3", f.array("single.logits_last3"), last3);
            double loss = m.lmLoss(new int[][] {ids}, null).item();
            assertClose("bf16 lm_loss", f.expected.get("single").get("lm_loss").asDouble(), loss, LOSS_TOL);
            System.out.printf(
                    "bf16 tiny fixture: lm_loss %.6f vs oracle %.6f%n",
                    loss, f.expected.get("single").get("lm_loss").asDouble());
        }
    }

    @Test
    void costsInBf16StayCloseToFp32AndTrainableBasesAreRefused() throws Exception {
        CostModel fp32 = CostModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
        CostModel bf16 = CostModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
        bf16.model().holdBaseInBf16();
        int[][] ids = {{464, 3290, 318, 257, 1310, 3290, 13, 50256}, {15496, 11, 995, 13, 50256, 50256, 50256, 50256}};
        int[][] mask = {{1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 0, 0, 0, 0}};
        try (var off = GradMode.off()) {
            assertBf16Close(
                    "costs (vs fp32)",
                    fp32.costs(ids, mask).data(),
                    bf16.costs(ids, mask).data());
        }
        GptNeoModel trainable = GptNeoModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
        trainable.setTrainable(true);
        IllegalStateException e = assertThrows(IllegalStateException.class, trainable::holdBaseInBf16);
        assertTrue(e.getMessage().contains("fp32"), e.getMessage());
    }
}
