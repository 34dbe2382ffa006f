package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Products with a frozen weight on its packed copy ({@link PackedWeights}, through {@link Gemm#mmWeight}): both
 * orientations, with and without a bias, float32 and bf16 weights, against a float64 product of the same operands
 * (bf16: of the bf16-rounded operands); the copy is made only where it applies and is dropped with its array. Runs in
 * both surefire executions: with OpenBLAS for float32 products (float32 weights are then never packed) and with
 * {@code -Dgptneo.gemm=onednn} (they are).
 */
class PackedWeightsTest {
    /** Whether float32 weights get packed copies in this JVM (oneDNN computes float32 products). */
    private static boolean packsFloat() {
        return Kernels.get().fast() && OneDnnMatmul.available() && Gemm.backend() == Gemm.Backend.ONEDNN;
    }

    private static boolean packsBf16() {
        return Kernels.get().fast() && OneDnnMatmul.available() && OneDnnBf16.available();
    }

    /** a [M, K] · op(w) + bias in float64 over the operands as the kernel sees them (bf16 weights: a rounded too). */
    private static double[][] want(INDArray a, INDArray w, boolean transW, INDArray bias) {
        boolean bf16 = w.dataType() == DataType.BFLOAT16;
        double[][] x = (bf16 ? Bf16.of(a).castTo(DataType.DOUBLE) : a.castTo(DataType.DOUBLE)).toDoubleMatrix();
        double[][] ww = w.castTo(DataType.DOUBLE).toDoubleMatrix();
        int m = x.length, k = x[0].length, n = transW ? ww.length : ww[0].length;
        double[][] c = new double[m][n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++) {
                double s = bias == null ? 0 : bias.getDouble(j);
                for (int p = 0; p < k; p++) s += x[i][p] * (transW ? ww[j][p] : ww[p][j]);
                c[i][j] = s;
            }
        return c;
    }

    private static void assertClose(double[][] want, INDArray got, String what) {
        double[][] g = got.toDoubleMatrix();
        assertEquals(want.length, g.length, what);
        for (int i = 0; i < want.length; i++)
            for (int j = 0; j < want[0].length; j++)
                assertEquals(want[i][j], g[i][j], 1e-4 * (1 + Math.abs(want[i][j])), what + " at " + i + "," + j);
    }

    @Test
    void packedProductsMatchTheProductInBothOrientations() {
        long seed = 11;
        for (DataType dt : new DataType[] {DataType.FLOAT, DataType.BFLOAT16}) {
            boolean packs = dt == DataType.FLOAT ? packsFloat() : packsBf16();
            for (int m : new int[] {64, 203}) { // the smallest M packed, and a ragged one
                int out = 160, in = 96;
                INDArray w32 = Rand.normal(DataType.FLOAT, seed++, 0.1, out, in);
                Tensor w = Tensor.constant(dt == DataType.BFLOAT16 ? Bf16.of(w32) : w32);
                // the bias as a row view at an offset into a larger array (read through a pointer)
                INDArray bias = Rand.normal(DataType.FLOAT, seed++, 1.0, 2, out + 1)
                        .get(NDArrayIndex.point(1), NDArrayIndex.interval(1, out + 1));
                INDArray x = Rand.normal(DataType.FLOAT, seed++, 1.0, m, in); // forward: x · Wᵀ [m, out]
                INDArray g = Rand.normal(DataType.FLOAT, seed++, 1.0, m, out); // input gradient: g · W [m, in]
                try (var on = GradMode.on()) {
                    for (INDArray b : new INDArray[] {null, bias}) {
                        String what = dt + " m=" + m + (b == null ? "" : " with bias");
                        INDArray y = Gemm.mmWeight(x, w, w.data(), true, b);
                        assertClose(want(x, w.data(), true, b), y, what + " x·Wᵀ");
                        assertEquals(packs, PackedWeights.hasCopy(w, true), what + ": packed for x·Wᵀ");
                        assertEquals(y, Gemm.mmWeight(x, w, w.data(), true, b), what + ": the copy again, same bits");
                    }
                    assertFalse(PackedWeights.hasCopy(w, false), "no copy for g·W before it is used");
                    INDArray dx = Gemm.mmWeight(g, w, w.data(), false, null);
                    assertClose(want(g, w.data(), false, null), dx, dt + " m=" + m + " g·W");
                    assertEquals(packs, PackedWeights.hasCopy(w, false), dt + ": packed for g·W");
                }
            }
        }
    }

    @Test
    void aReplacedArrayIsPackedAgainNeverRead() {
        INDArray w1 = Bf16.of(Rand.normal(DataType.FLOAT, 1, 0.1, 64, 32));
        INDArray w2 = Bf16.of(Rand.normal(DataType.FLOAT, 2, 0.1, 64, 32));
        Tensor w = Tensor.constant(w1);
        INDArray x = Rand.normal(DataType.FLOAT, 3, 1.0, 128, 32);
        try (var on = GradMode.on()) {
            INDArray y1 = Gemm.mmWeight(x, w, w.data(), true, null);
            assertClose(want(x, w1, true, null), y1, "first array");
            w.setData(w2);
            assertFalse(PackedWeights.hasCopy(w, true), "setData drops the copies");
            assertClose(want(x, w2, true, null), Gemm.mmWeight(x, w, w.data(), true, null), "replaced array");
            // a caller holding the old array (a graph recorded before setData) still gets the old weight
            assertClose(want(x, w1, true, null), Gemm.mmWeight(x, w, w1, true, null), "old array");
        }
    }

    @Test
    void notPackedOutsideTrainingForFewRowsOrTrainableWeights() {
        Tensor frozen = Tensor.constant(Bf16.of(Rand.normal(DataType.FLOAT, 4, 0.1, 48, 40)));
        INDArray x = Rand.normal(DataType.FLOAT, 5, 1.0, 100, 40);
        try (var off = GradMode.off()) {
            assertClose(want(x, frozen.data(), true, null), Gemm.mmWeight(x, frozen, frozen.data(), true, null), "off");
            assertFalse(PackedWeights.hasCopy(frozen, true), "inference keeps the plain path (default policy)");
        }
        try (var on = GradMode.on()) {
            INDArray few = Rand.normal(DataType.FLOAT, 6, 1.0, PackedWeights.MIN_ROWS - 1, 40);
            assertClose(
                    want(few, frozen.data(), true, null), Gemm.mmWeight(few, frozen, frozen.data(), true, null), "few");
            assertFalse(PackedWeights.hasCopy(frozen, true), "fewer rows than MIN_ROWS: plain path");
            Tensor trainable = Tensor.parameter(Rand.normal(DataType.FLOAT, 7, 0.1, 48, 40));
            assertClose(
                    want(x, trainable.data(), true, null),
                    Gemm.mmWeight(x, trainable, trainable.data(), true, null),
                    "trainable");
            assertFalse(PackedWeights.hasCopy(trainable, true), "a trainable weight changes every step: never packed");
        }
    }

    @Test
    void float32WeightsArePackedInInferenceTooByDefault() {
        Assumptions.assumeTrue(packsFloat(), "float32 products not on oneDNN here: nothing float32 is packed");
        Tensor frozen = Tensor.constant(Rand.normal(DataType.FLOAT, 11, 0.1, 48, 40));
        INDArray x = Rand.normal(DataType.FLOAT, 12, 1.0, 100, 40);
        INDArray bias = Rand.normal(DataType.FLOAT, 13, 0.1, 48);
        try (var off = GradMode.off()) {
            assertClose(
                    want(x, frozen.data(), true, bias),
                    Gemm.mmWeight(x, frozen, frozen.data(), true, bias),
                    "inference, float32");
            assertTrue(PackedWeights.hasCopy(frozen, true), "a float32 weight is packed in inference (auto)");
            assertFalse(PackedWeights.hasCopy(frozen, false), "only the orientation used is packed");
        }
        Tensor head =
                Tensor.constant(Rand.normal(DataType.FLOAT, 14, 0.1, 48, 40)).plainInInference();
        try (var off = GradMode.off()) {
            assertClose(want(x, head.data(), true, null), Gemm.mmWeight(x, head, head.data(), true, null), "head");
            assertFalse(PackedWeights.hasCopy(head, true), "a weight marked plainInInference is not packed there");
        }
        try (var on = GradMode.on()) {
            Gemm.mmWeight(x, head, head.data(), true, null);
            assertTrue(PackedWeights.hasCopy(head, true), "... but it is in a training step");
        }
    }

    /**
     * A copy that would leave less memory than the reserve is not made: the product takes the plain path, gives the
     * same values, and the weight is not packed later in that orientation either; with the reserve back to its
     * default, a new weight is packed again.
     */
    @Test
    void aCopyThatWouldLeaveTooLittleMemoryIsNotMade() {
        Assumptions.assumeTrue(packsFloat() || packsBf16(), "nothing is packed here");
        DataType dt = packsFloat() ? DataType.FLOAT : DataType.BFLOAT16;
        INDArray x = Rand.normal(DataType.FLOAT, 20, 1.0, 96, 40);
        Tensor frozen = Tensor.constant(weight(dt, 21));
        int before = PackedWeights.declined();
        withReserve(String.valueOf(Long.MAX_VALUE >> 20), () -> {
            for (int call = 0; call < 2; call++) {
                assertClose(
                        want(x, frozen.data(), true, null),
                        Gemm.mmWeight(x, frozen, frozen.data(), true, null),
                        dt + ", the reserve out of reach, call " + call);
                assertFalse(PackedWeights.hasCopy(frozen, true), "no copy when the reserve cannot be kept");
            }
            assertEquals(before + 1, PackedWeights.declined(), "declined once, then remembered");
            assertTrue(
                    Gemm.describeFrozenWeights().contains("not made for lack of memory"), Gemm.describeFrozenWeights());
        });
        try (var on = GradMode.on()) {
            Gemm.mmWeight(x, frozen, frozen.data(), true, null);
            assertFalse(PackedWeights.hasCopy(frozen, true), "the decision stays with the weight's array");
            Tensor fresh = Tensor.constant(weight(dt, 22));
            Gemm.mmWeight(x, fresh, fresh.data(), true, null);
            assertTrue(PackedWeights.hasCopy(fresh, true), "the default reserve leaves room on a test machine");
        }
        withReserve("lots", () -> {
            Tensor other = Tensor.constant(weight(dt, 23));
            var e = org.junit.jupiter.api.Assertions.assertThrows(
                    IllegalArgumentException.class, () -> Gemm.mmWeight(x, other, other.data(), true, null));
            assertTrue(e.getMessage().contains(PackedWeights.RESERVE_PROPERTY + "=lots"), e.getMessage());
        });
    }

    /** Runs {@code body} in a training step with {@code -Dgptneo.packReserveMb=value}, then restores the property. */
    private static void withReserve(String value, Runnable body) {
        String old = System.setProperty(PackedWeights.RESERVE_PROPERTY, value);
        try (var on = GradMode.on()) {
            body.run();
        } finally {
            if (old == null) System.clearProperty(PackedWeights.RESERVE_PROPERTY);
            else System.setProperty(PackedWeights.RESERVE_PROPERTY, old);
        }
    }

    /** A [48, 40] weight, float32 or rounded to bf16. */
    private static INDArray weight(DataType dt, long seed) {
        INDArray w = Rand.normal(DataType.FLOAT, seed, 0.1, 48, 40);
        return dt == DataType.BFLOAT16 ? Bf16.of(w) : w;
    }

    @Test
    void linearOnAPackedWeightGivesWhatThePlainPathGives() {
        Assumptions.assumeTrue(packsBf16(), "no oneDNN bf16 matmul here: nothing is packed");
        INDArray w16 = Bf16.of(Rand.normal(DataType.FLOAT, 8, 0.1, 96, 64));
        INDArray x0 = Rand.normal(DataType.FLOAT, 9, 1.0, 2, 70, 64);
        INDArray gy = Rand.normal(DataType.FLOAT, 10, 1.0, 2, 70, 96); // dL/dy
        INDArray yPlain = Gemm.mm(x0.reshape(140, 64), w16, false, true);
        INDArray dxPlain = Gemm.mm(gy.reshape(140, 96), w16, false, false);
        Tensor w = Tensor.constant(w16), x = Tensor.parameter(x0.dup());
        Tensor y = Ops.linear(x, w, null);
        Ops.sum(Ops.mul(y, Tensor.constant(gy))).backward();
        assertTrue(PackedWeights.hasCopy(w, true) && PackedWeights.hasCopy(w, false), "both orientations packed");
        // the packed product keeps the input's leading dimensions (no reshape around it)
        assertArrayEquals(new long[] {2, 70, 96}, y.data().shape(), "y");
        assertArrayEquals(new long[] {2, 70, 64}, x.grad().shape(), "dx");
        // the same bf16 kernel on the same operands, the weight in another layout
        assertTrue(yPlain.equalsWithEps(y.data().reshape(140, 96), 1e-4), "forward");
        assertTrue(dxPlain.equalsWithEps(x.grad().reshape(140, 64), 1e-4), "input gradient");
    }

    /**
     * {@link Ops#linearAdd}: the residual added inside the packed product (a oneDNN post-op) where the weight is
     * packed, else add of linear; either way the values and gradients of {@code add(linear(x, w, b), r)}.
     */
    @Test
    void linearAddMatchesAddOfLinear() {
        long seed = 40;
        for (DataType dt : new DataType[] {DataType.FLOAT, DataType.BFLOAT16}) {
            boolean packs = dt == DataType.FLOAT ? packsFloat() : packsBf16();
            int out = 160, in = 96;
            INDArray w32 = Rand.normal(DataType.FLOAT, seed++, 0.1, out, in);
            Tensor w = Tensor.constant(dt == DataType.BFLOAT16 ? Bf16.of(w32) : w32);
            Tensor b = Tensor.constant(Rand.normal(DataType.FLOAT, seed++, 1.0, out));
            INDArray xv = Rand.normal(DataType.FLOAT, seed++, 1.0, 2, 37, in); // 74 rows: packed (>= 64)
            INDArray rv = Rand.normal(DataType.FLOAT, seed++, 1.0, 2, 37, out);
            INDArray c = Rand.normal(DataType.FLOAT, seed++, 1.0, 2, 37, out); // loss = Σ c ⊙ y
            INDArray[] y = new INDArray[2], dx = new INDArray[2], dr = new INDArray[2];
            try (var on = GradMode.on()) {
                for (int fused = 0; fused < 2; fused++) {
                    Tensor x = Tensor.parameter(xv.dup()), r = Tensor.parameter(rv.dup());
                    Tensor yt = fused == 1 ? Ops.linearAdd(x, w, b, r) : Ops.add(Ops.linear(x, w, b), r);
                    if (fused == 1)
                        assertTrue(
                                yt.toString().contains(packs ? "<- linearAdd" : "<- add"),
                                dt + ": " + (packs ? "one product with the sum" : "the composition") + ", got " + yt);
                    Ops.sum(Ops.mul(yt, Tensor.constant(c))).backward();
                    y[fused] = yt.data().dup();
                    dx[fused] = x.grad().dup();
                    dr[fused] = r.grad().dup();
                }
            }
            double[][] want = want(xv.reshape(74, in), w.data(), true, b.data());
            double[][] rr = rv.reshape(74, out).castTo(DataType.DOUBLE).toDoubleMatrix();
            for (int i = 0; i < 74; i++) for (int j = 0; j < out; j++) want[i][j] += rr[i][j];
            assertClose(want, y[1].reshape(74, out), dt + " linearAdd against float64");
            assertTrue(y[0].equalsWithEps(y[1], 1e-5), dt + " values");
            assertTrue(dx[0].equalsWithEps(dx[1], 1e-5), dt + " input gradient");
            assertEquals(c, dr[1], dt + ": the residual's gradient is the output's");
            assertEquals(dr[0], dr[1], dt + " residual gradient");
        }
    }
}
