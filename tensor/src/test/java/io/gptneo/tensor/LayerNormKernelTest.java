package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The float path of the LayerNorm kernel (unrolled row sums, float dx) against the double path, which the
 * finite-difference check in {@link OpsGradCheckTest} covers: several parallel row blocks, a width that is not a
 * multiple of the unrolling, a large mean (cancellation in the variance), and the gradients asked for one at a time.
 */
class LayerNormKernelTest {
    @Test void floatMatchesDouble() {
        for (int c : new int[] {768, 13}) {
            int n = 300;                                   // 768 wide: 42 rows per block, 8 blocks
            INDArray xd = Rand.normal(DataType.DOUBLE, 1, 2.0, n, c).addi(50.0), gd = Rand.normal(DataType.DOUBLE, 2, 1.0, n, c);
            INDArray gamd = Rand.normal(DataType.DOUBLE, 3, 1.0, c), betd = Rand.normal(DataType.DOUBLE, 4, 1.0, c);
            INDArray xf = xd.castTo(DataType.FLOAT), gf = gd.castTo(DataType.FLOAT), gamf = gamd.castTo(DataType.FLOAT), betf = betd.castTo(DataType.FLOAT);
            LayerNormKernel.Forward fd = LayerNormKernel.forward(xd, gamd, betd, 1e-5), ff = LayerNormKernel.forward(xf, gamf, betf, 1e-5);
            assertClose(fd.y(), ff.y(), "y, C=" + c, 2e-5);
            LayerNormKernel.Grads rd = LayerNormKernel.backward(xd, gd, gamd, fd, true, true, true);
            LayerNormKernel.Grads rf = LayerNormKernel.backward(xf, gf, gamf, ff, true, true, true);
            assertClose(rd.dx(), rf.dx(), "dx, C=" + c, 1e-4);
            assertClose(rd.dGamma(), rf.dGamma(), "dgamma, C=" + c, 1e-4);
            assertClose(rd.dBeta(), rf.dBeta(), "dbeta, C=" + c, 1e-5);
            LayerNormKernel.Grads only = LayerNormKernel.backward(xf, gf, gamf, ff, false, true, false);
            assertNull(only.dx());
            assertNull(only.dBeta());
            assertClose(rd.dGamma(), only.dGamma(), "dgamma alone, C=" + c, 1e-4);
        }
    }

    private static void assertClose(INDArray want, INDArray got, String what, double tol) {
        double[] w = want.castTo(DataType.DOUBLE).dup('c').data().asDouble(), g = got.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double worst = 0;
        for (int i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i] - g[i]) / Math.max(1, Math.abs(w[i])));
        assertTrue(worst < tol, what + ": float vs double differ by " + worst);
    }
}
