package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.tensor.GradCheck;
import io.gptneo.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class CostLossTest {
    static double logSigmoid(double x) {
        return -Math.log1p(Math.exp(-x));
    }

    @Test
    void pairLossValueByHand() {
        double[] cs = {0.3, -1.2, 2.0}, cu = {1.5, -0.4, -0.7};
        boolean[] ss = {true, true, false}, us = {false, true, false};
        double expect = 0;
        for (int i = 0; i < 3; i++) {
            double sSafer = ss[i] ? -1 : 1, sUnsafer = us[i] ? -1 : 1;
            expect += -logSigmoid(cu[i] - cs[i]) - logSigmoid(sSafer * cs[i]) - logSigmoid(sUnsafer * cu[i]);
        }
        expect /= 3;
        Tensor loss = CostLoss.pairLoss(
                Tensor.constant(Nd4j.createFromArray(cs)), Tensor.constant(Nd4j.createFromArray(cu)), ss, us);
        assertEquals(expect, loss.item(), 1e-14);
        double sq = 0;
        for (int i = 0; i < 3; i++) sq += cs[i] * cs[i] + cu[i] * cu[i];
        Tensor reg = CostLoss.pairLoss(
                Tensor.constant(Nd4j.createFromArray(cs)), Tensor.constant(Nd4j.createFromArray(cu)), ss, us, 0.01);
        assertEquals(expect + 0.01 * sq / 6, reg.item(), 1e-14);
    }

    @Test
    void signLossValueByHandAndStableForLargeCosts() {
        double[] c = {0.5, -2, 800};
        boolean[] safe = {true, false, false};
        double expect = (-logSigmoid(-0.5) - logSigmoid(-2) - logSigmoid(800)) / 3;
        assertEquals(
                expect,
                CostLoss.signLoss(Tensor.constant(Nd4j.createFromArray(c)), safe)
                        .item(),
                1e-14);
        // a confidently wrong cost: −log σ(−800) = 800 exactly in float64, no overflow
        assertEquals(
                800.0,
                CostLoss.signLoss(Tensor.constant(Nd4j.createFromArray(800.0)), new boolean[] {true})
                        .item(),
                1e-9);
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        Tensor cs = Tensor.parameter(Nd4j.createFromArray(0.3, -1.2, 2.0, 0.1));
        Tensor cu = Tensor.parameter(Nd4j.createFromArray(1.5, -0.4, -0.7, 0.1));
        boolean[] ss = {true, true, false, true}, us = {false, true, false, false};
        double err = GradCheck.maxRelativeError(
                in -> CostLoss.pairLoss(in[0], in[1], ss, us, 0.05), new Tensor[] {cs, cu}, 1e-6, 3);
        assertTrue(err < 1e-8, "pair loss relative error " + err);
        double err2 = GradCheck.maxRelativeError(in -> CostLoss.signLoss(in[0], ss, 0.1), new Tensor[] {cs}, 1e-6, 4);
        assertTrue(err2 < 1e-8, "sign loss relative error " + err2);
    }

    @Test
    void shapeAndLabelMismatchesAreRejected() {
        Tensor c = Tensor.constant(Nd4j.zeros(DataType.DOUBLE, 2));
        assertThrows(IllegalArgumentException.class, () -> CostLoss.pairLoss(c, c, new boolean[3], new boolean[3]));
        assertThrows(
                IllegalArgumentException.class,
                () -> CostLoss.signLoss(Tensor.constant(Nd4j.zeros(DataType.DOUBLE, 2, 1)), new boolean[2]));
    }
}
