package io.gptneo.tensor;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * LayerNorm over the last dimension of {@code x [N, C]}, one pass each way over Java arrays, row blocks in parallel:
 * <pre>
 *   μ = mean(x),  r = 1/√(var(x) + eps),  x̂ = (x − μ)·r,  y = x̂·γ + β
 *   dx = r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)),  dx̂ = g·γ;   dγ = Σₙ g·x̂,  dβ = Σₙ g
 * </pre>
 * Why: as ND4J ops the forward was seven passes (two with hidden copies for the broadcasts) and the backward nine,
 * 5% of a 125M forward. Backward rebuilds x̂ from x and the per-row μ, r, so only those two [N] vectors are saved
 * beside the input. Row statistics are accumulated in double; dγ and dβ are summed per fixed row block and the
 * blocks added in order, so results do not depend on thread scheduling.
 */
final class LayerNormKernel {
    /** Rows per parallel block: about 32K elements at C = 768. */
    private static final int BLOCK_ELEMS = 1 << 15;

    private LayerNormKernel() {}

    /** Forward output and the per-row statistics backward needs. */
    record Forward(INDArray y, double[] mean, double[] rstd) {}

    /** Gradients; a slot is null when not asked for. */
    record Grads(INDArray dx, INDArray dGamma, INDArray dBeta) {}

    static Forward forward(INDArray x, INDArray gamma, INDArray beta, double eps) {
        int n = (int) x.size(0), c = (int) x.size(1);
        double[] mean = new double[n], rstd = new double[n];
        if (x.dataType() == DataType.DOUBLE) {
            double[] xs = JavaArrays.doubles(x), gs = JavaArrays.doubles(gamma), bs = JavaArrays.doubles(beta), y = new double[n * c];
            rows(n, c, (lo, hi) -> {
                for (int i = lo; i < hi; i++) {
                    int o = i * c;
                    stats(xs, o, c, eps, mean, rstd, i);
                    double m = mean[i], r = rstd[i];
                    for (int j = 0; j < c; j++) y[o + j] = (xs[o + j] - m) * r * gs[j] + bs[j];
                }
            });
            return new Forward(JavaArrays.array(y, n, c), mean, rstd);
        }
        float[] gs = JavaArrays.floats(gamma), bs = JavaArrays.floats(beta);
        if (VectorApi.PRESENT && JavaArrays.bytesFit(x)) {                      // in place on the arrays' own memory
            INDArray xc = JavaArrays.contiguous(x), out = org.nd4j.linalg.factory.Nd4j.createUninitialized(DataType.FLOAT, new long[] {n, c}, 'c');
            java.nio.ByteBuffer xb = JavaArrays.bytes(xc), yb = JavaArrays.bytes(out);
            rows(n, c, (lo, hi) -> LayerNormVector.forward(xb, yb, gs, bs, c, eps, mean, rstd, lo, hi));
            java.lang.ref.Reference.reachabilityFence(xc);
            return new Forward(out, mean, rstd);
        }
        float[] xs = JavaArrays.floats(x, JavaArrays.scratch(0, n * c)), y = JavaArrays.scratch(1, n * c);
        rows(n, c, (lo, hi) -> {
            for (int i = lo; i < hi; i++) {
                int o = i * c;
                statsFloat(xs, o, c, eps, mean, rstd, i);
                float m = (float) mean[i], r = (float) rstd[i];
                for (int j = 0; j < c; j++) y[o + j] = (xs[o + j] - m) * r * gs[j] + bs[j];
            }
        });
        return new Forward(JavaArrays.arrayPrefix(y, n, c), mean, rstd);
    }

    static Grads backward(INDArray x, INDArray g, INDArray gamma, Forward f, boolean wantX, boolean wantGamma, boolean wantBeta) {
        int n = (int) x.size(0), c = (int) x.size(1), blocks = (n + rowsPerBlock(c) - 1) / rowsPerBlock(c);
        double[] mean = f.mean(), rstd = f.rstd();
        if (x.dataType() == DataType.FLOAT && VectorApi.PRESENT && JavaArrays.bytesFit(x)) {   // on the arrays' own memory
            float[][] dg = wantGamma ? new float[blocks][c] : null, db = wantBeta ? new float[blocks][c] : null;
            float[] gam = JavaArrays.floats(gamma);
            INDArray xc = JavaArrays.contiguous(x), gc = JavaArrays.contiguous(g);
            INDArray dx = wantX ? org.nd4j.linalg.factory.Nd4j.createUninitialized(DataType.FLOAT, new long[] {n, c}, 'c') : null;
            java.nio.ByteBuffer xb = JavaArrays.bytes(xc), gb = JavaArrays.bytes(gc), dxb = dx == null ? null : JavaArrays.bytes(dx);
            rows(n, c, (lo, hi) -> {
                int b = lo / rowsPerBlock(c);
                LayerNormVector.backward(xb, gb, dxb, gam, c, mean, rstd, dg == null ? null : dg[b], db == null ? null : db[b], lo, hi);
            });
            java.lang.ref.Reference.reachabilityFence(xc);
            java.lang.ref.Reference.reachabilityFence(gc);
            return new Grads(dx, wantGamma ? sumBlocks(toDouble(dg), c, x.dataType()) : null, wantBeta ? sumBlocks(toDouble(db), c, x.dataType()) : null);
        }
        double[][] dg = wantGamma ? new double[blocks][c] : null, db = wantBeta ? new double[blocks][c] : null;
        INDArray dx;
        if (x.dataType() == DataType.FLOAT) {
            float[] xf = JavaArrays.floats(x, JavaArrays.scratch(0, n * c)), gf = JavaArrays.floats(g, JavaArrays.scratch(1, n * c));
            float[] gamf = JavaArrays.floats(gamma), dxf = wantX ? JavaArrays.scratch(2, n * c) : null;
            rows(n, c, (lo, hi) -> backwardRowsFloat(lo, hi, c, xf, gf, gamf, mean, rstd, dg, db, dxf));
            dx = wantX ? JavaArrays.arrayPrefix(dxf, n, c) : null;
        } else {
            double[] xd = JavaArrays.doubles(x), gd = JavaArrays.doubles(g), gamd = JavaArrays.doubles(gamma);
            double[] dxd = wantX ? new double[n * c] : null;
            rows(n, c, (lo, hi) -> {
                int b = lo / rowsPerBlock(c);
                for (int i = lo; i < hi; i++) {
                    int o = i * c;
                    double m = mean[i], r = rstd[i], s1 = 0, s2 = 0;
                    for (int j = 0; j < c; j++) {
                        double xh = (xd[o + j] - m) * r, gj = gd[o + j];
                        double dxh = gj * gamd[j];
                        s1 += dxh;
                        s2 += dxh * xh;
                        if (dg != null) dg[b][j] += gj * xh;
                        if (db != null) db[b][j] += gj;
                    }
                    if (dxd == null) continue;
                    double a1 = s1 / c, a2 = s2 / c;
                    for (int j = 0; j < c; j++) {
                        double xh = (xd[o + j] - m) * r;
                        dxd[o + j] = r * (gd[o + j] * gamd[j] - a1 - xh * a2);
                    }
                }
            });
            dx = wantX ? JavaArrays.array(dxd, n, c) : null;
        }
        return new Grads(dx, wantGamma ? sumBlocks(dg, c, x.dataType()) : null, wantBeta ? sumBlocks(db, c, x.dataType()) : null);
    }

    /**
     * Float rows [lo, hi) of backward. The two row sums run in four independent double accumulators each (one chain
     * of dependent adds was the kernel's bottleneck: ~4 cycles per element), and dx is computed in float.
     */
    private static void backwardRowsFloat(int lo, int hi, int c, float[] x, float[] g, float[] gam, double[] mean, double[] rstd,
                                          double[][] dg, double[][] db, float[] dx) {
        int b = lo / rowsPerBlock(c);
        double[] dgb = dg == null ? null : dg[b], dbb = db == null ? null : db[b];
        for (int i = lo; i < hi; i++) {
            int o = i * c;
            double m = mean[i], r = rstd[i];
            double p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0, q2 = 0, q3 = 0;   // Σ dx̂ and Σ dx̂·x̂, by j mod 4
            int j = 0;
            for (; j + 4 <= c; j += 4) {
                double x0 = (x[o + j] - m) * r, x1 = (x[o + j + 1] - m) * r, x2 = (x[o + j + 2] - m) * r, x3 = (x[o + j + 3] - m) * r;
                double d0 = g[o + j] * gam[j], d1 = g[o + j + 1] * gam[j + 1], d2 = g[o + j + 2] * gam[j + 2], d3 = g[o + j + 3] * gam[j + 3];
                p0 += d0; p1 += d1; p2 += d2; p3 += d3;
                q0 += d0 * x0; q1 += d1 * x1; q2 += d2 * x2; q3 += d3 * x3;
            }
            for (; j < c; j++) {
                double xh = (x[o + j] - m) * r, d = g[o + j] * gam[j];
                p0 += d;
                q0 += d * xh;
            }
            if (dgb != null) for (int k = 0; k < c; k++) dgb[k] += g[o + k] * ((x[o + k] - m) * r);
            if (dbb != null) for (int k = 0; k < c; k++) dbb[k] += g[o + k];
            if (dx == null) continue;
            float a1 = (float) (((p0 + p1) + (p2 + p3)) / c), a2 = (float) (((q0 + q1) + (q2 + q3)) / c), mf = (float) m, rf = (float) r;
            for (int k = 0; k < c; k++) dx[o + k] = rf * (g[o + k] * gam[k] - a1 - (x[o + k] - mf) * rf * a2);
        }
    }

    /** {@link #stats} for a float row, with eight independent double accumulators per sum instead of one chain. */
    private static void statsFloat(float[] x, int o, int c, double eps, double[] mean, double[] rstd, int i) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        int j = 0;
        for (; j + 8 <= c; j += 8) {
            s0 += x[o + j]; s1 += x[o + j + 1]; s2 += x[o + j + 2]; s3 += x[o + j + 3];
            s4 += x[o + j + 4]; s5 += x[o + j + 5]; s6 += x[o + j + 6]; s7 += x[o + j + 7];
        }
        for (; j < c; j++) s0 += x[o + j];
        double m = (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) / c;
        s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0;
        j = 0;
        for (; j + 8 <= c; j += 8) {
            double d0 = x[o + j] - m, d1 = x[o + j + 1] - m, d2 = x[o + j + 2] - m, d3 = x[o + j + 3] - m;
            double d4 = x[o + j + 4] - m, d5 = x[o + j + 5] - m, d6 = x[o + j + 6] - m, d7 = x[o + j + 7] - m;
            s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3; s4 += d4 * d4; s5 += d5 * d5; s6 += d6 * d6; s7 += d7 * d7;
        }
        for (; j < c; j++) { double d = x[o + j] - m; s0 += d * d; }
        double v = (((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))) / c;
        mean[i] = m;
        rstd[i] = 1.0 / Math.sqrt(v + eps);
    }

    /** Row mean and 1/√(var + eps) of the double row x[o, o + c), into mean[i], rstd[i]. */
    private static void stats(double[] x, int o, int c, double eps, double[] mean, double[] rstd, int i) {
        double s = 0;
        for (int j = 0; j < c; j++) s += x[o + j];
        double m = s / c, v = 0;
        for (int j = 0; j < c; j++) { double d = x[o + j] - m; v += d * d; }
        mean[i] = m;
        rstd[i] = 1.0 / Math.sqrt(v / c + eps);
    }

    /** Σ over blocks, in block order, as a [C] array of {@code dt}. */
    private static INDArray sumBlocks(double[][] parts, int c, DataType dt) {
        double[] s = new double[c];
        for (double[] p : parts) for (int j = 0; j < c; j++) s[j] += p[j];
        INDArray a = JavaArrays.array(s, c);
        return dt == DataType.DOUBLE ? a : a.castTo(dt);
    }

    private static double[][] toDouble(float[][] parts) {
        double[][] d = new double[parts.length][];
        for (int b = 0; b < parts.length; b++) {
            d[b] = new double[parts[b].length];
            for (int j = 0; j < parts[b].length; j++) d[b][j] = parts[b][j];
        }
        return d;
    }

    private static int rowsPerBlock(int c) { return Math.max(1, BLOCK_ELEMS / Math.max(1, c)); }

    /** body(lo, hi) over fixed row blocks of {@link #rowsPerBlock} rows, in parallel when there is more than one. */
    private static void rows(int n, int c, Blocks.Range body) { Blocks.run(n, rowsPerBlock(c), body); }
}
