package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The float path of the fused gelu (Vector API chunks in parallel, scalar tails) against the double path, which the
 * finite-difference check in {@link OpsGradCheckTest} covers; also on a permuted (non-contiguous) input.
 */
class GeluKernelTest {
    @Test void floatMatchesDoubleForwardAndBackward() {
        // 3 chunks and a ragged tail: 70,003 elements
        INDArray xd = Rand.uniform(DataType.DOUBLE, 3, -6, 6, 7, 10_001), gd = Rand.normal(DataType.DOUBLE, 4, 1.0, 7, 10_001);
        INDArray xf = xd.castTo(DataType.FLOAT), gf = gd.castTo(DataType.FLOAT);
        assertClose(GeluKernel.forward(xd), GeluKernel.forward(xf), "forward");
        assertClose(GeluKernel.backward(xd, gd), GeluKernel.backward(xf, gf), "backward");
        // a transposed view gives the transposed result
        INDArray view = xf.transpose();
        assertClose(GeluKernel.forward(xd).transpose().dup('c'), GeluKernel.forward(view), "forward of a view");
    }

    @Test void knownValues() {
        INDArray x = org.nd4j.linalg.factory.Nd4j.createFromArray(new double[] {-3, -1, 0, 0.5, 2});
        // 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))): the loop, and the literals from Python's math module
        double[] want = new double[5];
        for (int i = 0; i < 5; i++) {
            double v = x.getDouble(i);
            want[i] = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
        }
        assertArrayEquals(want, GeluKernel.forward(x).toDoubleVector(), 1e-15);
        assertArrayEquals(new double[] {-0.0036373920817729943, -0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775},
                GeluKernel.forward(x).toDoubleVector(), 1e-12);
    }

    private static void assertClose(INDArray want, INDArray got, String what) {
        double[] w = want.castTo(DataType.DOUBLE).dup('c').data().asDouble(), g = got.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double worst = 0;
        for (int i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i] - g[i]) / Math.max(1, Math.abs(w[i])));
        assertTrue(worst < 2e-6, what + ": float vs double differ by " + worst);
    }
}
