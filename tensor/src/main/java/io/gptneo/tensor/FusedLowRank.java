package io.gptneo.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Fast float32 LoRA side path of one part of {@link SplitLinearOp}, in one pass over the rows each way, without
 * materialising dropout(x). A [r, in], B [w, r], scaling s, keep bits over x [N, in] (element n·in + k; null: no
 * dropout), keepScale = 1/(1-p); the part's columns are {@code [c0, c0 + w)} of the [N, out] product y and of its
 * gradient G:
 * <pre>
 *   forward:  xd = x ⊙ keep·keepScale;  h = xd Aᵀ  [N, r];  y[:, part] += s · h Bᵀ
 *   backward: dh = s · G[:, part] B  [N, r];  dx += (dh A) ⊙ keep·keepScale;  dA = dhᵀ xd;  dB = s · G[:, part]ᵀ h
 * </pre>
 * Rows run in parallel blocks of {@link #ROWS}; a row's xd and G[n, part] are staged in a per-task array and every
 * rank-r product is a set of dot products and row updates over them. dA and dB are summed over per-block partials in
 * block order, so the bits do not depend on the thread count ({@link Blocks}). Reference: the composition in
 * SplitLinearOp (dropout, then products); agreement: {@code SplitLinearTest}. Why: that composition is nine small
 * operations per part and call (about 1 ms of a [512, 768] layer's 5 in the 125M bf16 training step), each a pass
 * over [N, in] or [N, w] with its own array.
 */
final class FusedLowRank {
    private FusedLowRank() {}

    /** Rows per parallel block. */
    static final int ROWS = 32;

    /** Available: 16-float vectors (16 keep bits per vector) on byte buffers. */
    static final boolean FAST = DropoutMask.FAST;

    /** Whether the kernel takes these widths: whole 16-float vectors per row. */
    static boolean fits(long in, long width) {
        return in % 16 == 0 && width % 16 == 0;
    }

    /** A part's side path: its matrices as Java arrays, B transposed. */
    record Side(float[] a, float[] bt, int r, int in, int w, float s, long[] keep, float keepScale) {
        static Side of(LowRank p, long[] keep, double keepScale) {
            float[] a = p.a().data().dup('c').data().asFloat(); // [r, in]
            float[] bt = p.b().data().transpose().dup('c').data().asFloat(); // [r, w]
            int r = (int) p.a().size(0), in = (int) p.a().size(1), w = (int) p.b().size(0);
            return new Side(a, bt, r, in, w, (float) p.scaling(), keep, (float) keepScale);
        }
    }

    /** y[:, c0 : c0+w] += s · (xd Aᵀ) Bᵀ; returns h = xd Aᵀ [N, r] (kept for the backward). */
    static float[] forward(Side p, FloatView x, FloatView y, int outTotal, int c0) {
        int n = x.length() / p.in();
        float[] h = new float[n * p.r()];
        Blocks.run(n, ROWS, (lo, hi) -> Lanes.forward(p, x.buf, y.buf, outTotal, c0, h, lo, hi));
        return h;
    }

    /**
     * dx += (dh A) ⊙ keep·keepScale (dx null: skipped), dh = s · G[:, part] B; returns {dA [r, in], dB [w, r]}
     * (either null when not wanted).
     */
    static float[][] backward(
            Side p,
            FloatView x,
            float[] h,
            FloatView g,
            int outTotal,
            int c0,
            FloatView dx,
            boolean wantA,
            boolean wantB) {
        int n = x.length() / p.in();
        int blocks = (n + ROWS - 1) / ROWS;
        float[][] da = new float[blocks][], dbt = new float[blocks][];
        Blocks.run(n, ROWS, (lo, hi) -> {
            float[] pa = wantA ? new float[p.r() * p.in()] : null, pb = wantB ? new float[p.r() * p.w()] : null;
            float[] sb = WorkArrays.take((hi - lo) * (p.w() + p.r() + p.in())); // staging, reused across calls
            try {
                Lanes.backward(p, x.buf, h, g.buf, outTotal, c0, dx == null ? null : dx.buf, pa, pb, lo, hi, sb);
            } finally {
                WorkArrays.give(sb);
            }
            da[lo / ROWS] = pa;
            dbt[lo / ROWS] = pb;
        });
        float[] dA = wantA ? sum(da) : null;
        float[] dB = null;
        if (wantB) { // [r, w] -> [w, r]
            float[] bt = sum(dbt);
            dB = new float[bt.length];
            for (int i = 0; i < p.r(); i++)
                for (int j = 0; j < p.w(); j++) dB[j * p.r() + i] = p.s() * bt[i * p.w() + j];
        }
        return new float[][] {dA, dB};
    }

    /** Element-wise sum of the partials, in block order. */
    private static float[] sum(float[][] parts) {
        float[] s = parts[0].clone();
        for (int b = 1; b < parts.length; b++) for (int i = 0; i < s.length; i++) s[i] += parts[b][i];
        return s;
    }

    /** The vector code, in its own class so that nothing loads jdk.incubator.vector when the module is absent. */
    private static final class Lanes {
        private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
        private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

        /** xd[n, :] into row[at ..]: x ⊙ (kept ? keepScale : 0) (x·0 where dropped, as the reference), or x. */
        private static void stageInput(Side p, ByteBuffer x, int n, float[] row, int at) {
            int base = n * p.in();
            for (int k = 0; k < p.in(); k += 16) {
                FloatVector v = FloatVector.fromByteBuffer(F, x, (base + k) * 4, NATIVE);
                if (p.keep() != null) v = v.mul(DropoutMask.Lanes.keepFactor(p.keep(), base + k, p.keepScale()));
                v.intoArray(row, at + k);
            }
        }

        /** Σ_k u[uOff + k] · m[mOff + k] over k in [0, len) (len a multiple of 16), four accumulators. */
        private static float dot(float[] u, int uOff, float[] m, int mOff, int len) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            int k = 0;
            for (; k + 64 <= len; k += 64) {
                a0 = FloatVector.fromArray(F, u, uOff + k).fma(FloatVector.fromArray(F, m, mOff + k), a0);
                a1 = FloatVector.fromArray(F, u, uOff + k + 16).fma(FloatVector.fromArray(F, m, mOff + k + 16), a1);
                a2 = FloatVector.fromArray(F, u, uOff + k + 32).fma(FloatVector.fromArray(F, m, mOff + k + 32), a2);
                a3 = FloatVector.fromArray(F, u, uOff + k + 48).fma(FloatVector.fromArray(F, m, mOff + k + 48), a3);
            }
            for (; k < len; k += 16)
                a0 = FloatVector.fromArray(F, u, uOff + k).fma(FloatVector.fromArray(F, m, mOff + k), a0);
            return VectorMath.sum(a0.add(a1).add(a2.add(a3))); // fixed order in every JIT tier
        }

        /**
         * out[o + c] = Σ_t coef[cOff + t·cStride] · m[mOff + t·mStride + c] for t in [0, count), c in [0, 64) (four
         * independent accumulators), or c in [0, 16) when {@code wide} is false: the rank-r products' one shape.
         */
        private static void combine(
                float[] coef,
                int cOff,
                int cStride,
                float[] m,
                int mOff,
                int mStride,
                int count,
                float[] out,
                int o,
                boolean wide) {
            FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
            for (int t = 0, ci = cOff, mi = mOff; t < count; t++, ci += cStride, mi += mStride) {
                FloatVector c = FloatVector.broadcast(F, coef[ci]);
                a0 = FloatVector.fromArray(F, m, mi).fma(c, a0);
                if (wide) {
                    a1 = FloatVector.fromArray(F, m, mi + 16).fma(c, a1);
                    a2 = FloatVector.fromArray(F, m, mi + 32).fma(c, a2);
                    a3 = FloatVector.fromArray(F, m, mi + 48).fma(c, a3);
                }
            }
            a0.intoArray(out, o);
            if (wide) {
                a1.intoArray(out, o + 16);
                a2.intoArray(out, o + 32);
                a3.intoArray(out, o + 48);
            }
        }

        /** Columns [j, j + 64) of a width-{@code len} row when they fit, else [j, j + 16). */
        private static int step(int j, int len) {
            return j + 64 <= len ? 64 : 16;
        }

        static void forward(Side p, ByteBuffer x, ByteBuffer y, int outTotal, int c0, float[] h, int lo, int hi) {
            int r = p.r(), w = p.w();
            float[] row = new float[p.in()], hn = new float[r], t = new float[64];
            for (int n = lo; n < hi; n++) {
                stageInput(p, x, n, row, 0);
                for (int i = 0; i < r; i++) hn[i] = h[n * r + i] = dot(row, 0, p.a(), i * p.in(), p.in());
                int yRow = (n * outTotal + c0) * 4;
                for (int j = 0, st; j < w; j += st) { // y[n, c0 + j ..] += s · Σ_i h[n, i] Bᵀ[i, j ..]
                    st = step(j, w);
                    combine(hn, 0, 1, p.bt(), j, w, r, t, 0, st == 64);
                    for (int c = 0; c < st; c += 16) {
                        int at = yRow + (j + c) * 4;
                        FloatVector.fromByteBuffer(F, y, at, NATIVE)
                                .add(FloatVector.fromArray(F, t, c).mul(p.s()))
                                .intoByteBuffer(y, at, NATIVE);
                    }
                }
            }
        }

        /**
         * Rows [lo, hi): dh per row, then dx per row, then dA and dBᵀ/s of the block (the caller scales dB by s),
         * each output vector summed in registers over the block's staged rows.
         */
        static void backward(
                Side p,
                ByteBuffer x,
                float[] h,
                ByteBuffer g,
                int outTotal,
                int c0,
                ByteBuffer dx,
                float[] da,
                float[] dbt,
                int lo,
                int hi,
                float[] sb) {
            int r = p.r(), w = p.w(), in = p.in(), rows = hi - lo;
            int gAt = 0, dhAt = rows * w, xAt = rows * (w + r); // sb: the block's G[:, part] rows, dh, xd rows
            float[] t = new float[64];
            for (int n = 0; n < rows; n++) {
                int gOff = ((lo + n) * outTotal + c0) * 4;
                for (int j = 0; j < w; j += 16)
                    FloatVector.fromByteBuffer(F, g, gOff + j * 4, NATIVE).intoArray(sb, gAt + n * w + j);
                for (int i = 0; i < r; i++) sb[dhAt + n * r + i] = p.s() * dot(sb, gAt + n * w, p.bt(), i * w, w);
            }
            if (dx != null) // dx[n, :] += (Σ_i dh[n, i] A[i, :]) ⊙ keep·keepScale
            for (int n = 0; n < rows; n++) {
                    int base = (lo + n) * in;
                    for (int k = 0, st; k < in; k += st) {
                        st = step(k, in);
                        combine(sb, dhAt + n * r, 1, p.a(), k, in, r, t, 0, st == 64);
                        for (int c = 0; c < st; c += 16) {
                            FloatVector d = FloatVector.fromArray(F, t, c);
                            if (p.keep() != null)
                                d = d.mul(DropoutMask.Lanes.keepFactor(p.keep(), base + k + c, p.keepScale()));
                            int at = (base + k + c) * 4;
                            FloatVector.fromByteBuffer(F, dx, at, NATIVE).add(d).intoByteBuffer(dx, at, NATIVE);
                        }
                    }
                }
            if (da != null) { // dA[i, :] = Σ_n dh[n, i] · xd[n, :]
                for (int n = 0; n < rows; n++) stageInput(p, x, lo + n, sb, xAt + n * in);
                for (int i = 0; i < r; i++)
                    for (int k = 0, st; k < in; k += st) {
                        st = step(k, in);
                        combine(sb, dhAt + i, r, sb, xAt + k, in, rows, da, i * in + k, st == 64);
                    }
            }
            if (dbt != null) // dBᵀ[i, :] / s = Σ_n h[n, i] · G[n, part]
            for (int i = 0; i < r; i++)
                    for (int j = 0, st; j < w; j += st) {
                        st = step(j, w);
                        combine(h, lo * r + i, r, sb, gAt + j, w, rows, dbt, i * w + j, st == 64);
                    }
        }
    }
}
