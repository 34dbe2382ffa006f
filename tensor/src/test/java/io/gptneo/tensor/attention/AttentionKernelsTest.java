package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.AttentionTestSupport.allFinite;
import static io.gptneo.tensor.attention.AttentionTestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.Kernels;
import io.gptneo.tensor.attention.AttentionKernel.Forward;
import io.gptneo.tensor.attention.AttentionKernel.Grads;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class AttentionKernelsTest {

    @Test
    void factoryNamesAndProperty() {
        assertInstanceOf(ReferenceAttention.class, Kernels.attention("reference"));
        assertInstanceOf(FusedAttention.class, Kernels.attention("Fused"));
        assertThrows(IllegalArgumentException.class, () -> Kernels.attention("flash"));
        assertInstanceOf(MatmulAttention.class, Kernels.attention("MATMUL"));
        assertInstanceOf(FusedAttention.class, new Kernels(true, true).attention());
        assertInstanceOf(ReferenceAttention.class, new Kernels(true, false).attention());
        assertInstanceOf(ReferenceAttention.class, Kernels.reference().attention());
        AttentionKernel fused = new FusedAttention();
        assertSame(fused, Kernels.attentionFor(fused, DataType.FLOAT));
        assertInstanceOf(
                ReferenceAttention.class,
                Kernels.attentionFor(fused, DataType.DOUBLE),
                "float64 always runs the reference");
        assertThrows(
                IllegalArgumentException.class,
                () -> fused.forward(
                        Nd4j.zeros(DataType.DOUBLE, 1, 1, 2, 2),
                        Nd4j.zeros(DataType.DOUBLE, 1, 1, 2, 2),
                        Nd4j.zeros(DataType.DOUBLE, 1, 1, 2, 2),
                        null,
                        0,
                        1.0,
                        false));
    }

    /** Left padding: query rows before the first real token have no allowed key; all kernels give 0 there, finite grads. */
    @Test
    void fullyMaskedRowsAreZeroAndFinite() {
        int b = 1, h = 2, t = 9, d = 8, pad = 4;
        INDArray mask = Nd4j.ones(DataType.FLOAT, b, t);
        for (int j = 0; j < pad; j++) mask.putScalar(0, j, 0f);
        // huge values make any exp overflow visible
        INDArray q = randn(5, DataType.FLOAT, b, h, t, d).muli(30),
                k = randn(6, DataType.FLOAT, b, h, t, d).muli(30);
        INDArray v = randn(7, DataType.FLOAT, b, h, t, d), dOut = randn(8, DataType.FLOAT, b, h, t, d);
        for (String name : new String[] {"reference", "fused", "matmul", "nd4j"})
            for (int window : new int[] {0, 2}) {
                AttentionKernel kern = kernel(name);
                Forward f = kern.forward(q, k, v, mask, window, 1.0, true);
                Grads g = kern.backward(f, q, k, v, mask, window, 1.0, dOut);
                assertTrue(allFinite(f.out()) && allFinite(g.dq()) && allFinite(g.dk()) && allFinite(g.dv()), name);
                for (int i = 0; i < t; i++) {
                    double rowMax = f.out()
                            .get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(i))
                            .amaxNumber()
                            .doubleValue();
                    if (i < pad) assertEquals(0.0, rowMax, name + " padding row " + i);
                    else assertTrue(rowMax > 0, name + " real row " + i);
                }
                // padding keys get no gradient
                for (int j = 0; j < pad; j++)
                    assertEquals(
                            0.0,
                            g.dk().get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(j))
                                    .amaxNumber()
                                    .doubleValue(),
                            name + " dk of padding key " + j);
            }
    }

    /** Hand-computed case: T = 2, D = 1, global: row 0 sees key 0 only, row 1 a softmax over both keys. */
    @Test
    void tinyCaseByHand() {
        INDArray q = Nd4j.createFromArray(new double[] {1, 2}).reshape(1, 1, 2, 1);
        INDArray k = Nd4j.createFromArray(new double[] {0.5, -1}).reshape(1, 1, 2, 1);
        INDArray v = Nd4j.createFromArray(new double[] {3, 7}).reshape(1, 1, 2, 1);
        double s0 = 2 * 0.5, s1 = 2 * -1.0;
        double p0 = Math.exp(s0) / (Math.exp(s0) + Math.exp(s1));
        double expected1 = p0 * 3 + (1 - p0) * 7;
        for (String name : new String[] {"reference", "fused", "matmul", "nd4j"}) {
            boolean f32Only = name.equals("fused") || name.equals("matmul");
            DataType dt = f32Only ? DataType.FLOAT : DataType.DOUBLE;
            double tol = dt == DataType.FLOAT ? 1e-6 : 1e-12;
            INDArray qt = q.castTo(dt), kt = k.castTo(dt), vt = v.castTo(dt);
            INDArray out = kernel(name).forward(qt, kt, vt, null, 0, 1.0, false).out();
            assertEquals(3.0, out.getDouble(0), tol, name);
            assertEquals(expected1, out.getDouble(1), tol, name);
            // window 1: each row sees only itself
            INDArray loc = kernel(name).forward(qt, kt, vt, null, 1, 1.0, false).out();
            assertEquals(7.0, loc.getDouble(1), tol, name);
        }
    }

    /** The attention kernels by name, with the test-only ND4J op cross-check as "nd4j". */
    static AttentionKernel kernel(String name) {
        return name.equals("nd4j") ? new Nd4jDotProductAttention() : Kernels.attention(name);
    }
}
