package io.gptneo.tensor;

import static io.gptneo.tensor.NativeVectors.LOAD_FLOATS;
import static io.gptneo.tensor.NativeVectors.STORE_FLOATS;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Fast float32 LoRA side paths of the parts of {@link SplitLinearOp}: all of a product's side paths in one pass over the
 * rows each way (the sides in order within each row block), without materialising dropout(x). A [r, in], B [w, r], scaling s, keep bits over x [N, in] (element n·in + k; null: no
 * dropout), keepScale = 1/(1-p); the part's columns are {@code [c0, c0 + w)} of the [N, out] product y and of its
 * gradient G:
 * <pre>
 *   forward:  xd = x ⊙ keep·keepScale;  h = xd Aᵀ  [N, r];  y[:, part] += s · h Bᵀ
 *   backward: dh = s · G[:, part] B  [N, r];  dx += (dh A) ⊙ keep·keepScale;  dA = dhᵀ xd;  dB = s · G[:, part]ᵀ h
 * </pre>
 * Rows run in parallel blocks ({@link #ROWS} forward, {@link #BACKWARD_ROWS} backward), every side on a block
 * before the next block, so the block's rows of x and dx are still in cache for the second side; rows of xd and
 * G[:, part] are staged in a work array ({@link WorkArrays}) and every rank-r product runs on {@link RowProducts}'
 * register-blocked kernels, four rows at a time (4×4 blocks of dot products for h and dh; four-row products for h·Bᵀ,
 * dh·A, dA and dB). dA and dB are summed over per-block partials in block order, so the bits do not depend on the
 * thread count ({@link Blocks}). Reference: the composition in SplitLinearOp (dropout, then products); agreement: {@code SplitLinearTest}. Why: that composition is nine small
 * operations per part and call (about 1 ms of a [512, 768] layer's 5 in the 125M bf16 training step), each a pass
 * over [N, in] or [N, w] with its own array.
 */
final class FusedLowRank {
    private FusedLowRank() {}

    /** Rows per parallel block of the forward. */
    static final int ROWS = 32;

    /**
     * Rows per parallel block of the backward: larger, since each block makes (and the caller then sums) its own dA
     * and dB partials. In-JVM pairs at the 125M shapes (two sides of r = 8 on [512, 768], probes of issue 15 session
     * 13): 128 rows ran the backward 1.17-1.24x faster than 32, 64 rows 1.06-1.11x.
     */
    static final int BACKWARD_ROWS = 128;

    /** Available: 16-float vectors (16 keep bits per vector) on native memory. */
    static final boolean FAST = DropoutMask.FAST;

    /** Whether the kernel takes these widths: whole 16-float vectors per row. */
    static boolean fits(long in, long width) {
        return in % 16 == 0 && width % 16 == 0;
    }

    /** A part's side path: its matrices as Java arrays, B transposed. */
    record Side(float[] a, float[] bt, int r, int in, int w, float s, long[] keep, float keepScale, int c0) {
        /**
         * Copies A and Bᵀ out of the arrays' memory. (ND4J's {@code dup}, {@code transpose().dup('c')} and
         * {@code asFloat()} here cost 0.15-0.6 ms per call in the step, 3-16 ms of a bf16 step's 24 calls.)
         */
        static Side of(LowRank p, long[] keep, double keepScale, int c0) {
            int r = (int) p.a().size(0), in = (int) p.a().size(1), w = (int) p.b().size(0);
            float[] a = new float[r * in], bt = new float[r * w]; // [r, in], [r, w]
            try (FloatView av = FloatView.read(p.a().data());
                    FloatView bv = FloatView.read(p.b().data())) { // B [w, r]
                av.buf.asFloatBuffer().get(a);
                for (int j = 0; j < w; j++) for (int i = 0; i < r; i++) bt[i * w + j] = bv.get(j * r + i);
            }
            return new Side(a, bt, r, in, w, (float) p.scaling(), keep, (float) keepScale, c0);
        }
    }

    /**
     * For every side p: y[:, p.c0 : p.c0+w] += s · (xd Aᵀ) Bᵀ; returns each side's h = xd Aᵀ [N, r] (kept for the
     * backward). One parallel pass over row blocks for all sides, so a block's rows of x are still in cache for the
     * second side.
     */
    static float[][] forward(Side[] sides, FloatView x, FloatView y, int outTotal) {
        int n = x.length() / sides[0].in();
        float[][] h = new float[sides.length][];
        int work = 0;
        for (int k = 0; k < sides.length; k++) {
            h[k] = new float[n * sides[k].r()];
            work = Math.max(work, Lanes.forwardWork(sides[k]));
        }
        int workLength = work;
        Blocks.run(n, ROWS, (lo, hi) -> {
            float[] w = WorkArrays.take(workLength);
            try {
                for (int k = 0; k < sides.length; k++)
                    Lanes.forward(sides[k], x.mem, y.mem, outTotal, sides[k].c0(), h[k], lo, hi, w);
            } finally {
                WorkArrays.give(w);
            }
        });
        return h;
    }

    /**
     * For every side p: dx += (dh A) ⊙ keep·keepScale (dx null: skipped), dh = s · G[:, part] B; returns per side
     * {dA [r, in], dB [w, r]} (either null when not wanted). One parallel pass over row blocks for all sides, the sides
     * in order within a block, so dx gets the same sums in the same order as one pass per side.
     */
    static float[][][] backward(
            Side[] sides,
            FloatView x,
            float[][] h,
            FloatView g,
            int outTotal,
            FloatView dx,
            boolean[] wantA,
            boolean[] wantB) {
        int n = x.length() / sides[0].in();
        int blocks = (n + BACKWARD_ROWS - 1) / BACKWARD_ROWS;
        float[][][] da = new float[sides.length][blocks][], dbt = new float[sides.length][blocks][];
        Blocks.run(n, BACKWARD_ROWS, (lo, hi) -> {
            int work = 0;
            for (Side p : sides) work = Math.max(work, Lanes.backwardWork(p, hi - lo));
            float[] sb = WorkArrays.take(work); // staging, reused across calls
            try {
                for (int k = 0; k < sides.length; k++) {
                    Side p = sides[k];
                    float[] pa = wantA[k] ? new float[p.r() * p.in()] : null,
                            pb = wantB[k] ? new float[p.r() * p.w()] : null;
                    Lanes.backward(
                            p, x.mem, h[k], g.mem, outTotal, p.c0(), dx == null ? null : dx.mem, pa, pb, lo, hi, sb);
                    da[k][lo / BACKWARD_ROWS] = pa;
                    dbt[k][lo / BACKWARD_ROWS] = pb;
                }
            } finally {
                WorkArrays.give(sb);
            }
        });
        float[][][] out = new float[sides.length][][];
        for (int k = 0; k < sides.length; k++) {
            Side p = sides[k];
            float[] dA = wantA[k] ? sum(da[k]) : null;
            float[] dB = null;
            if (wantB[k]) { // [r, w] -> [w, r]
                float[] bt = sum(dbt[k]);
                dB = new float[bt.length];
                for (int i = 0; i < p.r(); i++)
                    for (int j = 0; j < p.w(); j++) dB[j * p.r() + i] = p.s() * bt[i * p.w() + j];
            }
            out[k] = new float[][] {dA, dB};
        }
        return out;
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

        /** xd[n, :] into row[at ..]: x ⊙ (kept ? keepScale : 0) (x·0 where dropped, as the reference), or x. */
        private static void stageInput(Side p, NativeMemory x, int n, float[] row, int at) {
            int base = n * p.in();
            try {
                for (int k = 0; k < p.in(); k += 16) {
                    FloatVector v = (FloatVector) LOAD_FLOATS.invokeExact(F, x, (base + k) * 4);
                    if (p.keep() != null) v = v.mul(DropoutMask.Lanes.keepFactor(p.keep(), base + k, p.keepScale()));
                    v.intoArray(row, at + k);
                }
            } catch (Throwable t) {
                throw NativeVectors.rethrow(t);
            }
        }

        /** The {@code w} floats at byte {@code at} of y += s · src[off ..]. */
        private static void addScaled(NativeMemory y, int at, float[] src, int off, int w, float s) {
            try {
                for (int j = 0; j < w; j += 16) {
                    FloatVector v = (FloatVector) LOAD_FLOATS.invokeExact(F, y, at + j * 4);
                    STORE_FLOATS.invokeExact(
                            v.add(FloatVector.fromArray(F, src, off + j).mul(s)), y, at + j * 4);
                }
            } catch (Throwable t) {
                throw NativeVectors.rethrow(t);
            }
        }

        /** dst[off ..] = the {@code w} floats at byte {@code at} of src. */
        private static void copyRow(NativeMemory src, int at, float[] dst, int off, int w) {
            try {
                for (int j = 0; j < w; j += 16) {
                    FloatVector v = (FloatVector) LOAD_FLOATS.invokeExact(F, src, at + j * 4);
                    v.intoArray(dst, off + j);
                }
            } catch (Throwable t) {
                throw NativeVectors.rethrow(t);
            }
        }

        /** dx[base ..] += src[off ..] ⊙ keep·keepScale (the side's dropout; none: src), over p.in() elements. */
        private static void addMasked(Side p, NativeMemory dx, int base, float[] src, int off) {
            try {
                for (int k = 0; k < p.in(); k += 16) {
                    FloatVector d = FloatVector.fromArray(F, src, off + k);
                    if (p.keep() != null) d = d.mul(DropoutMask.Lanes.keepFactor(p.keep(), base + k, p.keepScale()));
                    FloatVector v = (FloatVector) LOAD_FLOATS.invokeExact(F, dx, (base + k) * 4);
                    STORE_FLOATS.invokeExact(v.add(d), dx, (base + k) * 4);
                }
            } catch (Throwable t) {
                throw NativeVectors.rethrow(t);
            }
        }

        /** Ranks of an output row that {@link RowProducts#dot4x4} serves, four at a time; the rest one by one. */
        private static int ranks4(int r) {
            return r & ~3;
        }

        /** out[o + ρ*r + i] = scale · (row ρ of u) · (row i of m) for ρ in [0, 4), i in [0, r): rows len apart. */
        private static void dots(
                float[] u,
                int uOff,
                int uRow,
                float[] m,
                int r,
                int len,
                float scale,
                float[] out,
                int o,
                float[] lanes,
                int t) {
            for (int i0 = 0; i0 < ranks4(r); i0 += 4) {
                RowProducts.dot4x4(u, uOff, uRow, m, i0 * len, len, len, lanes, t);
                for (int q = 0; q < 16; q++)
                    out[o + (q / 4) * r + i0 + q % 4] = scale * RowProducts.sumLanes(lanes, t + q * RowProducts.L);
            }
            for (int rho = 0; rho < 4; rho++)
                for (int i = ranks4(r); i < r; i++)
                    out[o + rho * r + i] = scale * RowProducts.dot(u, uOff + rho * uRow, m, i * len, len);
        }

        /** Floats of a forward task's work array: four staged rows of xd, their h, their h·Bᵀ, and 16 accumulators' lanes. */
        static int forwardWork(Side p) {
            return 4 * (p.in() + p.r() + p.w()) + 16 * RowProducts.L;
        }

        /** Floats of a backward task's work array for a block of {@code rows}. */
        static int backwardWork(Side p, int rows) {
            return (rows + 4) * (p.w() + p.r() + p.in()) + 4 * p.in() + 16 * RowProducts.L;
        }

        /**
         * Rows [lo, hi), four at a time (the last group padded with zero rows; only real rows are written): h = xd Aᵀ
         * as 4×4 blocks of dot products, then y[:, part] += s · h Bᵀ as one four-row product.
         */
        static void forward(
                Side p, NativeMemory x, NativeMemory y, int outTotal, int c0, float[] h, int lo, int hi, float[] work) {
            int r = p.r(), w = p.w(), in = p.in();
            int xs = 0, hs = 4 * in, ts = hs + 4 * r, tmp = ts + 4 * w; // offsets in work
            for (int n0 = lo; n0 < hi; n0 += 4) {
                int g = Math.min(4, hi - n0);
                for (int rho = 0; rho < g; rho++) stageInput(p, x, n0 + rho, work, xs + rho * in);
                java.util.Arrays.fill(work, xs + g * in, xs + 4 * in, 0f); // padding rows: zeros, not stale values
                dots(work, xs, in, p.a(), r, in, 1f, work, hs, work, tmp);
                RowProducts.rowCombine4(work, hs, r, 1, r, p.bt(), 0, w, work, ts, w, w, false); // h Bᵀ
                for (int rho = 0; rho < g; rho++) {
                    System.arraycopy(work, hs + rho * r, h, (n0 + rho) * r, r);
                    int yRow = ((n0 + rho) * outTotal + c0) * 4, tRow = ts + rho * w;
                    addScaled(y, yRow, work, tRow, w, p.s());
                }
            }
        }

        /**
         * Rows [lo, hi): dh (4×4 dot blocks), then dx, dA and dBᵀ/s of the block as four-row products (the caller
         * scales dB by s) over the block's staged rows. The staging has four rows of slack after each region, so a
         * last group of fewer than four rows reads work memory, never past it; only real rows are written.
         */
        static void backward(
                Side p,
                NativeMemory x,
                float[] h,
                NativeMemory g,
                int outTotal,
                int c0,
                NativeMemory dx,
                float[] da,
                float[] dbt,
                int lo,
                int hi,
                float[] sb) {
            int r = p.r(), w = p.w(), in = p.in(), rows = hi - lo;
            // sb: the block's G[:, part] rows, dh, xd rows (each with 4 rows of slack), then dx rows and 16 dots
            int gAt = 0, dhAt = (rows + 4) * w, xAt = dhAt + (rows + 4) * r, dxAt = xAt + (rows + 4) * in;
            int tmp = dxAt + 4 * in;
            for (int n = 0; n < rows; n++) {
                int gOff = ((lo + n) * outTotal + c0) * 4;
                copyRow(g, gOff, sb, gAt + n * w, w);
            }
            for (int n0 = 0; n0 < rows; n0 += 4)
                dots(sb, gAt + n0 * w, w, p.bt(), r, w, p.s(), sb, dhAt + n0 * r, sb, tmp);
            if (dx != null) // dx[n, :] += (Σ_i dh[n, i] A[i, :]) ⊙ keep·keepScale
            for (int n0 = 0; n0 < rows; n0 += 4) {
                    RowProducts.rowCombine4(sb, dhAt + n0 * r, r, 1, r, p.a(), 0, in, sb, dxAt, in, in, false);
                    for (int rho = 0; rho < Math.min(4, rows - n0); rho++)
                        addMasked(p, dx, (lo + n0 + rho) * in, sb, dxAt + rho * in);
                }
            if (da != null) { // dA[i, :] = Σ_n dh[n, i] · xd[n, :], four ranks per product
                for (int n = 0; n < rows; n++) stageInput(p, x, lo + n, sb, xAt + n * in);
                eachRankRow(sb, dhAt, r, rows, sb, xAt, in, da);
            }
            if (dbt != null) eachRankRow(h, lo * r, r, rows, sb, gAt, w, dbt); // dBᵀ[i, :] / s = Σ_n h[n, i] · G[n, :]
        }

        /** out[i, :] = Σ_n coef[cOff + n·r + i] · m[mOff + n·len ..] for i in [0, r), n in [0, rows): four i at once. */
        private static void eachRankRow(
                float[] coef, int cOff, int r, int rows, float[] m, int mOff, int len, float[] out) {
            int i = 0;
            for (; i < ranks4(r); i += 4)
                RowProducts.rowCombine4(coef, cOff + i, 1, r, rows, m, mOff, len, out, i * len, len, len, false);
            for (; i < r; i++) RowProducts.rowCombine(coef, cOff + i, r, rows, m, mOff, len, out, i * len, len, false);
        }
    }
}
