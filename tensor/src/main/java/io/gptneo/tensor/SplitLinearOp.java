package io.gptneo.tensor;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Several bias-free linear layers of one input as one product, e.g. GPT-Neo's q, k and v (see
 * {@link Ops#linearSplit}):
 * <pre>
 *   y = x Wᵀ                     x [N, in], W [out, in] = the parts' weights stacked, out = Σ widths
 *   y[:, part i] += sᵢ · (xdᵢ Aᵢᵀ) Bᵢᵀ   for each part with a LoRA side path (xdᵢ = dropoutᵢ(x))
 *   parts: column blocks of y, each a view (no copy)
 *   dx = G W + Σᵢ ((sᵢ · Gᵢ Bᵢ) Aᵢ ⊙ keepᵢ/(1-pᵢ))     G [N, out]: the parts' gradients side by side
 * </pre>
 * The tape records one operation per output, but they share one gradient G: each part's backward keeps its
 * gradient, the first hands y an uninitialised G, and y's backward (which runs only after every consumer of y, the
 * parts, is done) fills G's blocks from the parts' gradients, zeros for a part whose backward never ran. When the
 * parts' gradients already are the blocks of one array laid out as y (the fused attention returns them so), that
 * array is G and nothing is copied. Why: one [N, in]·[in, out] product (and, in bf16, one rounding of x) instead of
 * one per part, forward and backward.
 */
final class SplitLinearOp {
    private SplitLinearOp() {}

    static Tensor[] apply(Tensor x, Tensor w, long[] widths, LowRank[] sides) {
        return apply(x, w, widths, sides, Kernels.get());
    }

    /** As above, with the side paths on {@code kernels}' choice (fused where it has one; tests compare both). */
    static Tensor[] apply(Tensor x, Tensor w, long[] widths, LowRank[] sides, Kernels kernels) {
        long[] xs = x.shape(), ws = w.shape();
        long outTotal = Arrays.stream(widths).sum();
        if (ws.length != 2
                || xs.length < 1
                || xs[xs.length - 1] != ws[1]
                || ws[0] != outTotal
                || sides.length != widths.length) {
            throw new IllegalArgumentException("linearSplit: input " + Arrays.toString(xs) + ", weight [out, in] = "
                    + Arrays.toString(ws) + ", part widths " + Arrays.toString(widths) + " (" + sides.length
                    + " side paths) do not fit" + (w.name() == null ? "" : " (" + w.name() + ")"));
        }
        Ops.weightDtype("linearSplit", x, w);
        long in = ws[1];
        long rows = x.data().length() / in;
        if (x.data().length() > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("linearSplit: input too large " + Arrays.toString(xs));
        long[] start = new long[widths.length + 1];
        for (int i = 0; i < widths.length; i++) start[i + 1] = start[i] + widths[i];
        for (int i = 0; i < sides.length; i++) if (sides[i] != null) check(sides[i], x, in, widths[i]);

        INDArray x2 = x.data().reshape('c', rows, in); // [N, in]
        INDArray y = Gemm.mmWeight(x2, w, w.data(), true, null); // [N, out]
        Side[] side = new Side[sides.length];
        java.util.List<Integer> fused = new java.util.ArrayList<>(); // parts whose side path runs in FusedLowRank
        FusedLowRank.Side[] fusedSide = new FusedLowRank.Side[sides.length];
        for (int i = 0; i < sides.length; i++) {
            LowRank s = sides[i];
            if (s == null) continue;
            long[] keep = s.dropout() <= 0
                    ? null
                    : s.maskRows() == null
                            ? DropoutMask.keep((int) (rows * in), s.dropout(), s.seed())
                            : DropoutMask.keepRows(s.maskRows(), (int) in, s.dropout(), s.seed());
            double keepScale = 1.0 / (1.0 - s.dropout());
            if (kernels.fusedLowRank(x2, in, widths[i])) { // x FLOAT, so y is FLOAT too (Ops.weightDtype)
                fusedSide[i] = FusedLowRank.Side.of(s, keep, keepScale, (int) start[i]);
                fused.add(i);
                continue;
            }
            INDArray xd = keep == null ? x2 : kernels.dropout(x2, keep, keepScale, null); // [N, in]
            INDArray h = Gemm.mm(xd, s.a().data(), false, true); // [N, r]
            Gemm.mmAccumulate(h, s.b().data(), false, true, s.scaling(), cols(y, start, i)); // y_i += s · h Bᵀ
            side[i] = new Side(s, keep, keepScale, xd, h, null, null);
        }
        if (!fused.isEmpty()) { // all fused side paths in one pass over the rows
            FusedLowRank.Side[] f = fused.stream().map(i -> fusedSide[i]).toArray(FusedLowRank.Side[]::new);
            float[][] h; // each [N, r]
            try (FloatView xv = FloatView.read(x2);
                    FloatView yv = FloatView.update(y)) {
                h = FusedLowRank.forward(f, xv, yv, (int) outTotal);
            }
            for (int k = 0; k < f.length; k++) {
                int i = fused.get(k);
                side[i] = new Side(sides[i], f[k].keep(), f[k].keepScale(), null, null, f[k], h[k]);
            }
        }

        INDArray[] partGrad = new INDArray[widths.length]; // each part's gradient [N, width], null if none came
        Tensor yt = Tensor.result(
                "linearSplit",
                y,
                inputs(x, w, sides),
                g -> backward(gather(partGrad, g, start), x, w, x2, side, start, xs, kernels),
                saved(x2, side));
        Tensor[] parts = new Tensor[widths.length];
        for (int i = 0; i < widths.length; i++) {
            int part = i;
            long[] shape = xs.clone();
            shape[xs.length - 1] = widths[i];
            INDArray view = partView(y, start, i, shape); // strided: rows of the whole product
            parts[i] = Tensor.result("linearSplit.part" + i, view, new Tensor[] {yt}, g -> {
                boolean first = Arrays.stream(partGrad).allMatch(java.util.Objects::isNull);
                partGrad[part] = g.reshape('c', rows, widths[part]);
                // the first hands y an uninitialised G; y's backward fills it (or takes the parts' own array)
                return new INDArray[] {
                    first ? Nd4j.createUninitialized(y.dataType(), new long[] {rows, outTotal}, 'c') : null
                };
            });
        }
        return parts;
    }

    /** A part's side path as forward left it: xd and h as arrays, or (fused) h alone, xd being recomputed. */
    private record Side(
            LowRank p,
            long[] keep,
            double keepScale,
            INDArray xd,
            INDArray h,
            FusedLowRank.Side fused,
            float[] fusedH) {}

    /**
     * G [N, out] from the parts' gradients, once every part's backward has run (y's backward runs after all of y's
     * consumers): the array they already are column blocks of, when they all are blocks of one array in the product's
     * layout; else {@code into} with each part's gradient copied into its block (zeros for a part that got none).
     */
    private static INDArray gather(INDArray[] partGrad, INDArray into, long[] start) {
        long out = start[partGrad.length];
        long[] col = Arrays.stream(partGrad).anyMatch(java.util.Objects::isNull)
                ? null
                : JavaArrays.columnsOfOneRegion(partGrad);
        INDArray whole = Arrays.equals(col, Arrays.copyOf(start, partGrad.length))
                ? JavaArrays.rowsAround(partGrad[0], 0, out) // null unless its rows are out apart, within the buffer
                : null;
        if (whole != null) return whole;
        INDArray g = into.reshape('c', into.length() / out, out);
        for (int i = 0; i < partGrad.length; i++) {
            if (partGrad[i] == null) cols(g, start, i).assign(0); // a part nobody differentiated contributes zeros
            else JavaArrays.copyRows(partGrad[i], cols(g, start, i));
        }
        return into;
    }

    /** Columns of part i: a [N, width] view of the [N, out] array. */
    private static INDArray cols(INDArray a, long[] start, int i) {
        return a.get(NDArrayIndex.all(), NDArrayIndex.interval(start[i], start[i + 1]));
    }

    /**
     * Columns of part i of the c-order [N, out] product y as a {@code shape} ([..., width]) view, made in one step:
     * {@link #cols} and a reshape made two ND4J views (some 30 µs each) per part and call.
     */
    private static INDArray partView(INDArray y, long[] start, int i, long[] shape) {
        long out = y.size(1);
        if (y.ordering() != 'c' || y.stride(0) != out || y.stride(1) != 1)
            return cols(y, start, i).reshape(shape);
        long[] whole = shape.clone(); // the part's rows are rows of y: c-order strides of [..., out]
        whole[whole.length - 1] = out;
        return Nd4j.create(y.data(), shape, Nd4j.getStrides(whole, 'c'), y.offset() + start[i], 'c');
    }

    /** y's inputs: {x, w, A₀, B₀, A₁, B₁, ...}, null where a part has no side path. */
    private static Tensor[] inputs(Tensor x, Tensor w, LowRank[] sides) {
        Tensor[] in = new Tensor[2 + 2 * sides.length];
        in[0] = x;
        in[1] = w;
        for (int i = 0; i < sides.length; i++) {
            if (sides[i] == null) continue;
            in[2 + 2 * i] = sides[i].a();
            in[3 + 2 * i] = sides[i].b();
        }
        return in;
    }

    private static INDArray[] saved(INDArray x2, Side[] side) {
        INDArray[] s = new INDArray[1 + 2 * side.length];
        s[0] = x2;
        for (int i = 0; i < side.length; i++) {
            if (side[i] == null || side[i].fused() != null) continue;
            s[1 + 2 * i] = side[i].xd() == x2 ? null : side[i].xd();
            s[2 + 2 * i] = side[i].h();
        }
        return s;
    }

    /** Gradients of y's {@link #inputs}. */
    private static INDArray[] backward(
            INDArray g, Tensor x, Tensor w, INDArray x2, Side[] side, long[] start, long[] xs, Kernels kernels) {
        long rows = x2.size(0);
        INDArray g2 = g.reshape('c', rows, start[side.length]); // [N, out]
        INDArray[] r = new INDArray[2 + 2 * side.length];
        INDArray dx = x.requiresGrad() ? Gemm.mmWeight(g2, w, w.data(), false, null) : null; // [N, in]
        int[] fused = java.util.stream.IntStream.range(0, side.length)
                .filter(i -> side[i] != null && side[i].fused() != null)
                .toArray();
        if (fused.length > 0) { // all fused side paths in one pass over the rows
            FusedLowRank.Side[] f = new FusedLowRank.Side[fused.length];
            float[][] h = new float[fused.length][];
            boolean[] wantA = new boolean[fused.length], wantB = new boolean[fused.length];
            for (int k = 0; k < fused.length; k++) {
                Side s = side[fused[k]];
                f[k] = s.fused();
                h[k] = s.fusedH();
                wantA[k] = s.p().a().requiresGrad();
                wantB[k] = s.p().b().requiresGrad();
            }
            float[][][] dAB;
            try (FloatView xv = FloatView.read(x2);
                    FloatView gv = FloatView.read(g2);
                    FloatView dxv = dx == null ? null : FloatView.update(dx)) {
                dAB = FusedLowRank.backward(f, xv, h, gv, (int) start[side.length], dxv, wantA, wantB);
            }
            for (int k = 0; k < fused.length; k++) {
                int i = fused[k];
                if (dAB[k][0] != null)
                    r[2 + 2 * i] = JavaArrays.array(dAB[k][0], f[k].r(), f[k].in()); // one memcpy, no indexer
                if (dAB[k][1] != null) r[3 + 2 * i] = JavaArrays.array(dAB[k][1], f[k].w(), f[k].r());
            }
        }
        for (int i = 0; i < side.length; i++) {
            Side s = side[i];
            if (s == null || s.fused() != null) continue;
            LowRank p = s.p();
            INDArray gi = cols(g2, start, i); // [N, width]
            INDArray dh = Gemm.mm(gi, p.b().data(), false, false).muli(p.scaling()); // [N, r]
            if (dx != null) {
                if (s.keep() == null) Gemm.mmAccumulate(dh, p.a().data(), false, false, 1.0, dx);
                else { // through this side path's dropout mask
                    INDArray t = Gemm.mm(dh, p.a().data(), false, false);
                    kernels.addi(dx, kernels.dropout(t, s.keep(), s.keepScale(), t));
                }
            }
            if (p.a().requiresGrad()) r[2 + 2 * i] = Gemm.mm(dh, s.xd(), true, false); // [r, in]
            if (p.b().requiresGrad())
                r[3 + 2 * i] = Gemm.mm(gi, s.h(), true, false).muli(p.scaling()); // [w, r]
        }
        if (dx != null) r[0] = dx.reshape('c', xs);
        if (w.requiresGrad()) r[1] = Gemm.mm(g2, x2, true, false); // [out, in]
        return r;
    }

    private static void check(LowRank s, Tensor x, long in, long width) {
        long[] as = s.a().shape(), bs = s.b().shape();
        if (as.length != 2 || bs.length != 2 || as[1] != in || bs[0] != width || bs[1] != as[0]) {
            throw new IllegalArgumentException("linearSplit: side path A [r, in] = " + Arrays.toString(as)
                    + ", B [out, r] = " + Arrays.toString(bs) + " do not fit input width " + in + " and part width "
                    + width + (s.a().name() == null ? "" : " (" + s.a().name() + ")"));
        }
        Ops.sameDtype("linearSplit", x, s.a());
        Ops.sameDtype("linearSplit", x, s.b());
        if (s.dropout() < 0 || s.dropout() >= 1)
            throw new IllegalArgumentException("linearSplit: dropout must be in [0, 1), got " + s.dropout());
        if (s.maskRows() != null && s.maskRows().length * in != x.data().length())
            throw new IllegalArgumentException("linearSplit: side path at " + s.maskRows().length
                    + " selected rows, but the input " + java.util.Arrays.toString(x.shape()) + " has "
                    + x.data().length() / in + (s.a().name() == null ? "" : " (" + s.a().name() + ")"));
    }
}
