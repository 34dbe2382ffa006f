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

    /**
     * {@link #rowCombine} for four output rows at once: {@code out[o + ρ*oRow + x] (+)= sum_c w[wOff + ρ*wRow + c*wStride]
     * * m[mOff + c*mStride + x]} for ρ in [0, 4). Each loaded vector of m feeds four rows (16 accumulators, within
     * AVX-512's 32 registers), so a row of the matrix is read once per four output rows instead of once per row.
     */
    static void rowCombine4(float[] w, int wOff, int wRow, int wStride, int count,
                            float[] m, int mOff, int mStride, float[] out, int o, int oRow, int n, boolean accumulate) {
        int x = 0;
        for (; x + 4 * L <= n; x += 4 * L) {
            FloatVector a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33;
            if (accumulate) {
                a00 = FloatVector.fromArray(SP, out, o + x + 0 * L);
                a01 = FloatVector.fromArray(SP, out, o + x + 1 * L);
                a02 = FloatVector.fromArray(SP, out, o + x + 2 * L);
                a03 = FloatVector.fromArray(SP, out, o + x + 3 * L);
                a10 = FloatVector.fromArray(SP, out, o + 1 * oRow + x + 0 * L);
                a11 = FloatVector.fromArray(SP, out, o + 1 * oRow + x + 1 * L);
                a12 = FloatVector.fromArray(SP, out, o + 1 * oRow + x + 2 * L);
                a13 = FloatVector.fromArray(SP, out, o + 1 * oRow + x + 3 * L);
                a20 = FloatVector.fromArray(SP, out, o + 2 * oRow + x + 0 * L);
                a21 = FloatVector.fromArray(SP, out, o + 2 * oRow + x + 1 * L);
                a22 = FloatVector.fromArray(SP, out, o + 2 * oRow + x + 2 * L);
                a23 = FloatVector.fromArray(SP, out, o + 2 * oRow + x + 3 * L);
                a30 = FloatVector.fromArray(SP, out, o + 3 * oRow + x + 0 * L);
                a31 = FloatVector.fromArray(SP, out, o + 3 * oRow + x + 1 * L);
                a32 = FloatVector.fromArray(SP, out, o + 3 * oRow + x + 2 * L);
                a33 = FloatVector.fromArray(SP, out, o + 3 * oRow + x + 3 * L);
            } else {
                a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = FloatVector.zero(SP);
            }
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) {
                FloatVector m0 = FloatVector.fromArray(SP, m, mi), m1 = FloatVector.fromArray(SP, m, mi + L);
                FloatVector m2 = FloatVector.fromArray(SP, m, mi + 2 * L), m3 = FloatVector.fromArray(SP, m, mi + 3 * L);
                FloatVector w0 = FloatVector.broadcast(SP, w[wi]);
                a00 = m0.fma(w0, a00); a01 = m1.fma(w0, a01); a02 = m2.fma(w0, a02); a03 = m3.fma(w0, a03);
                FloatVector w1 = FloatVector.broadcast(SP, w[wi + wRow]);
                a10 = m0.fma(w1, a10); a11 = m1.fma(w1, a11); a12 = m2.fma(w1, a12); a13 = m3.fma(w1, a13);
                FloatVector w2 = FloatVector.broadcast(SP, w[wi + 2 * wRow]);
                a20 = m0.fma(w2, a20); a21 = m1.fma(w2, a21); a22 = m2.fma(w2, a22); a23 = m3.fma(w2, a23);
                FloatVector w3 = FloatVector.broadcast(SP, w[wi + 3 * wRow]);
                a30 = m0.fma(w3, a30); a31 = m1.fma(w3, a31); a32 = m2.fma(w3, a32); a33 = m3.fma(w3, a33);
            }
            a00.intoArray(out, o + x + 0 * L); a01.intoArray(out, o + x + 1 * L); a02.intoArray(out, o + x + 2 * L); a03.intoArray(out, o + x + 3 * L);
            a10.intoArray(out, o + 1 * oRow + x + 0 * L); a11.intoArray(out, o + 1 * oRow + x + 1 * L); a12.intoArray(out, o + 1 * oRow + x + 2 * L); a13.intoArray(out, o + 1 * oRow + x + 3 * L);
            a20.intoArray(out, o + 2 * oRow + x + 0 * L); a21.intoArray(out, o + 2 * oRow + x + 1 * L); a22.intoArray(out, o + 2 * oRow + x + 2 * L); a23.intoArray(out, o + 2 * oRow + x + 3 * L);
            a30.intoArray(out, o + 3 * oRow + x + 0 * L); a31.intoArray(out, o + 3 * oRow + x + 1 * L); a32.intoArray(out, o + 3 * oRow + x + 2 * L); a33.intoArray(out, o + 3 * oRow + x + 3 * L);
        }
        for (; x < n; x += L) {                                  // remaining columns, one (masked) vector per row
            var mask = SP.indexInRange(x, n);
            FloatVector b0, b1, b2, b3;
            if (accumulate) {
                b0 = FloatVector.fromArray(SP, out, o + x, mask);
                b1 = FloatVector.fromArray(SP, out, o + oRow + x, mask);
                b2 = FloatVector.fromArray(SP, out, o + 2 * oRow + x, mask);
                b3 = FloatVector.fromArray(SP, out, o + 3 * oRow + x, mask);
            } else {
                b0 = b1 = b2 = b3 = FloatVector.zero(SP);
            }
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) {
                FloatVector mv = FloatVector.fromArray(SP, m, mi, mask);
                b0 = mv.fma(FloatVector.broadcast(SP, w[wi]), b0);
                b1 = mv.fma(FloatVector.broadcast(SP, w[wi + wRow]), b1);
                b2 = mv.fma(FloatVector.broadcast(SP, w[wi + 2 * wRow]), b2);
                b3 = mv.fma(FloatVector.broadcast(SP, w[wi + 3 * wRow]), b3);
            }
            b0.intoArray(out, o + x, mask);
            b1.intoArray(out, o + oRow + x, mask);
            b2.intoArray(out, o + 2 * oRow + x, mask);
            b3.intoArray(out, o + 3 * oRow + x, mask);
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
