package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.FloatKernels.L;
import static io.gptneo.tensor.attention.FloatKernels.expShift;
import static io.gptneo.tensor.attention.FloatKernels.expShiftSum;
import static io.gptneo.tensor.attention.FloatKernels.max;
import static io.gptneo.tensor.attention.FloatKernels.rowCombine;

import java.util.Arrays;
import java.util.stream.IntStream;

/**
 * Tiled attention on flat c-order float arrays (flash-attention style): per (batch, head) task, query tiles of BQ
 * rows visit only key tiles that intersect the causal/local band, with an online softmax (running max m and sum l
 * per row). Backward recomputes P = exp(S - lse) tile by tile. Memory: O(T*D) per task, never T*T.
 *
 * <p>Two layouts of q, k, v, out and their gradients: heads-major [B,H,T,D], and packed [B,T,H*D] (heads side by
 * side in each row, as the q/k/v projections produce them and out_proj consumes them, so the model needs no
 * permuted copies). They differ only in where a head's row i starts: {@code head(bh) + i * rowStride}. In the packed
 * layout a task first gathers the rows its inner loops stream over (V, and K and dO in backward) into dense [T][D]
 * copies and accumulates dK, dV densely: rows H*D floats apart map to a few L1 sets, so streaming them directly is
 * several times slower (bench/RESULTS.md).
 */
final class FusedFloat {
    static final int BQ = 64, BK = 64;
    /** Query rows (forward, backward) and keys (backward) that one micro-kernel call serves together. */
    static final int G = 4;

    final int nB, nH, nT, nD, window;
    /** Elements between consecutive rows of one head: D (heads-major) or H*D (packed). */
    final int rs;
    final boolean packed;
    /** Row stride of transposed [D][T] copies: T + 16 so that rows do not alias in L1 when T is a power of two. */
    final int ldT;
    final float scale;
    final boolean[][] keyOk;   // [B][T] or null

    FusedFloat(int b, int h, int t, int d, int window, double scale, boolean[][] keyOk, boolean packed) {
        this.nB = b; this.nH = h; this.nT = t; this.nD = d; this.ldT = t + 16; this.window = window; this.scale = (float) scale; this.keyOk = keyOk;
        this.packed = packed;
        this.rs = packed ? h * d : d;
    }

    /**
     * Per-thread buffers of a head task, grown to the largest size asked for and reused: a task needs about ten
     * [T][D]-sized arrays, and allocating them fresh for every head filled the young generation. Slots are per task role; a task never runs inside another on the same thread.
     */
    private static final ThreadLocal<float[][]> BUF = ThreadLocal.withInitial(() -> new float[11][0]);

    /** Slot {@code slot} with room for n values (contents undefined). */
    private static float[] buf(int slot, int n) {
        float[][] b = BUF.get();
        if (b[slot].length < n) b[slot] = new float[n];
        return b[slot];
    }

    /** Slot {@code slot} with its first n values zero. */
    private static float[] zeroed(int slot, int n) {
        float[] a = buf(slot, n);
        Arrays.fill(a, 0, n, 0f);
        return a;
    }

    /** Index of row 0 of head task bh (= b*H + h). */
    private int head(int bh) {
        return packed ? (bh / nH) * nT * nH * nD + (bh % nH) * nD : bh * nT * nD;
    }

    /** out (the layout of q) and lse [B*H*T] (log-sum-exp of the scaled, allowed scores; +inf for rows with no key). */
    void forward(float[] q, float[] k, float[] v, float[] out, float[] lse) {
        IntStream.range(0, nB * nH).parallel().forEach(bh -> forwardHead(bh, q, k, v, out, lse));
    }

    /** dq, dk, dv in the layout of q (zero-initialised by the caller) from o, dO and the forward's lse. */
    void backward(float[] q, float[] k, float[] v, float[] o, float[] dO, float[] lse, float[] dq, float[] dk, float[] dv) {
        IntStream.range(0, nB * nH).parallel().forEach(bh -> backwardHead(bh, q, k, v, o, dO, lse, dq, dk, dv));
    }

    private int firstKey(int i) {
        return AttentionMasks.firstKey(i, window);
    }

    private static int alignDown(int x, int a) {
        return x - Math.floorMod(x, a);
    }

    /** Additive key-padding bias [T]: 0 or -inf; null without a mask. */
    private float[] keyBias(int b) {
        if (keyOk == null) return null;
        float[] r = new float[nT];
        for (int j = 0; j < nT; j++) r[j] = keyOk[b][j] ? 0f : Float.NEGATIVE_INFINITY;
        return r;
    }

    /** One head's [T][D] rows from base, transposed to [D][ldT] so that score rows are row-times-matrix (vectorises over keys). */
    private float[] transpose(float[] a, int base, int slot) {
        float[] t = buf(slot, nD * ldT);
        for (int i = 0; i < nT; i++) for (int d = 0; d < nD; d++) t[d * ldT + i] = a[base + i * rs + d];
        return t;
    }

    /** One head's rows as a dense [T][D] (packed layout: the caller streams over them). */
    private float[] gather(float[] a, int base, int slot) {
        float[] r = buf(slot, nT * nD);
        for (int i = 0; i < nT; i++) System.arraycopy(a, base + i * rs, r, i * nD, nD);
        return r;
    }

    /** Writes a dense [T][D] head gradient into its rows of the packed array. */
    private void scatter(float[] dense, float[] a, int base) {
        for (int i = 0; i < nT; i++) for (int d = 0; d < nD; d++) a[base + i * rs + d] = dense[i * nD + d];
    }

    /** One head's rows times the score scale, as a dense [T][D]. */
    private float[] scaledCopy(float[] a, int base, int slot) {
        float[] r = buf(slot, nT * nD);
        for (int i = 0; i < nT; i++) for (int d = 0; d < nD; d++) r[i * nD + d] = a[base + i * rs + d] * scale;
        return r;
    }

    /**
     * {@code out} rows ρ in [0, g) (at o + ρ*oRow) (+)= rows of w (at wOff + ρ*wRow, stepping wStride) times the
     * [count][n] matrix m: four rows per call of the register-blocked micro-kernel, the rest one by one.
     */
    private static void combine(int g, float[] w, int wOff, int wRow, int wStride, int count,
                                float[] m, int mOff, int mStride, float[] out, int o, int oRow, int n, boolean accumulate) {
        int r = 0;
        for (; r + 4 <= g; r += 4)
            FloatKernels.rowCombine4(w, wOff + r * wRow, wRow, wStride, count, m, mOff, mStride, out, o + r * oRow, oRow, n, accumulate);
        for (; r < g; r++) rowCombine(w, wOff + r * wRow, wStride, count, m, mOff, mStride, out, o + r * oRow, n, accumulate);
    }

    /** Keys [lo, hi) that query row i may see within the key tile [j0, j1) (empty when lo >= hi). */
    private int lo(int i, int j0) { return Math.max(j0, firstKey(i)); }

    private static int hi(int i, int j1) { return Math.min(j1, i + 1); }

    /**
     * Forward of one (batch, head): query rows go through in groups of G = 4 that share every loaded key and value
     * vector (scores and P·V both through {@link #combine}). A group computes scores over the L-aligned cover of the
     * union of its rows' key ranges; each row then masks what it may not see to -inf, so its softmax is its own.
     */
    private void forwardHead(int bh, float[] q, float[] k, float[] v, float[] out, float[] lse) {
        final int T = nT, D = nD, R = rs, base = head(bh);
        float[] qs = scaledCopy(q, base, 0);
        float[] kt = transpose(k, base, 1);
        float[] vh = packed ? gather(v, base, 2) : v;                       // V rows, D apart from vb
        final int vb = packed ? 0 : base;
        float[] kb = keyBias(bh / nH);
        float[] s = buf(3, G * BK);                                          // scores / probabilities [G][BK]
        float[] acc = buf(4, BQ * D);
        float[] m = buf(5, BQ), l = buf(6, BQ);
        for (int i0 = 0; i0 < T; i0 += BQ) {
            int i1 = Math.min(T, i0 + BQ), nq = i1 - i0;
            Arrays.fill(m, Float.NEGATIVE_INFINITY);
            Arrays.fill(l, 0f);
            Arrays.fill(acc, 0f);
            // only key tiles that intersect the band of this query tile: [firstKey(i0), i1)
            for (int j0 = alignDown(firstKey(i0), L); j0 < i1; j0 += BK) {
                int j1 = Math.min(i1, j0 + BK);
                for (int r0 = 0; r0 < nq; r0 += G) {
                    int g = Math.min(G, nq - r0), ulo = Integer.MAX_VALUE, uhi = Integer.MIN_VALUE;
                    for (int ro = 0; ro < g; ro++) {
                        int i = i0 + r0 + ro, lo = lo(i, j0), hi = hi(i, j1);
                        if (lo < hi) { ulo = Math.min(ulo, lo); uhi = Math.max(uhi, hi); }
                    }
                    if (ulo >= uhi) continue;
                    int c0 = alignDown(ulo - j0, L), c1 = Math.min(j1 - j0, alignDown(uhi - j0 + L - 1, L));
                    combine(g, qs, (i0 + r0) * D, D, 1, D, kt, j0 + c0, ldT, s, c0, BK, c1 - c0, false);   // S = Q K^T
                    int a = ulo - j0, e = uhi - j0;
                    for (int ro = 0; ro < g; ro++) {
                        int r = r0 + ro, i = i0 + r, so = ro * BK, lo = lo(i, j0), hi = hi(i, j1);
                        if (lo >= hi) {
                            Arrays.fill(s, so + a, so + e, 0f);
                            continue;
                        }
                        Arrays.fill(s, so + a, so + lo - j0, Float.NEGATIVE_INFINITY);     // keys this row may not see
                        Arrays.fill(s, so + hi - j0, so + e, Float.NEGATIVE_INFINITY);
                        if (kb != null) for (int j = lo; j < hi; j++) s[so + j - j0] += kb[j];
                        float mt = max(s, so + a, so + e);
                        if (mt == Float.NEGATIVE_INFINITY) {                   // every key here is padding
                            Arrays.fill(s, so + a, so + e, 0f);
                            continue;
                        }
                        float mOld = m[r], mNew = Math.max(mOld, mt);
                        if (mNew != mOld && l[r] != 0f) {                       // rescale what we have so far
                            float corr = (float) Math.exp(mOld - mNew);
                            FloatKernels.scale(acc, r * D, r * D + D, corr);
                            l[r] *= corr;
                        }
                        l[r] += expShiftSum(s, so + a, so + e, mNew);           // s now holds p = exp(s - m), 0 where masked
                        m[r] = mNew;
                    }
                    combine(g, s, a, BK, 1, e - a, vh, vb + ulo * D, D, acc, r0 * D, D, D, true);   // acc += P V
                }
            }
            for (int r = 0; r < nq; r++) {
                int i = i0 + r, ob = base + i * R;
                if (l[r] > 0f) {
                    float inv = 1f / l[r];
                    for (int x = 0; x < D; x++) out[ob + x] = acc[r * D + x] * inv;
                    lse[bh * T + i] = m[r] + (float) Math.log(l[r]);
                } else {                                                    // no allowed key: 0, ignored by callers
                    Arrays.fill(out, ob, ob + D, 0f);
                    lse[bh * T + i] = Float.POSITIVE_INFINITY;
                }
            }
        }
    }

    /**
     * Backward of one (batch, head), recomputing P tile by tile. Query rows go through in groups of G (S, dP = dO V^T
     * and dQ += dS K), then keys in groups of G (dV += P^T dO, dK += dS^T Q). Both tiles P and dS hold exact zeros
     * wherever a query may not see a key, so the groups may run over the union of their members' ranges.
     */
    private void backwardHead(int bh, float[] q, float[] k, float[] v, float[] o, float[] dO, float[] lse,
                              float[] dq, float[] dk, float[] dv) {
        final int T = nT, D = nD, R = rs, base = head(bh);
        float[] qs = scaledCopy(q, base, 0);
        float[] kt = transpose(k, base, 1);
        float[] vt = transpose(v, base, 2);
        // K and dO rows (streamed over below) and the dK, dV accumulators, D apart from hb
        float[] kh = packed ? gather(k, base, 3) : k, dOh = packed ? gather(dO, base, 4) : dO;
        float[] dkh = packed ? zeroed(5, T * D) : dk, dvh = packed ? zeroed(6, T * D) : dv;
        final int hb = packed ? 0 : base;
        float[] kb = keyBias(bh / nH);
        float[] delta = buf(7, T);                                           // rowsum(dO * O)
        for (int i = 0; i < T; i++) delta[i] = FloatKernels.dot(dO, base + i * R, o, base + i * R, D);
        float[] gq = zeroed(8, T * D);                                       // dq / scale
        float[] p = buf(9, BQ * BK), ds = buf(10, BQ * BK);                  // tiles [BQ][BK]
        for (int j0 = 0; j0 < T; j0 += BK) {
            int j1 = Math.min(T, j0 + BK), nk = j1 - j0;
            int iEnd = window > 0 ? Math.min(T, j1 - 1 + window) : T;        // rows that can see a key of this tile
            for (int i0 = alignDown(j0, BQ); i0 < iEnd; i0 += BQ) {
                int i1 = Math.min(T, i0 + BQ), nq = i1 - i0;
                Arrays.fill(p, 0, nq * BK, 0f);
                Arrays.fill(ds, 0, nq * BK, 0f);
                for (int r0 = 0; r0 < nq; r0 += G) {
                    int g = Math.min(G, nq - r0), ulo = Integer.MAX_VALUE, uhi = Integer.MIN_VALUE;
                    for (int ro = 0; ro < g; ro++) {
                        int i = i0 + r0 + ro, lo = lo(i, j0), hi = hi(i, j1);
                        if (lo < hi && lse[bh * T + i] != Float.POSITIVE_INFINITY) { ulo = Math.min(ulo, lo); uhi = Math.max(uhi, hi); }
                    }
                    if (ulo >= uhi) continue;                                // nothing to see (rows without keys: no gradient)
                    int c0 = alignDown(ulo - j0, L), c1 = Math.min(nk, alignDown(uhi - j0 + L - 1, L));
                    int to = r0 * BK;
                    combine(g, qs, (i0 + r0) * D, D, 1, D, kt, j0 + c0, ldT, p, to + c0, BK, c1 - c0, false);    // S = Q K^T
                    combine(g, dOh, hb + (i0 + r0) * D, D, 1, D, vt, j0 + c0, ldT, ds, to + c0, BK, c1 - c0, false);   // dP = dO V^T
                    for (int ro = 0; ro < g; ro++) {
                        int i = i0 + r0 + ro, ro0 = to + ro * BK, lo = lo(i, j0), hi = hi(i, j1);
                        float li = lse[bh * T + i];
                        if (lo >= hi || li == Float.POSITIVE_INFINITY) {
                            Arrays.fill(p, ro0 + c0, ro0 + c1, 0f);
                            Arrays.fill(ds, ro0 + c0, ro0 + c1, 0f);
                            continue;
                        }
                        int a = lo - j0, e = hi - j0;
                        Arrays.fill(p, ro0 + c0, ro0 + a, 0f);                  // outside this row's keys: exact zeros
                        Arrays.fill(p, ro0 + e, ro0 + c1, 0f);
                        Arrays.fill(ds, ro0 + c0, ro0 + a, 0f);
                        Arrays.fill(ds, ro0 + e, ro0 + c1, 0f);
                        if (kb != null) for (int j = lo; j < hi; j++) p[ro0 + j - j0] += kb[j];
                        expShift(p, ro0 + a, ro0 + e, li);                      // P = exp(S - lse)
                        float di = delta[i];
                        for (int x = ro0 + a; x < ro0 + e; x++) ds[x] = p[x] * (ds[x] - di);   // dS = P (dP - delta)
                    }
                    combine(g, ds, to + c0, BK, 1, c1 - c0, kh, hb + (j0 + c0) * D, D, gq, (i0 + r0) * D, D, D, true);   // dQ += dS K
                }
                for (int j = j0; j < j1; j += G) {
                    int g = Math.min(G, j1 - j);
                    int ra = Math.max(j, i0), rb = Math.min(i1, window > 0 ? j + g - 1 + window : T);   // rows any of the group sees
                    if (ra >= rb) continue;
                    int w0 = (ra - i0) * BK + (j - j0), jb = hb + j * D;
                    combine(g, p, w0, 1, BK, rb - ra, dOh, hb + ra * D, D, dvh, jb, D, D, true);   // dV += P^T dO
                    combine(g, ds, w0, 1, BK, rb - ra, qs, ra * D, D, dkh, jb, D, D, true);        // dK += dS^T (scale Q)
                }
            }
        }
        for (int i = 0; i < T; i++) for (int d = 0; d < D; d++) dq[base + i * R + d] = gq[i * D + d] * scale;
        if (packed) {
            scatter(dkh, dk, base);
            scatter(dvh, dv, base);
        }
    }
}
