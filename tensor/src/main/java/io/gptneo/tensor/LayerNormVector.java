package io.gptneo.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API rows of {@link LayerNormKernel}'s float path, straight on the ND4J arrays' native memory (no copies in
 * or out). Row sums are taken in float lanes (C/L terms per lane, the mean's around the row's first value) and
 * combined in double; the per-block dγ, dβ
 * partials are float lanes over the block's rows, summed in block order by the caller in double.
 */
final class LayerNormVector {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int L = SP.length();
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    private LayerNormVector() {}

    /** Rows [lo, hi) of y = (x − μ)·r·γ + β, with μ and r written to mean[i], rstd[i]. */
    static void forward(ByteBuffer x, ByteBuffer y, float[] gam, float[] bet, int c, double eps, double[] mean, double[] rstd, int lo, int hi) {
        int vc = SP.loopBound(c);
        for (int i = lo; i < hi; i++) {
            int o = i * c;
            // sum of x − x₀ (x₀ the row's first value): float lanes then lose precision relative to the row's
            // spread, not to its magnitude (a row with mean 50 and deviation 2 lost 2e-5 of x̂ without the shift)
            float x0 = x.getFloat(o * 4);
            FloatVector acc = FloatVector.zero(SP);
            for (int j = 0; j < vc; j += L) acc = acc.add(load(x, o + j).sub(x0));
            double s = acc.reduceLanes(VectorOperators.ADD);
            for (int j = vc; j < c; j++) s += x.getFloat((o + j) * 4) - x0;
            double m = x0 + s / c;
            float mf = (float) m;
            acc = FloatVector.zero(SP);
            for (int j = 0; j < vc; j += L) {
                FloatVector d = load(x, o + j).sub(mf);
                acc = d.fma(d, acc);
            }
            double v = acc.reduceLanes(VectorOperators.ADD);
            for (int j = vc; j < c; j++) { double d = x.getFloat((o + j) * 4) - m; v += d * d; }
            double r = 1.0 / Math.sqrt(v / c + eps);
            mean[i] = m;
            rstd[i] = r;
            float rf = (float) r;
            for (int j = 0; j < vc; j += L) {
                load(x, o + j).sub(mf).mul(rf).fma(FloatVector.fromArray(SP, gam, j), FloatVector.fromArray(SP, bet, j))
                        .intoByteBuffer(y, (o + j) * 4, NATIVE);
            }
            for (int j = vc; j < c; j++) y.putFloat((o + j) * 4, (x.getFloat((o + j) * 4) - mf) * rf * gam[j] + bet[j]);
        }
    }

    /**
     * Rows [lo, hi) of backward: dx (when {@code dx != null}) and this block's dγ, dβ partials (float [c] each,
     * accumulated; null when not wanted).
     */
    static void backward(ByteBuffer x, ByteBuffer g, ByteBuffer dx, float[] gam, int c, double[] mean, double[] rstd,
                         float[] dgb, float[] dbb, int lo, int hi) {
        int vc = SP.loopBound(c);
        for (int i = lo; i < hi; i++) {
            int o = i * c;
            float mf = (float) mean[i], rf = (float) rstd[i];
            FloatVector p = FloatVector.zero(SP), q = FloatVector.zero(SP);           // Σ dx̂, Σ dx̂·x̂
            for (int j = 0; j < vc; j += L) {
                FloatVector xh = load(x, o + j).sub(mf).mul(rf), gv = load(g, o + j);
                FloatVector d = gv.mul(FloatVector.fromArray(SP, gam, j));
                p = p.add(d);
                q = d.fma(xh, q);
                if (dgb != null) gv.fma(xh, FloatVector.fromArray(SP, dgb, j)).intoArray(dgb, j);
                if (dbb != null) gv.add(FloatVector.fromArray(SP, dbb, j)).intoArray(dbb, j);
            }
            double s1 = p.reduceLanes(VectorOperators.ADD), s2 = q.reduceLanes(VectorOperators.ADD);
            for (int j = vc; j < c; j++) {
                float xh = (x.getFloat((o + j) * 4) - mf) * rf, gj = g.getFloat((o + j) * 4), d = gj * gam[j];
                s1 += d;
                s2 += d * xh;
                if (dgb != null) dgb[j] += gj * xh;
                if (dbb != null) dbb[j] += gj;
            }
            if (dx == null) continue;
            float a1 = (float) (s1 / c), a2 = (float) (s2 / c);
            for (int j = 0; j < vc; j += L) {
                FloatVector xh = load(x, o + j).sub(mf).mul(rf);
                load(g, o + j).mul(FloatVector.fromArray(SP, gam, j)).sub(a1).sub(xh.mul(a2)).mul(rf).intoByteBuffer(dx, (o + j) * 4, NATIVE);
            }
            for (int j = vc; j < c; j++) {
                float xh = (x.getFloat((o + j) * 4) - mf) * rf;
                dx.putFloat((o + j) * 4, rf * (g.getFloat((o + j) * 4) * gam[j] - a1 - xh * a2));
            }
        }
    }

    private static FloatVector load(ByteBuffer b, int element) {
        return FloatVector.fromByteBuffer(SP, b, element * 4, NATIVE);
    }
}
