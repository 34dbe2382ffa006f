package io.gptneo.tensor.attention;

import io.gptneo.tensor.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Vector API micro-kernels on float[] rows used by {@link FusedAttention}. */
final class FloatKernels {
    static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    static final int L = SP.length();

    private FloatKernels() {}

    /**
     * {@code out[o + x] (+)= sum_c w[wOff + c*wStride] * m[mOff + c*mStride + x]} for x in [0, n), c in [0, count).
     * Accumulators stay in registers (4 vectors wide) while streaming over c: a row times a matrix.
     */
    static void rowCombine(float[] w, int wOff, int wStride, int count,
                           float[] m, int mOff, int mStride, float[] out, int o, int n, boolean accumulate) {
        int x = 0;
        for (; x + 4 * L <= n; x += 4 * L) {
            FloatVector a0, a1, a2, a3;
            if (accumulate) {
                a0 = FloatVector.fromArray(SP, out, o + x);
                a1 = FloatVector.fromArray(SP, out, o + x + L);
                a2 = FloatVector.fromArray(SP, out, o + x + 2 * L);
                a3 = FloatVector.fromArray(SP, out, o + x + 3 * L);
            } else {
                a0 = a1 = a2 = a3 = FloatVector.zero(SP);
            }
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) {
                FloatVector wc = FloatVector.broadcast(SP, w[wi]);
                a0 = FloatVector.fromArray(SP, m, mi).fma(wc, a0);
                a1 = FloatVector.fromArray(SP, m, mi + L).fma(wc, a1);
                a2 = FloatVector.fromArray(SP, m, mi + 2 * L).fma(wc, a2);
                a3 = FloatVector.fromArray(SP, m, mi + 3 * L).fma(wc, a3);
            }
            a0.intoArray(out, o + x);
            a1.intoArray(out, o + x + L);
            a2.intoArray(out, o + x + 2 * L);
            a3.intoArray(out, o + x + 3 * L);
        }
        for (; x + L <= n; x += L) {
            FloatVector a = accumulate ? FloatVector.fromArray(SP, out, o + x) : FloatVector.zero(SP);
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride)
                a = FloatVector.fromArray(SP, m, mi).fma(FloatVector.broadcast(SP, w[wi]), a);
            a.intoArray(out, o + x);
        }
        for (; x < n; x++) {
            float a = accumulate ? out[o + x] : 0f;
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) a += w[wi] * m[mi];
            out[o + x] = a;
        }
    }

    /** Max of s[from, to). */
    static float max(float[] s, int from, int to) {
        int x = from;
        float mx = Float.NEGATIVE_INFINITY;
        if (to - from >= L) {
            FloatVector a = FloatVector.broadcast(SP, Float.NEGATIVE_INFINITY);
            for (; x + L <= to; x += L) a = a.max(FloatVector.fromArray(SP, s, x));
            mx = a.reduceLanes(VectorOperators.MAX);
        }
        for (; x < to; x++) mx = Math.max(mx, s[x]);
        return mx;
    }

    /** s[x] = exp(s[x] - shift) for x in [from, to); returns the sum. exp(-inf) = 0. */
    static float expShiftSum(float[] s, int from, int to, float shift) {
        int x = from;
        float sum = 0f;
        if (to - from >= L) {
            FloatVector sh = FloatVector.broadcast(SP, shift), acc = FloatVector.zero(SP);
            for (; x + L <= to; x += L) {
                FloatVector e = VectorMath.exp(FloatVector.fromArray(SP, s, x).sub(sh));
                e.intoArray(s, x);
                acc = acc.add(e);
            }
            sum = VectorMath.sum(acc);
        }
        for (; x < to; x++) {
            float e = (float) Math.exp(s[x] - shift);
            s[x] = e;
            sum += e;
        }
        return sum;
    }

    /** s[x] = exp(s[x] - shift) for x in [from, to) without the sum. */
    static void expShift(float[] s, int from, int to, float shift) {
        int x = from;
        FloatVector sh = FloatVector.broadcast(SP, shift);
        for (; x + L <= to; x += L)
            VectorMath.exp(FloatVector.fromArray(SP, s, x).sub(sh)).intoArray(s, x);
        for (; x < to; x++) s[x] = (float) Math.exp(s[x] - shift);
    }

    /** a[x] *= c for x in [from, to). */
    static void scale(float[] a, int from, int to, float c) {
        int x = from;
        for (; x + L <= to; x += L) FloatVector.fromArray(SP, a, x).mul(c).intoArray(a, x);
        for (; x < to; x++) a[x] *= c;
    }

    /** Dot product of a[ao, ao+n) and b[bo, bo+n). */
    static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int x = 0;
        float sum = 0f;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(SP);
            for (; x + L <= n; x += L)
                acc = FloatVector.fromArray(SP, a, ao + x).fma(FloatVector.fromArray(SP, b, bo + x), acc);
            sum = VectorMath.sum(acc);
        }
        for (; x < n; x++) sum += a[ao + x] * b[bo + x];
        return sum;
    }
}
