package io.gptneo.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Register-blocked products of a few rows with a small matrix, on float[] work arrays: the inner kernels of the fused
 * attention ({@code FusedAttention}: scores, P·V and every backward product) and of the fused LoRA side paths
 * ({@link FusedLowRank}). Each keeps its accumulators in vector registers while it streams over the matrix once;
 * sizes that are not whole vectors finish in scalars. Checked through their callers against the references
 * ({@code AttentionKernelAgreementTest}, {@code SplitLinearTest}).
 * <ul>
 *   <li>{@link #rowCombine} / {@link #rowCombine4}: one or four rows of coefficients times a matrix
 *       ({@code out[ρ] (+)= Σ_c w[ρ][c] · m[c]}), the matrix's rows read once for all four;
 *   <li>{@link #dot}: one dot product, its lanes summed in {@link VectorMath#sum}'s order;
 *   <li>{@link #dot4x4}: four rows dotted with four rows ({@code out[ρ][i] = u[ρ] · v[i]}), each loaded vector used
 *       four times.
 * </ul>
 */
public final class RowProducts {
    static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    static final int L = SP.length();
    /** {@link VectorMath#sum}'s tree, written out in {@link #dot} (no vector crosses a call there). */
    private static final VectorShuffle<Float>[] HALVES = VectorMath.halves(SP);

    private RowProducts() {}

    /**
     * {@code out[o + x] (+)= sum_c w[wOff + c*wStride] * m[mOff + c*mStride + x]} for x in [0, n), c in [0, count).
     * Accumulators stay in registers (4 vectors wide) while streaming over c: a row times a matrix.
     */
    public static void rowCombine(
            float[] w,
            int wOff,
            int wStride,
            int count,
            float[] m,
            int mOff,
            int mStride,
            float[] out,
            int o,
            int n,
            boolean accumulate) {
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
    public static void rowCombine4(
            float[] w,
            int wOff,
            int wRow,
            int wStride,
            int count,
            float[] m,
            int mOff,
            int mStride,
            float[] out,
            int o,
            int oRow,
            int n,
            boolean accumulate) {
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
                a00 = a01 = a02 = a03 =
                        a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = a30 = a31 = a32 = a33 = FloatVector.zero(SP);
            }
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) {
                FloatVector m0 = FloatVector.fromArray(SP, m, mi), m1 = FloatVector.fromArray(SP, m, mi + L);
                FloatVector m2 = FloatVector.fromArray(SP, m, mi + 2 * L),
                        m3 = FloatVector.fromArray(SP, m, mi + 3 * L);
                FloatVector w0 = FloatVector.broadcast(SP, w[wi]);
                a00 = m0.fma(w0, a00);
                a01 = m1.fma(w0, a01);
                a02 = m2.fma(w0, a02);
                a03 = m3.fma(w0, a03);
                FloatVector w1 = FloatVector.broadcast(SP, w[wi + wRow]);
                a10 = m0.fma(w1, a10);
                a11 = m1.fma(w1, a11);
                a12 = m2.fma(w1, a12);
                a13 = m3.fma(w1, a13);
                FloatVector w2 = FloatVector.broadcast(SP, w[wi + 2 * wRow]);
                a20 = m0.fma(w2, a20);
                a21 = m1.fma(w2, a21);
                a22 = m2.fma(w2, a22);
                a23 = m3.fma(w2, a23);
                FloatVector w3 = FloatVector.broadcast(SP, w[wi + 3 * wRow]);
                a30 = m0.fma(w3, a30);
                a31 = m1.fma(w3, a31);
                a32 = m2.fma(w3, a32);
                a33 = m3.fma(w3, a33);
            }
            a00.intoArray(out, o + x + 0 * L);
            a01.intoArray(out, o + x + 1 * L);
            a02.intoArray(out, o + x + 2 * L);
            a03.intoArray(out, o + x + 3 * L);
            a10.intoArray(out, o + 1 * oRow + x + 0 * L);
            a11.intoArray(out, o + 1 * oRow + x + 1 * L);
            a12.intoArray(out, o + 1 * oRow + x + 2 * L);
            a13.intoArray(out, o + 1 * oRow + x + 3 * L);
            a20.intoArray(out, o + 2 * oRow + x + 0 * L);
            a21.intoArray(out, o + 2 * oRow + x + 1 * L);
            a22.intoArray(out, o + 2 * oRow + x + 2 * L);
            a23.intoArray(out, o + 2 * oRow + x + 3 * L);
            a30.intoArray(out, o + 3 * oRow + x + 0 * L);
            a31.intoArray(out, o + 3 * oRow + x + 1 * L);
            a32.intoArray(out, o + 3 * oRow + x + 2 * L);
            a33.intoArray(out, o + 3 * oRow + x + 3 * L);
        }
        for (; x + L <= n; x += L) { // remaining whole vectors, one per row
            FloatVector b0, b1, b2, b3;
            if (accumulate) {
                b0 = FloatVector.fromArray(SP, out, o + x);
                b1 = FloatVector.fromArray(SP, out, o + oRow + x);
                b2 = FloatVector.fromArray(SP, out, o + 2 * oRow + x);
                b3 = FloatVector.fromArray(SP, out, o + 3 * oRow + x);
            } else {
                b0 = b1 = b2 = b3 = FloatVector.zero(SP);
            }
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) {
                FloatVector mv = FloatVector.fromArray(SP, m, mi);
                b0 = mv.fma(FloatVector.broadcast(SP, w[wi]), b0);
                b1 = mv.fma(FloatVector.broadcast(SP, w[wi + wRow]), b1);
                b2 = mv.fma(FloatVector.broadcast(SP, w[wi + 2 * wRow]), b2);
                b3 = mv.fma(FloatVector.broadcast(SP, w[wi + 3 * wRow]), b3);
            }
            b0.intoArray(out, o + x);
            b1.intoArray(out, o + oRow + x);
            b2.intoArray(out, o + 2 * oRow + x);
            b3.intoArray(out, o + 3 * oRow + x);
        }
        // the last n mod L columns in scalars: JDK 17's masked vector loads and stores are not reliably
        // intrinsified
        for (; x < n; x++) {
            float b0 = accumulate ? out[o + x] : 0f, b1 = accumulate ? out[o + oRow + x] : 0f;
            float b2 = accumulate ? out[o + 2 * oRow + x] : 0f, b3 = accumulate ? out[o + 3 * oRow + x] : 0f;
            int wi = wOff, mi = mOff + x;
            for (int c = 0; c < count; c++, wi += wStride, mi += mStride) {
                float mv = m[mi];
                b0 += w[wi] * mv;
                b1 += w[wi + wRow] * mv;
                b2 += w[wi + 2 * wRow] * mv;
                b3 += w[wi + 3 * wRow] * mv;
            }
            out[o + x] = b0;
            out[o + oRow + x] = b1;
            out[o + 2 * oRow + x] = b2;
            out[o + 3 * oRow + x] = b3;
        }
    }

    /**
     * {@code Σ_k u[uOff + ρ*uRow + k] · v[vOff + i*vRow + k]} for ρ, i in [0, 4), k in [0, len): 16 dot products in 16
     * accumulators, each loaded vector of u and v used four times. Leaves the 16 accumulators' lanes in
     * {@code lanes[at + (ρ*4 + i)*L ..]} (16·{@link #L} floats; the scalar tail, if len is not a whole number of
     * vectors, added into lane 0); {@link #sumLanes} turns one into its dot product. Why not the sums themselves: a
     * vector handed to a method that C2 does not inline is boxed (an allocation per call), and in a large kernel the
     * inlining budget runs out; stores into an array never box.
     */
    public static void dot4x4(
            float[] u, int uOff, int uRow, float[] v, int vOff, int vRow, int len, float[] lanes, int at) {
        FloatVector z = FloatVector.zero(SP);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z;
        FloatVector a20 = z, a21 = z, a22 = z, a23 = z, a30 = z, a31 = z, a32 = z, a33 = z;
        int k = 0;
        for (; k + L <= len; k += L) {
            FloatVector v0 = FloatVector.fromArray(SP, v, vOff + k), v1 = FloatVector.fromArray(SP, v, vOff + vRow + k);
            FloatVector v2 = FloatVector.fromArray(SP, v, vOff + 2 * vRow + k),
                    v3 = FloatVector.fromArray(SP, v, vOff + 3 * vRow + k);
            FloatVector u0 = FloatVector.fromArray(SP, u, uOff + k);
            a00 = u0.fma(v0, a00);
            a01 = u0.fma(v1, a01);
            a02 = u0.fma(v2, a02);
            a03 = u0.fma(v3, a03);
            FloatVector u1 = FloatVector.fromArray(SP, u, uOff + uRow + k);
            a10 = u1.fma(v0, a10);
            a11 = u1.fma(v1, a11);
            a12 = u1.fma(v2, a12);
            a13 = u1.fma(v3, a13);
            FloatVector u2 = FloatVector.fromArray(SP, u, uOff + 2 * uRow + k);
            a20 = u2.fma(v0, a20);
            a21 = u2.fma(v1, a21);
            a22 = u2.fma(v2, a22);
            a23 = u2.fma(v3, a23);
            FloatVector u3 = FloatVector.fromArray(SP, u, uOff + 3 * uRow + k);
            a30 = u3.fma(v0, a30);
            a31 = u3.fma(v1, a31);
            a32 = u3.fma(v2, a32);
            a33 = u3.fma(v3, a33);
        }
        a00.intoArray(lanes, at);
        a01.intoArray(lanes, at + L);
        a02.intoArray(lanes, at + 2 * L);
        a03.intoArray(lanes, at + 3 * L);
        a10.intoArray(lanes, at + 4 * L);
        a11.intoArray(lanes, at + 5 * L);
        a12.intoArray(lanes, at + 6 * L);
        a13.intoArray(lanes, at + 7 * L);
        a20.intoArray(lanes, at + 8 * L);
        a21.intoArray(lanes, at + 9 * L);
        a22.intoArray(lanes, at + 10 * L);
        a23.intoArray(lanes, at + 11 * L);
        a30.intoArray(lanes, at + 12 * L);
        a31.intoArray(lanes, at + 13 * L);
        a32.intoArray(lanes, at + 14 * L);
        a33.intoArray(lanes, at + 15 * L);
        if (k < len)
            for (int q = 0; q < 16; q++) {
                int uo = uOff + (q / 4) * uRow, vo = vOff + (q % 4) * vRow;
                float t = 0f;
                for (int x = k; x < len; x++) t += u[uo + x] * v[vo + x];
                lanes[at + q * L] += t;
            }
    }

    /** The sum of {@link #L} lanes at {@code lanes[at ..]}, in {@link VectorMath#sumLanes}' fixed order. */
    public static float sumLanes(float[] lanes, int at) {
        return VectorMath.sumLanes(lanes, at, L);
    }

    /**
     * {@code Σ_x a[ao + x] · b[bo + x]} for x in [0, n): whole vectors summed in {@link VectorMath#sum}'s tree (written
     * out here), then the scalar tail in index order.
     */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        int x = 0;
        float sum = 0f;
        if (n >= L) {
            FloatVector acc = FloatVector.zero(SP);
            for (; x + L <= n; x += L)
                acc = FloatVector.fromArray(SP, a, ao + x).fma(FloatVector.fromArray(SP, b, bo + x), acc);
            for (VectorShuffle<Float> h : HALVES) acc = acc.add(acc.rearrange(h));
            sum = acc.lane(0);
        }
        for (; x < n; x++) sum += a[ao + x] * b[bo + x];
        return sum;
    }
}
