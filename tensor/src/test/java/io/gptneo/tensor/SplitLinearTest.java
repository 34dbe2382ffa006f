package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@link Ops#linearSplit} (one product for several bias-free layers, LoRA side paths on some parts) against one
 * {@link Ops#loraLinear} / {@link Ops#linear} per part: same outputs and same gradients of x, the weights and every
 * LoRA matrix, with and without LoRA dropout, and when a part's output is not used at all.
 */
class SplitLinearTest {
    private static final long N = 7, IN = 12, R = 3;
    private static final long[] WIDTHS = {12, 5, 12};

    @ParameterizedTest(name = "{0}, dropout {1}, sides on parts {2}, part 1 used {3}")
    @CsvSource({
        "DOUBLE, 0, 0 2, true",
        "DOUBLE, 0.3, 0 2, true",
        "DOUBLE, 0.3, 1, false",
        "DOUBLE, 0, '', true",
        "FLOAT, 0.25, 0 1 2, true",
        "FLOAT, 0, 0 2, false"
    })
    void equalsOneLayerPerPart(DataType dt, double p, String sideParts, boolean useMiddle) {
        Tensor x = Tensor.parameter(Rand.normal(dt, 1, 1.0, 2, N, IN)); // [2, N, IN]: leading dims kept
        Tensor[] w = new Tensor[WIDTHS.length];
        LowRank[] sides = new LowRank[WIDTHS.length];
        List<String> on = List.of(sideParts.trim().isEmpty() ? new String[0] : sideParts.split(" "));
        for (int i = 0; i < w.length; i++) {
            w[i] = Tensor.parameter(Rand.normal(dt, 10 + i, 0.3, WIDTHS[i], IN));
            if (on.contains(String.valueOf(i)))
                sides[i] = new LowRank(
                        Tensor.parameter(Rand.normal(dt, 20 + i, 0.3, R, IN)),
                        Tensor.parameter(Rand.normal(dt, 30 + i, 0.3, WIDTHS[i], R)),
                        1.5 + i,
                        p,
                        40 + i);
        }
        INDArray[] seeds = new INDArray[WIDTHS.length];
        for (int i = 0; i < seeds.length; i++) seeds[i] = Rand.normal(dt, 50 + i, 1.0, 2, N, WIDTHS[i]);

        // reference: one layer per part
        Tensor[] ref = new Tensor[WIDTHS.length];
        for (int i = 0; i < ref.length; i++) {
            LowRank s = sides[i];
            ref[i] = s == null
                    ? Ops.linear(x, w[i], null)
                    : Ops.loraLinear(x, w[i], null, s.a(), s.b(), s.scaling(), s.dropout(), s.seed());
        }
        List<Tensor> params = params(x, w, sides);
        loss(ref, seeds, useMiddle).backward();
        INDArray[] refGrads = grads(params);

        Tensor stacked = Ops.concat(0, w); // trainable stacked weight: its gradient is the parts' stacked
        Tensor[] fused = Ops.linearSplit(x, stacked, WIDTHS, sides);
        for (int i = 0; i < ref.length; i++) {
            assertArrayEquals(ref[i].shape(), fused[i].shape(), "part " + i + " shape");
            assertClose("part " + i, ref[i].data(), fused[i].data(), dt);
        }
        loss(fused, seeds, useMiddle).backward();
        INDArray[] fusedGrads = grads(params);
        for (int i = 0; i < params.size(); i++) {
            String name = i == 0 ? "x" : i <= w.length ? "w" + (i - 1) : "side " + params.get(i);
            if (refGrads[i] == null) continue; // a part's weight without any gradient (unused part)
            assertClose("grad " + name, refGrads[i], fusedGrads[i], dt);
        }
        assertEquals(
                useMiddle, refGrads[2].amaxNumber().doubleValue() > 0, "w1's gradient vanishes iff part 1 is unused");
    }

    /**
     * The fused side paths ({@link FusedLowRank}: one pass per part each way, dropout recomputed from its bits) against
     * the composition the reference kernels take (dropout, then the rank-r products): same outputs, same gradients of
     * x, the stacked weight and every A and B. 37 rows: a partial block of {@link FusedLowRank#ROWS}; 133: partial
     * blocks both ways, so that the backward sums dA and dB over two blocks of {@link FusedLowRank#BACKWARD_ROWS}.
     */
    @ParameterizedTest(name = "dropout {0}, trainable weight {1}, {2} rows")
    @CsvSource({"0, false, 37", "0.3, false, 37", "0.3, true, 37", "0.3, false, 133"})
    void fusedSidePathsEqualTheComposition(double p, boolean trainableWeight, long rows) {
        // 37 rows: a forward block of 32 and one of 5 (four-row groups and a padded one), one backward block;
        // 133: forward 4 x 32 + 5, backward 128 + 5
        long in = 32;
        long[] widths = {32, 16, 48};
        Kernels fast = new Kernels(true, true);
        Tensor x = Tensor.parameter(Rand.normal(DataType.FLOAT, 1, 1.0, rows, in));
        Tensor w = Tensor.of(Rand.normal(DataType.FLOAT, 2, 0.3, 96, in), trainableWeight);
        LowRank[] sides = new LowRank[widths.length];
        for (int i : new int[] {0, 2}) {
            long r = i == 0 ? 6 : 4; // rank 6: one 4x4 dot block and two ranks one by one
            sides[i] = new LowRank(
                    Tensor.parameter(Rand.normal(DataType.FLOAT, 20 + i, 0.3, r, in)),
                    Tensor.parameter(Rand.normal(DataType.FLOAT, 30 + i, 0.3, widths[i], r)),
                    2.0,
                    p,
                    40 + i);
        }
        assertTrue(fast.fusedLowRank(x.data(), in, widths[0]), "the fused kernel takes these shapes here");
        INDArray[] seeds = new INDArray[widths.length];
        for (int i = 0; i < seeds.length; i++) seeds[i] = Rand.normal(DataType.FLOAT, 50 + i, 1.0, rows, widths[i]);
        List<Tensor> params = params(x, new Tensor[] {w}, sides);

        Tensor[] ref = SplitLinearOp.apply(x, w, widths, sides, Kernels.reference());
        loss(ref, seeds, true).backward();
        INDArray[] refGrads = grads(params);
        Tensor[] fused = SplitLinearOp.apply(x, w, widths, sides, fast);
        for (int i = 0; i < widths.length; i++)
            assertClose("part " + i, ref[i].data(), fused[i].data(), DataType.FLOAT);
        loss(fused, seeds, true).backward();
        INDArray[] fusedGrads = grads(params);
        for (int i = 0; i < params.size(); i++) {
            if (!params.get(i).requiresGrad()) continue;
            assertTrue(refGrads[i].amaxNumber().doubleValue() > 0, "gradient " + i + " is not trivially zero");
            assertClose("gradient " + i, refGrads[i], fusedGrads[i], DataType.FLOAT);
        }
    }

    /**
     * Parts whose gradients come back as the column blocks of one array laid out as the product (what the fused
     * attention hands back for q, k and v) are taken as G in place; any other layout (blocks in another order, a
     * part without a gradient, separate arrays) is copied together. All give the same gradients of x and the weight.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"blocks of one array", "blocks in another order", "part 1 without a gradient"})
    void partGradientsInOneArrayOrApart(String layout) {
        DataType dt = DataType.FLOAT;
        long out = java.util.Arrays.stream(WIDTHS).sum();
        long[] start = {0, WIDTHS[0], WIDTHS[0] + WIDTHS[1]};
        INDArray all = Rand.normal(dt, 60, 1.0, 2, N, out); // the parts' gradients, side by side as in the product
        INDArray[] apart = new INDArray[WIDTHS.length];
        for (int i = 0; i < apart.length; i++)
            apart[i] = block(all, start[i], WIDTHS[i]).dup('c');
        boolean skipMiddle = layout.startsWith("part 1");
        if (skipMiddle) apart[1] = null;
        INDArray[] handed = apart.clone();
        if (layout.equals("blocks of one array"))
            for (int i = 0; i < handed.length; i++) handed[i] = block(all, start[i], WIDTHS[i]);
        if (layout.equals("blocks in another order")) { // parts 0 and 2 (both 12 wide) swapped within one array
            INDArray other = Nd4j.createUninitialized(dt, new long[] {2, N, out}, 'c');
            block(other, start[2], WIDTHS[0]).assign(apart[0]);
            block(other, start[1], WIDTHS[1]).assign(apart[1]);
            block(other, start[0], WIDTHS[2]).assign(apart[2]);
            handed = new INDArray[] {block(other, start[2], 12), block(other, start[1], 5), block(other, start[0], 12)};
        }
        if (skipMiddle) // parts 0 and 2 as blocks of one array whose middle block holds garbage
        handed = new INDArray[] {block(all, start[0], WIDTHS[0]), null, block(all, start[2], WIDTHS[2])};

        INDArray[] expected = null;
        for (INDArray[] grads : new INDArray[][] {apart, handed}) {
            Tensor x = Tensor.parameter(Rand.normal(dt, 1, 1.0, 2, N, IN));
            Tensor w = Tensor.parameter(Rand.normal(dt, 2, 0.3, out, IN));
            Tensor[] parts = Ops.linearSplit(x, w, WIDTHS, new LowRank[WIDTHS.length]);
            Tensor[] used = skipMiddle ? new Tensor[] {parts[0], parts[2]} : parts;
            INDArray[] usedGrads = skipMiddle ? new INDArray[] {grads[0], grads[2]} : grads;
            Tensor.result("consume", Nd4j.scalar(dt, 0.0), used, g -> usedGrads).backward();
            INDArray[] got = {x.grad().dup(), w.grad().dup()};
            if (expected == null) expected = got;
            else
                for (int i = 0; i < got.length; i++)
                    assertEquals(expected[i], got[i], layout + ": gradient of " + (i == 0 ? "x" : "w"));
        }
        double middle =
                expected[1].get(rowsOf(start[1], WIDTHS[1])).amaxNumber().doubleValue();
        assertEquals(skipMiddle, middle == 0.0, "w's rows for part 1 are zero iff part 1 had no gradient: " + middle);
    }

    private static INDArray block(INDArray a, long c0, long width) {
        return a.get(
                org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.all(),
                org.nd4j.linalg.indexing.NDArrayIndex.interval(c0, c0 + width));
    }

    private static org.nd4j.linalg.indexing.INDArrayIndex[] rowsOf(long r0, long n) {
        return new org.nd4j.linalg.indexing.INDArrayIndex[] {
            org.nd4j.linalg.indexing.NDArrayIndex.interval(r0, r0 + n), org.nd4j.linalg.indexing.NDArrayIndex.all()
        };
    }

    private static Tensor loss(Tensor[] parts, INDArray[] seeds, boolean useMiddle) {
        Tensor l = null;
        for (int i = 0; i < parts.length; i++) {
            if (i == 1 && !useMiddle) continue;
            Tensor t = Ops.sum(Ops.mul(parts[i], Tensor.constant(seeds[i])));
            l = l == null ? t : Ops.add(l, t);
        }
        return l;
    }

    private static List<Tensor> params(Tensor x, Tensor[] w, LowRank[] sides) {
        List<Tensor> ps = new java.util.ArrayList<>();
        ps.add(x);
        ps.addAll(List.of(w));
        for (LowRank s : sides)
            if (s != null) {
                ps.add(s.a());
                ps.add(s.b());
            }
        return ps;
    }

    /** Current gradients (zeros where none arrived), then cleared. */
    private static INDArray[] grads(List<Tensor> ps) {
        INDArray[] g = new INDArray[ps.size()];
        for (int i = 0; i < g.length; i++) {
            Tensor t = ps.get(i);
            g[i] = t.grad() == null
                    ? Nd4j.zeros(t.dtype(), t.shape())
                    : t.grad().dup();
            t.zeroGrad();
        }
        return g;
    }

    private static void assertClose(String what, INDArray expected, INDArray actual, DataType dt) {
        assertArrayEquals(expected.shape(), actual.shape(), what + " shape");
        double tol = (dt == DataType.DOUBLE ? 1e-12 : 2e-5)
                * Math.max(1, expected.amaxNumber().doubleValue());
        double diff = expected.sub(actual).amaxNumber().doubleValue();
        assertTrue(diff <= tol, what + ": max diff " + diff + " > " + tol);
    }
}
