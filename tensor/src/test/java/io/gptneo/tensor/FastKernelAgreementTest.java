package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Every fast float32 kernel against its reference ({@link Reference}, in float64, which the finite-difference checks
 * in {@link OpsGradCheckTest} cover), forward and backward, at float32 tolerance: sizes with ragged vector tails and
 * several parallel blocks, views (non-contiguous inputs), and the gradients asked for one at a time.
 */
class FastKernelAgreementTest {
    private final Kernels fast = VectorApi.PRESENT ? new Kernels(true, true) : null, ref = Kernels.reference();

    @BeforeEach
    void needsVectorApi() {
        assumeTrue(VectorApi.PRESENT, "no jdk.incubator.vector: only the reference runs");
    }

    @Test
    void gelu() {
        // 3 chunks and a ragged tail: 70,003 elements
        INDArray xd = Rand.uniform(DataType.DOUBLE, 3, -6, 6, 7, 10_001),
                gd = Rand.normal(DataType.DOUBLE, 4, 1.0, 7, 10_001);
        INDArray xf = xd.castTo(DataType.FLOAT), gf = gd.castTo(DataType.FLOAT);
        assertClose(ref.gelu(xd), fast.gelu(xf), "forward", 2e-6);
        assertClose(ref.geluBackward(xd, gd), fast.geluBackward(xf, gf), "backward", 2e-6);
        assertClose(ref.gelu(xd).transpose().dup('c'), fast.gelu(xf.transpose()), "forward of a view", 2e-6);
        assertClose(ref.gelu(xf), fast.gelu(xf), "forward, reference in float32", 2e-6);
    }

    @Test
    void geluReferenceKnownValues() {
        INDArray x = Nd4j.createFromArray(new double[] {-3, -1, 0, 0.5, 2});
        // 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) from Python's math module
        assertArrayEquals(
                new double[] {-0.0036373920817729943, -0.15880800939172324, 0.0, 0.34571400982514394, 1.954597694087775
                },
                ref.gelu(x).toDoubleVector(),
                1e-12);
    }

    @Test
    void layerNorm() {
        for (int c : new int[] {768, 13}) {
            int n = 300; // 768 wide: 42 rows per block, 8 blocks; 13: ragged lanes
            INDArray xd = Rand.normal(DataType.DOUBLE, 1, 2.0, n, c).addi(50.0),
                    gd = Rand.normal(DataType.DOUBLE, 2, 1.0, n, c);
            INDArray gamd = Rand.normal(DataType.DOUBLE, 3, 1.0, c), betd = Rand.normal(DataType.DOUBLE, 4, 1.0, c);
            INDArray xf = xd.castTo(DataType.FLOAT),
                    gf = gd.castTo(DataType.FLOAT),
                    gamf = gamd.castTo(DataType.FLOAT),
                    betf = betd.castTo(DataType.FLOAT);
            Kernels.LayerNormForward fd = ref.layerNorm(xd, gamd, betd, 1e-5),
                    ff = fast.layerNorm(xf, gamf, betf, 1e-5);
            assertClose(fd.y(), ff.y(), "y, C=" + c, 2e-5);
            Kernels.LayerNormGrads rd = fd.backward().apply(gd, true, true, true),
                    rf = ff.backward().apply(gf, true, true, true);
            assertClose(rd.dx(), rf.dx(), "dx, C=" + c, 1e-4);
            assertClose(rd.dGamma(), rf.dGamma(), "dgamma, C=" + c, 1e-4);
            assertClose(rd.dBeta(), rf.dBeta(), "dbeta, C=" + c, 1e-5);
            Kernels.LayerNormGrads only = ff.backward().apply(gf, false, true, false);
            assertNull(only.dx());
            assertNull(only.dBeta());
            assertClose(rd.dGamma(), only.dGamma(), "dgamma alone, C=" + c, 1e-4);
        }
    }

    /** The fast mask multiplies by the same float factor as the reference's mask array: bit-identical results. */
    @Test
    void dropoutMasking() {
        assumeTrue(DropoutMask.FAST, "no 16-float vectors: dropout masking runs the reference");
        for (int n : new int[] {16, 1000, 70_001}) {
            long[] bits = DropoutMask.keep(n, 0.3, n);
            INDArray x = Rand.normal(DataType.FLOAT, n, 1.0, 1, n);
            INDArray want = ref.dropout(x, bits, 1 / 0.7, null);
            assertArrayEquals(
                    JavaArrays.floats(want),
                    JavaArrays.floats(fast.dropout(x, bits, 1 / 0.7, null)),
                    "new array, n=" + n);
            INDArray into = Nd4j.createUninitialized(DataType.FLOAT, 1, n);
            assertSame(into, fast.dropout(x, bits, 1 / 0.7, into));
            assertArrayEquals(JavaArrays.floats(want), JavaArrays.floats(into), "into another array, n=" + n);
            fast.dropout(x, bits, 1 / 0.7, x);
            assertArrayEquals(JavaArrays.floats(want), JavaArrays.floats(x), "in place, n=" + n);
        }
        long[] bits = DropoutMask.keep(12 * 7, 0.5, 5);
        INDArray v = Rand.normal(DataType.FLOAT, 6, 1.0, 7, 12), view = v.transpose();
        assertArrayEquals(
                JavaArrays.floats(ref.dropout(view, bits, 2, null)),
                JavaArrays.floats(fast.dropout(view, bits, 2, null)),
                "a view");
    }

    @Test
    void scatterAddRows() {
        int[] index = {5, 0, 5, 3, 5, 9, 0}; // duplicates accumulate
        INDArray gd = Rand.normal(DataType.DOUBLE, 7, 1.0, index.length, 37);
        long[] table = {10, 37};
        INDArray want = ref.scatterAddRows(table, index, gd);
        for (int j = 0; j < 37; j++) {
            assertEquals(gd.getDouble(0, j) + gd.getDouble(2, j) + gd.getDouble(4, j), want.getDouble(5, j), 1e-12);
            assertEquals(0.0, want.getDouble(1, j));
        }
        assertClose(want, fast.scatterAddRows(table, index, gd.castTo(DataType.FLOAT)), "scatter-add", 1e-6);
    }

    @Test
    void add() {
        INDArray a = Rand.normal(DataType.FLOAT, 8, 1.0, 33, 65), b = Rand.normal(DataType.FLOAT, 9, 1.0, 33, 65);
        INDArray want = a.add(b);
        assertEquals(want, fast.add(a, b));
        assertEquals(want.transpose(), fast.add(a.transpose(), b.transpose()), "views are copied to c-order first");
        INDArray acc = a.dup();
        assertSame(acc, fast.addi(acc, b));
        assertEquals(want, acc);
    }

    private static void assertClose(INDArray want, INDArray got, String what, double tol) {
        double[] w = want.castTo(DataType.DOUBLE).dup('c').data().asDouble(),
                g = got.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        assertEquals(w.length, g.length, what + ": lengths");
        double worst = 0;
        for (int i = 0; i < w.length; i++) worst = Math.max(worst, Math.abs(w[i] - g[i]) / Math.max(1, Math.abs(w[i])));
        assertTrue(worst < tol, what + ": fast float32 vs reference differ by " + worst);
    }
}
