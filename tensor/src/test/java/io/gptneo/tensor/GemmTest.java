package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link Gemm} against a plain triple loop in double, for every operand layout it maps without a copy (c-order,
 * f-order, transpose views, row slices with a larger leading dimension, views at an offset) and the ones it must copy
 * (column slices, permuted reshapes), both transpose flags, FLOAT and DOUBLE.
 */
class GemmTest {

    /** Ways to present a logical [r, c] matrix to gemm. */
    static List<Function<INDArray, INDArray>> layouts() {
        List<Function<INDArray, INDArray>> l = new ArrayList<>();
        l.add(m -> m.dup('c'));
        l.add(m -> m.dup('f'));
        l.add(m -> m.transpose().dup('c').transpose()); // f-order view of a c array
        l.add(
                m -> { // rows of a wider matrix, at an offset
                    INDArray big = Rand.normal(m.dataType(), 9, 1.0, m.rows() + 3, m.columns() + 5);
                    INDArray v =
                            big.get(NDArrayIndex.interval(2, 2 + m.rows()), NDArrayIndex.interval(1, 1 + m.columns()));
                    v.assign(m);
                    return v;
                });
        l.add(
                m -> { // every other column: no BLAS form
                    INDArray big = Nd4j.zeros(m.dataType(), m.rows(), 2 * m.columns());
                    INDArray v = big.get(NDArrayIndex.all(), NDArrayIndex.interval(0, 2, 2 * m.columns()));
                    v.assign(m);
                    return v;
                });
        return l;
    }

    static double[][] naive(double[][] a, double[][] b) {
        int m = a.length, k = b.length, n = b[0].length;
        double[][] c = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += a[i][p] * b[p][j];
                c[i][j] = s;
            }
        return c;
    }

    @Test
    void matchesTripleLoopForEveryLayoutAndFlag() {
        int[][] shapes = {{7, 5, 3}, {1, 9, 4}, {6, 1, 8}, {33, 17, 65}};
        for (DataType dt : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            double tol = dt == DataType.FLOAT ? 1e-5 : 1e-12;
            long seed = 1;
            for (int[] s : shapes) {
                int m = s[0], n = s[1], k = s[2];
                INDArray a = Rand.normal(dt, seed++, 1.0, m, k), b = Rand.normal(dt, seed++, 1.0, k, n);
                // a bias given as a row view at an offset (oneDNN's biased matmul reads it through a pointer)
                INDArray bias = Rand.normal(dt, seed++, 1.0, 2, n + 1)
                        .get(NDArrayIndex.point(1), NDArrayIndex.interval(1, n + 1));
                double[] bv = bias.toDoubleVector();
                double[][] want = naive(a.toDoubleMatrix(), b.toDoubleMatrix());
                for (boolean ta : new boolean[] {false, true})
                    for (boolean tb : new boolean[] {false, true}) {
                        for (var la : layouts())
                            for (var lb : layouts()) {
                                INDArray pa = la.apply(ta ? a.transpose().dup('c') : a),
                                        pb = lb.apply(tb ? b.transpose().dup('c') : b);
                                for (boolean withBias : new boolean[] {false, true}) {
                                    INDArray got = Gemm.mm(pa, pb, ta, tb, withBias ? bias : null);
                                    assertArrayEquals(new long[] {m, n}, got.shape());
                                    assertEquals('c', got.ordering());
                                    double[][] g = got.toDoubleMatrix();
                                    for (int i = 0; i < m; i++)
                                        for (int j = 0; j < n; j++) {
                                            double w = want[i][j] + (withBias ? bv[j] : 0);
                                            assertEquals(
                                                    w,
                                                    g[i][j],
                                                    tol * (1 + Math.abs(w)),
                                                    dt + " " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb
                                                            + " bias=" + withBias + " at " + i + "," + j + " strides "
                                                            + Arrays.toString(pa.stride()) + " / "
                                                            + Arrays.toString(pb.stride()));
                                        }
                                }
                            }
                    }
            }
        }
    }

    /** The surefire execution that sets -Dgptneo.gemm=onednn must really run oneDNN (never a silent fallback). */
    @Test
    void backendIsTheOneAskedFor() {
        String want = System.getProperty(Gemm.PROPERTY, "openblas");
        assertEquals(want.toUpperCase(java.util.Locale.ROOT), Gemm.backend().name(), Gemm.describe());
    }

    /** Blocked kernels at sizes past their tiles, all transposes, accumulate onto C: within float32 summation error. */
    @Test
    void largerProductsWithinSummationError() {
        int[][] shapes = {{130, 300, 257}, {64, 768, 768}, {1, 2304, 768}, {256, 17, 3072}};
        long seed = 41;
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            INDArray a = Rand.normal(DataType.FLOAT, seed++, 1.0, m, k),
                    b = Rand.normal(DataType.FLOAT, seed++, 1.0, k, n),
                    c0 = Rand.normal(DataType.FLOAT, seed++, 1.0, m, n);
            double[][] ad = a.toDoubleMatrix(), bd = b.toDoubleMatrix(), want = naive(ad, bd);
            for (boolean ta : new boolean[] {false, true})
                for (boolean tb : new boolean[] {false, true}) {
                    INDArray c = c0.dup('c');
                    Gemm.mmAccumulate(
                            ta ? a.transpose().dup('c') : a, tb ? b.transpose().dup('c') : b, ta, tb, 0.5, c);
                    double[][] got = c.toDoubleMatrix(), before = c0.toDoubleMatrix();
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++) {
                            double mag = 0;
                            for (int q = 0; q < k; q++) mag += Math.abs(ad[i][q] * bd[q][j]);
                            double bound = 4 * Math.sqrt(k) * 0x1p-23 * (mag + Math.abs(before[i][j]));
                            assertEquals(
                                    before[i][j] + 0.5 * want[i][j],
                                    got[i][j],
                                    bound,
                                    Gemm.describe() + " " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb + " at "
                                            + i + "," + j);
                        }
                }
        }
    }

    @Test
    void biasIsAddedToEveryRow() {
        for (DataType dt : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            for (int m : new int[] {1, 5, 2000}) { // 2000 rows: more than the cached ones column starts with
                INDArray a = Rand.normal(dt, 21, 1.0, m, 6),
                        w = Rand.normal(dt, 22, 1.0, 4, 6),
                        bias = Rand.normal(dt, 23, 1.0, 4);
                double[][] want = naive(a.toDoubleMatrix(), w.transpose().toDoubleMatrix());
                double[] bv = bias.toDoubleVector();
                double[][] got = Gemm.mm(a, w, false, true, bias).toDoubleMatrix();
                double tol = dt == DataType.FLOAT ? 1e-5 : 1e-12;
                for (int i = 0; i < m; i++)
                    for (int j = 0; j < 4; j++) {
                        assertEquals(
                                want[i][j] + bv[j],
                                got[i][j],
                                tol * (1 + Math.abs(want[i][j] + bv[j])),
                                dt + " m=" + m + " at " + i + "," + j);
                    }
            }
        }
        INDArray a = Nd4j.zeros(DataType.FLOAT, 3, 2), w = Nd4j.zeros(DataType.FLOAT, 4, 2);
        var e = assertThrows(
                IllegalArgumentException.class, () -> Gemm.mm(a, w, false, true, Nd4j.zeros(DataType.FLOAT, 5)));
        assertTrue(e.getMessage().contains("bias"), e.getMessage());
    }

    @Test
    void accumulateAddsAScaledProductIntoAnyAddressableTarget() {
        for (DataType dt : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            double tol = dt == DataType.FLOAT ? 1e-5 : 1e-12;
            INDArray a = Rand.normal(dt, 31, 1.0, 7, 3), b = Rand.normal(dt, 32, 1.0, 5, 3);
            double[][] prod = naive(a.toDoubleMatrix(), b.transpose().toDoubleMatrix());
            // targets: a c-order matrix, rows of a wider one at an offset, and an f-order one (no BLAS row form)
            List<INDArray> targets = List.of(
                    Rand.normal(dt, 33, 1.0, 7, 5),
                    Rand.normal(dt, 34, 1.0, 9, 8).get(NDArrayIndex.interval(1, 8), NDArrayIndex.interval(2, 7)),
                    Rand.normal(dt, 35, 1.0, 7, 5).dup('f'));
            for (INDArray c : targets) {
                double[][] before = c.toDoubleMatrix();
                for (var la : layouts()) {
                    INDArray cc = c.dup(c.ordering());
                    INDArray target = c.isView() ? c : cc;
                    if (c.isView()) c.assign(Nd4j.create(before).castTo(dt));
                    Gemm.mmAccumulate(la.apply(a), b, false, true, -0.5, target);
                    double[][] got = target.toDoubleMatrix();
                    for (int i = 0; i < 7; i++)
                        for (int j = 0; j < 5; j++) {
                            double want = before[i][j] - 0.5 * prod[i][j];
                            assertEquals(
                                    want,
                                    got[i][j],
                                    tol * (1 + Math.abs(want)),
                                    dt + " strides " + Arrays.toString(target.stride()) + " at " + i + "," + j);
                        }
                }
            }
            var e = assertThrows(
                    IllegalArgumentException.class,
                    () -> Gemm.mmAccumulate(a, b, false, true, 1, Nd4j.zeros(dt, 7, 4)));
            assertTrue(e.getMessage().contains("[7, 4]"), e.getMessage());
        }
    }

    @Test
    void sameResultsAsNd4jGemmInsideAWorkspace() {
        INDArray a = Rand.normal(DataType.FLOAT, 3, 1.0, 64, 48), w = Rand.normal(DataType.FLOAT, 4, 1.0, 32, 48);
        INDArray want = Nd4j.gemm(a, w, false, true);
        try (var ws = Workspaces.open(Workspaces.STEP)) {
            INDArray got = Gemm.mm(a, w, false, true);
            assertTrue(got.isAttached(), "result belongs to the active workspace");
            assertTrue(
                    want.equalsWithEps(got, 1e-5), "max diff " + want.sub(got).amaxNumber());
        }
    }

    @Test
    void badOperandsAreNamed() {
        INDArray a = Nd4j.zeros(DataType.FLOAT, 4, 3), b = Nd4j.zeros(DataType.FLOAT, 5, 2);
        var e = assertThrows(IllegalArgumentException.class, () -> Gemm.mm(a, b, false, false));
        assertTrue(e.getMessage().contains("[4, 3]") && e.getMessage().contains("[5, 2]"), e.getMessage());
        var d = assertThrows(
                IllegalArgumentException.class, () -> Gemm.mm(a, Nd4j.zeros(DataType.DOUBLE, 3, 2), false, false));
        assertTrue(d.getMessage().contains("DOUBLE"), d.getMessage());
        assertThrows(
                IllegalArgumentException.class, () -> Gemm.mm(Nd4j.zeros(DataType.FLOAT, 2, 3, 4), a, false, false));
    }

    /**
     * {@link Gemm#bmm} on FLOAT (oneDNN, in place through strides) against a double loop: the cost head's last-token
     * shapes (a [B, H, 1, D] query times a [B, H, D, T] permuted view of packed keys), both transpose flags, a column
     * block of a wider array, and DOUBLE (ND4J's matmul) for the same operands.
     */
    @Test
    void batchedProductsReadViewsInPlace() {
        int b = 2, h = 3, t = 7, d = 4;
        INDArray packed = Rand.normal(DataType.FLOAT, 21, 1.0, b, t, 3 * h * d); // [B, T, 3·H·D]: q, k, v columns
        INDArray k = packed.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(h * d, 2 * h * d))
                .reshape('c', b, t, h, d)
                .permute(0, 2, 3, 1); // [B, H, D, T] view
        INDArray q = Rand.normal(DataType.FLOAT, 22, 1.0, b, h, 1, d);
        INDArray g = Rand.normal(DataType.FLOAT, 23, 1.0, b, h, 1, t);
        for (DataType dt : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
            INDArray qq = q.castTo(dt), kk = dt == DataType.FLOAT ? k : k.castTo(dt), gg = g.castTo(dt);
            double tol = dt == DataType.FLOAT ? 1e-5 : 1e-12;
            assertBatched(Gemm.bmm(qq, kk, false, false), qq, kk, false, false, tol); // scores [B, H, 1, T]
            assertBatched(Gemm.bmm(gg, kk, false, true), gg, kk, false, true, tol); // dq [B, H, 1, D]
            assertBatched(Gemm.bmm(qq, gg, true, false), qq, gg, true, false, tol); // dk [B, H, D, T]
        }
        assertThrows(IllegalArgumentException.class, () -> Gemm.bmm(q, q, false, false));
    }

    private static void assertBatched(INDArray c, INDArray a, INDArray b, boolean ta, boolean tb, double tol) {
        for (int i = 0; i < a.size(0); i++)
            for (int j = 0; j < a.size(1); j++) {
                double[][] x = matrix(a, i, j), y = matrix(b, i, j), got = matrix(c, i, j);
                double[][] want = naive(ta ? transpose(x) : x, tb ? transpose(y) : y);
                assertEquals(want.length, got.length);
                for (int m = 0; m < want.length; m++)
                    assertArrayEquals(want[m], got[m], tol, "batch " + i + "," + j + " row " + m);
            }
    }

    /** The [M, N] matrix at batch (i, j) of a rank-4 array, element by element. */
    private static double[][] matrix(INDArray a, int i, int j) {
        double[][] m = new double[(int) a.size(2)][(int) a.size(3)];
        for (int r = 0; r < m.length; r++) for (int q = 0; q < m[0].length; q++) m[r][q] = a.getDouble(i, j, r, q);
        return m;
    }

    private static double[][] transpose(double[][] x) {
        double[][] t = new double[x[0].length][x.length];
        for (int i = 0; i < x.length; i++) for (int j = 0; j < x[0].length; j++) t[j][i] = x[i][j];
        return t;
    }
}
