package io.gptneo.tensor;

import static io.gptneo.tensor.NativeVectors.LOAD_FLOATS;
import static io.gptneo.tensor.NativeVectors.STORE_FLOATS;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Fast float32 LayerNorm over the last dim of {@code x [N, C]} (reference: {@link Reference#layerNorm}), one Vector API
 * pass each way on the arrays' own memory, fixed row blocks in parallel:
 * <pre>
 *   μ = mean(x),  r = 1/√(var(x) + eps),  x̂ = (x − μ)·r,  y = x̂·γ + β
 *   dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = g·γ;   dγ = Σₙ g·x̂,  dβ = Σₙ g
 * </pre>
 * Why: as ND4J ops the forward is seven passes (two with hidden copies for the broadcasts) and the backward nine.
 * Backward rebuilds x̂ from x and the per-row μ, r, so only those two [N] vectors are saved beside the input. Row
 * sums are taken in float lanes (the mean's around the row's first value) and combined in double; dγ and dβ are
 * float partials per fixed row block, added in block order in double, so results do not depend on thread scheduling.
 */
final class FastLayerNorm {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    /**
     * {@link VectorMath#sum}'s fixed tree, written out at each row sum. Not {@code reduceLanes(ADD)}, whose order is
     * the JIT's choice: on Temurin 25 a row's sums, and so a resumed run's parameters, depended on which tier had
     * compiled the kernel (SignalResumeTest's resumed run differed from the uninterrupted one there; Java 17 agreed).
     */
    private static final VectorShuffle<Float>[] HALVES = VectorMath.halves(SP);
    /** Rows per parallel block: about 32K elements at C = 768. */
    private static final int BLOCK_ELEMS = 1 << 15;

    private FastLayerNorm() {}

    /** y [..., C] (x's shape) and its backward; x, gamma [C], beta [C] FLOAT; rows are x's N = length / C. */
    static Kernels.LayerNormForward forward(INDArray x, INDArray gamma, INDArray beta, double eps) {
        int c = (int) x.size(x.rank() - 1), n = (int) (x.length() / c);
        double[] mean = new double[n], rstd = new double[n];
        float[] gs = JavaArrays.floats(gamma), bs = JavaArrays.floats(beta);
        try (FloatView xv = FloatView.read(x);
                FloatView y = FloatView.create(x.shape())) {
            rows(n, c, (lo, hi) -> forward(xv.mem, y.mem, gs, bs, c, eps, mean, rstd, lo, hi));
            return new Kernels.LayerNormForward(
                    y.array(),
                    (g, wantX, wantGamma, wantBeta, addTo) ->
                            backward(x, g, addTo, gs, mean, rstd, wantX, wantGamma, wantBeta));
        }
    }

    private static Kernels.LayerNormGrads backward(
            INDArray x,
            INDArray g,
            INDArray addTo,
            float[] gam,
            double[] mean,
            double[] rstd,
            boolean wantX,
            boolean wantGamma,
            boolean wantBeta) {
        int c = (int) x.size(x.rank() - 1), n = (int) (x.length() / c);
        int blocks = (n + rowsPerBlock(c) - 1) / rowsPerBlock(c);
        float[][] dg = wantGamma ? new float[blocks][c] : null, db = wantBeta ? new float[blocks][c] : null;
        try (FloatView xv = FloatView.read(x);
                FloatView gv = FloatView.read(g);
                FloatView dx = wantX ? FloatView.create(x.shape()) : null;
                FloatView av = wantX && addTo != null ? FloatView.read(addTo.castTo(DataType.FLOAT)) : null) {
            NativeMemory dxb = dx == null ? null : dx.mem, ab = av == null ? null : av.mem;
            rows(n, c, (lo, hi) -> {
                int b = lo / rowsPerBlock(c);
                backward(
                        xv.mem,
                        gv.mem,
                        dxb,
                        ab,
                        gam,
                        c,
                        mean,
                        rstd,
                        dg == null ? null : dg[b],
                        db == null ? null : db[b],
                        lo,
                        hi);
            });
            return new Kernels.LayerNormGrads(
                    dx == null ? null : dx.array(),
                    wantGamma ? sumBlocks(dg, c) : null,
                    wantBeta ? sumBlocks(db, c) : null);
        }
    }

    /** Σ over blocks, in block order, in double, as a FLOAT [C]. */
    private static INDArray sumBlocks(float[][] parts, int c) {
        double[] s = new double[c];
        for (float[] p : parts) for (int j = 0; j < c; j++) s[j] += p[j];
        return JavaArrays.array(s, c).castTo(DataType.FLOAT);
    }

    private static int rowsPerBlock(int c) {
        return Math.max(1, BLOCK_ELEMS / Math.max(1, c));
    }

    /** body(lo, hi) over fixed row blocks of {@link #rowsPerBlock} rows, in parallel when there is more than one. */
    private static void rows(int n, int c, Blocks.Range body) {
        Blocks.run(n, rowsPerBlock(c), body);
    }

    /** Rows [lo, hi) of y = (x − μ)·r·γ + β, with μ and r written to mean[i], rstd[i]. */
    private static void forward(
            NativeMemory x,
            NativeMemory y,
            float[] gam,
            float[] bet,
            int c,
            double eps,
            double[] mean,
            double[] rstd,
            int lo,
            int hi) {
        int vc = SP.loopBound(c);
        try {
            for (int i = lo; i < hi; i++) {
                int o = i * c;
                // sum of x − x₀ (x₀ the row's first value): float lanes then lose precision relative to the row's
                // spread, not to its magnitude (a row with mean 50 and deviation 2 lost 2e-5 of x̂ without the shift)
                float x0 = x.buf.getFloat(o * 4);
                FloatVector acc = FloatVector.zero(SP);
                for (int j = 0; j < vc; j += L) {
                    FloatVector xv = (FloatVector) LOAD_FLOATS.invokeExact(SP, x, (o + j) * 4);
                    acc = acc.add(xv.sub(x0));
                }
                for (VectorShuffle<Float> h : HALVES) acc = acc.add(acc.rearrange(h));
                double s = acc.lane(0);
                for (int j = vc; j < c; j++) s += x.buf.getFloat((o + j) * 4) - x0;
                double m = x0 + s / c;
                float mf = (float) m;
                acc = FloatVector.zero(SP);
                for (int j = 0; j < vc; j += L) {
                    FloatVector d = ((FloatVector) LOAD_FLOATS.invokeExact(SP, x, (o + j) * 4)).sub(mf);
                    acc = d.fma(d, acc);
                }
                for (VectorShuffle<Float> h : HALVES) acc = acc.add(acc.rearrange(h));
                double v = acc.lane(0);
                for (int j = vc; j < c; j++) {
                    double d = x.buf.getFloat((o + j) * 4) - m;
                    v += d * d;
                }
                double r = 1.0 / Math.sqrt(v / c + eps);
                mean[i] = m;
                rstd[i] = r;
                float rf = (float) r;
                for (int j = 0; j < vc; j += L) {
                    FloatVector yv = ((FloatVector) LOAD_FLOATS.invokeExact(SP, x, (o + j) * 4))
                            .sub(mf)
                            .mul(rf)
                            .fma(FloatVector.fromArray(SP, gam, j), FloatVector.fromArray(SP, bet, j));
                    STORE_FLOATS.invokeExact(yv, y, (o + j) * 4);
                }
                for (int j = vc; j < c; j++)
                    y.buf.putFloat((o + j) * 4, (x.buf.getFloat((o + j) * 4) - mf) * rf * gam[j] + bet[j]);
            }
        } catch (Throwable t) {
            throw NativeVectors.rethrow(t);
        }
    }

    /**
     * Rows [lo, hi) of backward: dx (when {@code dx != null}; plus {@code add} when that is not null) and this block's
     * dγ, dβ partials (float [c] each, accumulated; null when not wanted).
     */
    private static void backward(
            NativeMemory x,
            NativeMemory g,
            NativeMemory dx,
            NativeMemory add,
            float[] gam,
            int c,
            double[] mean,
            double[] rstd,
            float[] dgb,
            float[] dbb,
            int lo,
            int hi) {
        int vc = SP.loopBound(c);
        try {
            for (int i = lo; i < hi; i++) {
                int o = i * c;
                float mf = (float) mean[i], rf = (float) rstd[i];
                FloatVector p = FloatVector.zero(SP), q = FloatVector.zero(SP); // Σ dx̂, Σ dx̂·x̂
                for (int j = 0; j < vc; j += L) {
                    FloatVector xv = (FloatVector) LOAD_FLOATS.invokeExact(SP, x, (o + j) * 4);
                    FloatVector gv = (FloatVector) LOAD_FLOATS.invokeExact(SP, g, (o + j) * 4);
                    FloatVector xh = xv.sub(mf).mul(rf);
                    FloatVector d = gv.mul(FloatVector.fromArray(SP, gam, j));
                    p = p.add(d);
                    q = d.fma(xh, q);
                    if (dgb != null)
                        gv.fma(xh, FloatVector.fromArray(SP, dgb, j)).intoArray(dgb, j);
                    if (dbb != null) gv.add(FloatVector.fromArray(SP, dbb, j)).intoArray(dbb, j);
                }
                for (VectorShuffle<Float> h : HALVES) {
                    p = p.add(p.rearrange(h));
                    q = q.add(q.rearrange(h));
                }
                double s1 = p.lane(0), s2 = q.lane(0);
                for (int j = vc; j < c; j++) {
                    float xh = (x.buf.getFloat((o + j) * 4) - mf) * rf,
                            gj = g.buf.getFloat((o + j) * 4),
                            d = gj * gam[j];
                    s1 += d;
                    s2 += d * xh;
                    if (dgb != null) dgb[j] += gj * xh;
                    if (dbb != null) dbb[j] += gj;
                }
                if (dx == null) continue;
                float a1 = (float) (s1 / c), a2 = (float) (s2 / c);
                for (int j = 0; j < vc; j += L) {
                    FloatVector xh = ((FloatVector) LOAD_FLOATS.invokeExact(SP, x, (o + j) * 4))
                            .sub(mf)
                            .mul(rf);
                    FloatVector d = ((FloatVector) LOAD_FLOATS.invokeExact(SP, g, (o + j) * 4))
                            .mul(FloatVector.fromArray(SP, gam, j))
                            .sub(a1)
                            .sub(xh.mul(a2))
                            .mul(rf);
                    if (add != null) d = d.add((FloatVector) LOAD_FLOATS.invokeExact(SP, add, (o + j) * 4));
                    STORE_FLOATS.invokeExact(d, dx, (o + j) * 4);
                }
                for (int j = vc; j < c; j++) {
                    float xh = (x.buf.getFloat((o + j) * 4) - mf) * rf;
                    float d = rf * (g.buf.getFloat((o + j) * 4) * gam[j] - a1 - xh * a2);
                    dx.buf.putFloat((o + j) * 4, add == null ? d : d + add.buf.getFloat((o + j) * 4));
                }
            }
        } catch (Throwable t) {
            throw NativeVectors.rethrow(t);
        }
    }
}
