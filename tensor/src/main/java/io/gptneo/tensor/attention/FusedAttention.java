package io.gptneo.tensor.attention;

import static io.gptneo.tensor.RowProducts.rowCombine;
import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.L;
import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.expShift;
import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.expShiftSum;
import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.max;

import io.gptneo.tensor.Blocks;
import io.gptneo.tensor.Gemm;
import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.RowProducts;
import io.gptneo.tensor.VectorMath;
import io.gptneo.tensor.WorkArrays;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.bytedeco.javacpp.FloatPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Fast float32 attention (flash-attention style; reference: {@link ReferenceAttention}): never materialises [T, T].
 * Runs {@link FusedFloat} (Vector API micro-kernels, parallel over B*H) on q, k, v in place ({@code [B, H, T, D]}, or
 * packed {@code [B, T, H*D]} through {@link #forwardPacked}; each head task copies its own rows in and its results
 * out, so no whole-tensor copy runs on one thread). Local layers visit only
 * key tiles intersecting the window: O(T*W*D) work. Saved for backward: per-row log-sum-exp [B*H*T] (+inf for rows
 * without keys; those rows output 0, grads 0). FLOAT only: {@link io.gptneo.tensor.Kernels} sends float64 to the
 * reference.
 */
public final class FusedAttention implements AttentionKernel {

    /** What forward keeps: the log-sum-exp of every query row. */
    record Saved(float[] lse) {}

    @Override
    public String name() {
        return "fused";
    }

    @Override
    public Forward forward(
            INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        checkSize(s);
        return run(q, k, v, (int) s[1], s, false, keyMask, window, scale, needBackward);
    }

    @Override
    public Grads backward(
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        return runBackward(fwd, q, k, v, (int) s[1], s, false, keyMask, window, scale, dOut);
    }

    /** Packed [B, T, H*D] operands indexed in place: no permuted copies in or out. */
    @Override
    public Forward forwardPacked(
            INDArray q,
            INDArray k,
            INDArray v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            boolean needBackward) {
        return run(q, k, v, heads, packedShapes(q, k, v, heads, keyMask), true, keyMask, window, scale, needBackward);
    }

    @Override
    public Grads backwardPacked(
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        return runBackward(
                fwd, q, k, v, heads, packedShapes(q, k, v, heads, keyMask), true, keyMask, window, scale, dOut);
    }

    /** Forward in either layout; {@code s} is the operands' (checked) shape. */
    private static Forward run(
            INDArray q,
            INDArray k,
            INDArray v,
            int h,
            long[] s,
            boolean packed,
            INDArray keyMask,
            int window,
            double scale,
            boolean needBackward) {
        checkFloat(q);
        int b = (int) s[0], t = (int) (packed ? s[1] : s[2]), d = (int) (packed ? s[2] / h : s[3]);
        float[][] keyBias = AttentionMasks.keyBias(keyMask, b, t);
        INDArray out = Nd4j.createUninitialized(DataType.FLOAT, s, 'c'); // every row is written
        float[] lse = new float[b * h * t];
        Rows[] io = {rows(q, h, packed), rows(k, h, packed), rows(v, h, packed), rows(out, h, packed)};
        new FusedFloat(b, h, t, d, window, scale, keyBias).forward(io[0], io[1], io[2], io[3], lse);
        keepAlive(io);
        return new Forward(out, needBackward ? new Saved(lse) : null);
    }

    /** Backward in either layout. */
    private static Grads runBackward(
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            int h,
            long[] s,
            boolean packed,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        if (!(fwd.saved() instanceof Saved saved))
            throw new IllegalStateException("fused backward needs forward" + (packed ? "Packed" : "")
                    + "(..., needBackward=true) of FusedAttention");
        if (!Arrays.equals(dOut.shape(), s))
            throw new IllegalArgumentException(
                    "dOut shape " + Arrays.toString(dOut.shape()) + " != " + Arrays.toString(s));
        checkFloat(q);
        int b = (int) s[0], t = (int) (packed ? s[1] : s[2]), d = (int) (packed ? s[2] / h : s[3]);
        float[][] keyBias = AttentionMasks.keyBias(keyMask, b, t);
        // every row of dq, dk and dv is written
        INDArray[] dqkv = packed ? columnsOfOne(q, k, v) : null;
        INDArray dq = dqkv != null ? dqkv[0] : Nd4j.createUninitialized(DataType.FLOAT, s, 'c'),
                dk = dqkv != null ? dqkv[1] : Nd4j.createUninitialized(DataType.FLOAT, s, 'c'),
                dv = dqkv != null ? dqkv[2] : Nd4j.createUninitialized(DataType.FLOAT, s, 'c');
        Rows[] io = {
            rows(q, h, packed),
            rows(k, h, packed),
            rows(v, h, packed),
            rows(fwd.out(), h, packed),
            rows(dOut, h, packed),
            rows(dq, h, packed),
            rows(dk, h, packed),
            rows(dv, h, packed)
        };
        new FusedFloat(b, h, t, d, window, scale, keyBias)
                .backward(io[0], io[1], io[2], io[3], io[4], saved.lse(), io[5], io[6], io[7]);
        keepAlive(io);
        return new Grads(dq, dk, dv);
    }

    /**
     * When packed q, k and v are column blocks of one c-order {@code [B, T, S]} array (the fused q/k/v product), their
     * gradients as the same column blocks of one new {@code [B, T, S]} array, so that the product's backward takes
     * them as its gradient without copying them together ({@code SplitLinearOp}); else null. Columns of that array
     * outside the three blocks are left unwritten.
     */
    static INDArray[] columnsOfOne(INDArray q, INDArray k, INDArray v) {
        if (q.rank() != 3 || !Arrays.equals(k.shape(), q.shape()) || !Arrays.equals(v.shape(), q.shape())) return null;
        long n = q.size(0) * q.size(1), width = q.size(2);
        INDArray[] flat = {q.reshape('c', n, width), k.reshape('c', n, width), v.reshape('c', n, width)};
        long[] col = JavaArrays.columnsOfOneRegion(flat);
        if (col == null) return null;
        long rowLen = n > 1 ? flat[0].stride(0) : Arrays.stream(col).max().getAsLong() + width;
        INDArray all = Nd4j.createUninitialized(DataType.FLOAT, new long[] {q.size(0), q.size(1), rowLen}, 'c');
        INDArray[] g = new INDArray[3];
        for (int i = 0; i < 3; i++)
            g[i] = all.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(col[i], col[i] + width));
        return g;
    }

    /**
     * Where one head's rows of an operand lie in its array's own memory: row i of head task bh (= b*H + h) starts at
     * element {@code b*batch + h*head + i*row} of {@code buf}, and its D values are adjacent. Views (a column block of
     * the fused q/k/v product, a permute) are read in place; head tasks touch disjoint rows, so they share the buffer
     * through absolute gets and puts only.
     */
    record Rows(FloatBuffer buf, int batch, int head, int row, INDArray owner) {
        int at(int bh, int i, int nH) {
            return (bh / nH) * batch + (bh % nH) * head + i * row;
        }
    }

    /**
     * {@code a} ([B, T, H*D] packed or [B, H, T, D]) as {@link Rows}: in place, but cast to FLOAT if it is not, and
     * copied if its last dimension is strided.
     */
    static Rows rows(INDArray a, int heads, boolean packed) {
        // a cast or copy is held by the Rows (owner) until the kernel is done
        if (a.dataType() != DataType.FLOAT) a = a.castTo(DataType.FLOAT);
        if (a.stride(a.rank() - 1) != 1 && a.size(a.rank() - 1) > 1) a = a.dup('c');
        long extent = 1;
        for (int i = 0; i < a.rank(); i++) extent += (a.size(i) - 1) * a.stride(i);
        if (extent * 4 >= Integer.MAX_VALUE - 64)
            throw new IllegalArgumentException("fused attention: operand " + Arrays.toString(a.shape())
                    + " spans over 2 GB of memory; the fused kernel addresses each operand through one buffer");
        FloatPointer p = Gemm.floatPointer(a);
        FloatBuffer buf = p.limit(p.position() + extent)
                .asByteBuffer()
                .order(ByteOrder.nativeOrder())
                .asFloatBuffer();
        long d = packed ? a.size(2) / heads : a.size(3);
        return packed
                ? new Rows(buf, (int) a.stride(0), (int) d, (int) a.stride(1), a)
                : new Rows(buf, (int) a.stride(0), (int) a.stride(1), (int) a.stride(2), a);
    }

    /** The arrays (each Rows' owner) own the memory the kernel's buffers point into: reachable until it is done. */
    private static void keepAlive(Rows[] io) {
        java.lang.ref.Reference.reachabilityFence(io);
    }

    private static void checkFloat(INDArray q) {
        if (q.dataType() != DataType.FLOAT)
            throw new IllegalArgumentException("fused attention is float32 only, got " + q.dataType()
                    + " (Kernels.attentionFor sends other dtypes to the reference)");
    }

    static long[] packedShapes(INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask) {
        long[] s = Packing.checkPacked(q, heads);
        if (!Arrays.equals(s, k.shape())
                || !Arrays.equals(s, v.shape())
                || q.dataType() != k.dataType()
                || q.dataType() != v.dataType()) {
            throw new IllegalArgumentException("attention: q, k, v must be equal [B, T, H*D] of one dtype; got "
                    + q.dataType() + Arrays.toString(s) + ", " + k.dataType() + Arrays.toString(k.shape()) + ", "
                    + v.dataType() + Arrays.toString(v.shape()));
        }
        if (keyMask != null && (keyMask.rank() != 2 || keyMask.size(0) != s[0] || keyMask.size(1) != s[1])) {
            throw new IllegalArgumentException("attention: key mask " + Arrays.toString(keyMask.shape())
                    + " for [B, T] = [" + s[0] + ", " + s[1] + "]");
        }
        checkSize(s);
        return s;
    }

    private static void checkSize(long[] s) {
        long n = 1;
        for (long x : s) n *= x;
        if (n * 4 >= Integer.MAX_VALUE - 64)
            throw new IllegalArgumentException(
                    "fused attention supports operands under 2 GB, got " + Arrays.toString(s));
    }

    /**
     * Attention per (batch, head) task over the causal/local band only. Forward: groups of G query rows, each with
     * its exact softmax over its own keys ([G][T] scores at a time), keeping the log-sum-exp per row. Backward: key
     * tiles of BK and query tiles of BQ that intersect the band, recomputing P = exp(S - lse) tile by tile (as
     * flash-attention does). Memory: O(T*D) per task, never T*T.
     *
     * <p>A task reads its head's rows straight from the operands' memory ({@link Rows}: packed [B,T,H*D] as the q/k/v
     * projections produce it, heads-major [B,H,T,D], or a view) into dense [T][D] arrays, works on those, and writes
     * its rows of the results back: the copies in and out run inside the parallel head tasks, and a strided layout is
     * never streamed over (rows H*D floats apart map to a few L1 sets: several times slower, bench/RESULTS.md).
     */
    static final class FusedFloat {
        /** Query and key tile sizes; equal, so that a key tile's first query tile is its diagonal one (backward). */
        static final int BQ = 64, BK = BQ;
        /** Query rows (forward, backward) and keys (backward) that one micro-kernel call serves together. */
        static final int G = 4;

        final int nB, nH, nT, nD, window;

        /** Row stride of the forward's [G][sw] score rows: T rounded up to whole vectors. */
        final int sw;

        final float scale;
        final float[][] keyBias; // [B][T] additive key-padding bias (0 or -inf), or null

        FusedFloat(int b, int h, int t, int d, int window, double scale, float[][] keyBias) {
            this.nB = b;
            this.nH = h;
            this.nT = t;
            this.nD = d;
            this.sw = (t + L - 1) / L * L;
            this.window = window;
            this.scale = (float) scale;
            this.keyBias = keyBias;
            layout();
        }

        /**
         * Work memory of a head task ({@link WorkArrays}): one array holding every slot below at fixed offsets, reused
         * across calls (allocating per head filled the young generation). One array with staggered offsets rather than
         * an array per slot: with separate arrays, where the garbage collector placed them decided whether a task's
         * dozen [T][D] streams collided in the same cache sets, a different speed per process.
         */

        /**
         * Slots of the work array: dense [T][D] rows, transposed keys (the forward's whole K^T as key tiles
         * [T/BK][D][BK]; the backward keeps one key tile's K^T and V^T [D][BK] there), tiles and per-row values.
         */
        static final int Q = 0,
                K = 1,
                V = 2,
                DO = 3,
                O = 4,
                DK = 5,
                DV = 6,
                GQ = 7,
                KT = 8,
                VT = 9,
                P = 10,
                DS = 11,
                S = 12,
                ACC = 13,
                LSUM = 14,
                DELTA = 15,
                SLOTS = 16;

        /** Gap after every slot: 17 cache lines, so that slots start at different offsets modulo 4 KB and 128 KB. */
        private static final int GAP = 17 * 16;

        /** Offset of each slot in the work array, and the array's length. */
        private final int[] off = new int[SLOTS + 1];

        private void layout() {
            // the forward's K^T as key tiles, or the backward's one tile
            int dense = nT * nD, trans = nD * Math.max(alignUp(nT, BK), BK);
            int[] size = new int[SLOTS];
            for (int i = Q; i <= GQ; i++) size[i] = dense;
            size[KT] = size[VT] = trans;
            size[P] = size[DS] = BQ * BK;
            size[S] = G * sw;
            size[ACC] = G * nD;
            size[LSUM] = G;
            size[DELTA] = nT;
            for (int i = 0; i < SLOTS; i++) off[i + 1] = off[i] + (size[i] + 15) / 16 * 16 + GAP;
        }

        /** out and lse [B*H*T] (log-sum-exp of the scaled, allowed scores; +inf for rows with no key). */
        void forward(Rows q, Rows k, Rows v, Rows out, float[] lse) {
            eachHead((bh, w) -> forwardHead(bh, q, k, v, out, lse, w));
        }

        /** dq, dk, dv (every row written) from o, dO and the forward's lse. */
        void backward(Rows q, Rows k, Rows v, Rows o, Rows dO, float[] lse, Rows dq, Rows dk, Rows dv) {
            eachHead((bh, w) -> backwardHead(bh, q, k, v, o, dO, lse, dq, dk, dv, w));
        }

        /** A head task: (batch·head index, its work array). */
        private interface HeadTask {
            void run(int bh, float[] w);
        }

        /**
         * Every (batch, head) in parallel ({@link Blocks}: one head per block, taken by whichever thread is free), each
         * with a work array taken for the layout and given back after.
         */
        private void eachHead(HeadTask task) {
            Blocks.run(nB * nH, 1, (lo, hi) -> {
                float[] w = WorkArrays.take(off[SLOTS]);
                try {
                    for (int bh = lo; bh < hi; bh++) task.run(bh, w);
                } finally {
                    WorkArrays.give(w);
                }
            });
        }

        private int firstKey(int i) {
            return AttentionMasks.firstKey(i, window);
        }

        private static int alignDown(int x, int a) {
            return x - Math.floorMod(x, a);
        }

        private static int alignUp(int x, int a) {
            return alignDown(x + a - 1, a);
        }

        /** Head task bh's rows of {@code a} into slot {@code slot} of w as a dense [T][D]; returns the slot's offset. */
        private int gather(Rows a, int bh, float[] w, int slot) {
            int o = off[slot];
            for (int i = 0; i < nT; i++) a.buf().get(a.at(bh, i, nH), w, o + i * nD, nD);
            return o;
        }

        /** Writes the dense [T][D] at offset {@code from} of w into head task bh's rows of {@code a}. */
        private void scatter(float[] w, int from, Rows a, int bh) {
            for (int i = 0; i < nT; i++) a.buf().put(a.at(bh, i, nH), w, from + i * nD, nD);
        }

        /**
         * The dense [T][D] at offset {@code from} of w transposed to key tiles [T/BK][D][BK] in slot {@code slot}, each
         * as {@link #transposeTile} lays out the backward's: score rows are row-times-matrix (vectorises over keys), and
         * the forward's score product reads a tile's D rows BK floats apart, one 16 KB block (with one [D][T + 16]
         * matrix it streamed rows 4 KB apart from L2, 4-8% slower); returns the slot's offset.
         */
        private int transpose(float[] w, int from, int slot) {
            int t = off[slot];
            for (int j0 = 0; j0 < nT; j0 += BK) transposeTile(w, from, j0, Math.min(BK, nT - j0), t + j0 * nD);
            return t;
        }

        /**
         * Keys [j0, j0 + nk) of the dense [T][D] at offset {@code from} of w, transposed to the [D][BK] tile at
         * {@code to}: the backward's scores read a key tile's K^T and V^T for every query tile below it, and rows BK
         * floats apart stay in L1 and the prefetchers' reach where rows T + 16 apart did not (a probe of the
         * micro-kernel on one core, out of L1: 92-95 GFLOP/s with rows 64 floats apart, 72 with rows 1040 apart).
         */
        private void transposeTile(float[] w, int from, int j0, int nk, int to) {
            for (int j = 0; j < nk; j++) for (int d = 0; d < nD; d++) w[to + d * BK + j] = w[from + (j0 + j) * nD + d];
        }

        /**
         * In a task's work array {@code a}: the rows ρ in [0, g) at {@code o + ρ*oRow} (+)= the rows at
         * {@code wOff + ρ*wRow} (stepping wStride) times the [count][n] matrix at mOff (rows mStride apart): four rows
         * per call of the register-blocked micro-kernel, the rest one by one.
         */
        private static void combine(
                int g,
                float[] a,
                int wOff,
                int wRow,
                int wStride,
                int count,
                int mOff,
                int mStride,
                int o,
                int oRow,
                int n,
                boolean accumulate) {
            int r = 0;
            for (; r + 4 <= g; r += 4)
                RowProducts.rowCombine4(
                        a,
                        wOff + r * wRow,
                        wRow,
                        wStride,
                        count,
                        a,
                        mOff,
                        mStride,
                        a,
                        o + r * oRow,
                        oRow,
                        n,
                        accumulate);
            for (; r < g; r++)
                rowCombine(a, wOff + r * wRow, wStride, count, a, mOff, mStride, a, o + r * oRow, n, accumulate);
        }

        /** Keys [lo, hi) that query row i may see within the key tile [j0, j1) (empty when lo >= hi). */
        private int lo(int i, int j0) {
            return Math.max(j0, firstKey(i));
        }

        private static int hi(int i, int j1) {
            return Math.min(j1, i + 1);
        }

        /**
         * Forward of one (batch, head), in groups of G = 4 query rows that share every loaded key and value vector. A
         * group's scores cover the union of its rows' key ranges at once (a [G][T] row block, O(T) memory), so each
         * row's softmax is exact in one pass: max, exp and sum over its own keys, zeros outside them, then O = P V
         * (both products through {@link #combine}) scaled by 1/sum. No running max or rescaling as in a key-tiled
         * (flash) forward: at T = 256 a row met 2.5 key tiles on average, and that per-row, per-tile bookkeeping cost
         * as much as the products.
         */
        private void forwardHead(int bh, Rows q, Rows k, Rows v, Rows out, float[] lse, float[] w) {
            final int T = nT, D = nD; // every slot below is an offset into w
            final int qs = gather(q, bh, w, Q), kt = transpose(w, gather(k, bh, w, K), KT), vh = gather(v, bh, w, V);
            FloatKernels.scale(w, qs, qs + T * D, scale);
            final int s = off[S], acc = off[ACC], inv = off[LSUM]; // scores, then P [G][sw]; P V [G][D]; 1/sum [G]
            float[] kb = keyBias == null ? null : keyBias[bh / nH];
            for (int r0 = 0; r0 < T; r0 += G) {
                int g = Math.min(G, T - r0);
                int ulo = firstKey(r0), uhi = r0 + g; // the union of the rows' ranges [firstKey(i), i]
                int c0 = alignDown(ulo, L), c1 = Math.min(T, alignDown(uhi + L - 1, L)); // whole vectors of keys
                for (int x0 = c0, xe; x0 < c1; x0 = xe) { // S = Q K^T, a key tile at a time
                    int j0 = alignDown(x0, BK);
                    xe = Math.min(c1, j0 + BK);
                    combine(g, w, qs + r0 * D, D, 1, D, kt + j0 * D + x0 - j0, BK, s + x0 - c0, sw, xe - x0, false);
                }
                for (int ro = 0; ro < g; ro++) {
                    int i = r0 + ro, so = s + ro * sw - c0, lo = firstKey(i), hi = i + 1; // so + j: key j's score
                    // the row's keys [lo, hi) widened to whole vectors [vlo, vhi) inside the row's sw slots, the
                    // extra lanes at -inf: max, exp and sum run on whole vectors and those lanes come out exactly 0
                    int vlo = c0 + alignDown(lo - c0, L), vhi = vlo + alignUp(hi - vlo, L);
                    Arrays.fill(w, so + vlo, so + lo, Float.NEGATIVE_INFINITY);
                    Arrays.fill(w, so + hi, so + vhi, Float.NEGATIVE_INFINITY);
                    Arrays.fill(w, so + ulo, so + Math.max(ulo, vlo), 0f); // keys of the union outside: P = 0
                    Arrays.fill(w, so + Math.min(vhi, uhi), so + uhi, 0f);
                    if (kb != null) for (int j = lo; j < hi; j++) w[so + j] += kb[j];
                    float mx = max(w, so + vlo, so + vhi);
                    if (mx == Float.NEGATIVE_INFINITY) { // every key is padding: output 0, ignored by callers
                        Arrays.fill(w, so + vlo, so + vhi, 0f);
                        w[inv + ro] = 0f;
                        lse[bh * T + i] = Float.POSITIVE_INFINITY;
                        continue;
                    }
                    float sum = expShiftSum(w, so + vlo, so + vhi, mx); // P·sum = exp(S - max); masked keys give 0
                    w[inv + ro] = 1f / sum;
                    lse[bh * T + i] = mx + (float) Math.log(sum);
                }
                combine(g, w, s + ulo - c0, sw, 1, uhi - ulo, vh + ulo * D, D, acc, D, D, false); // P V
                for (int ro = 0; ro < g; ro++) {
                    int ar = acc + ro * D;
                    FloatKernels.scale(w, ar, ar + D, w[inv + ro]);
                    out.buf().put(out.at(bh, r0 + ro, nH), w, ar, D);
                }
            }
        }

        /**
         * Backward of one (batch, head), recomputing P tile by tile. Query rows go through in groups of G (S, dP = dO V^T
         * and dQ += dS K), then keys in groups of G (dV += P^T dO, dK += dS^T Q). Both tiles P and dS hold exact zeros
         * wherever a query may not see a key, so the groups may run over the union of their members' ranges.
         */
        private void backwardHead(
                int bh, Rows q, Rows k, Rows v, Rows o, Rows dO, float[] lse, Rows dq, Rows dk, Rows dv, float[] w) {
            final int T = nT, D = nD; // every slot below is an offset into w
            final int qs = gather(q, bh, w, Q), kh = gather(k, bh, w, K), vh = gather(v, bh, w, V);
            final int kt = off[KT], vt = off[VT]; // the current key tile's K^T and V^T, [D][BK]
            final int dOh = gather(dO, bh, w, DO), oh = gather(o, bh, w, O);
            FloatKernels.scale(w, qs, qs + T * D, scale);
            final int dkh = off[DK], dvh = off[DV], gq = off[GQ]; // dK, dV and dq / scale accumulators
            // dK, dV: each key tile's first query tile is its diagonal one (BQ = BK), which sees every key of the
            // tile and writes their rows (no zeros needed first); dQ accumulates from zeros
            Arrays.fill(w, gq, gq + T * D, 0f);
            final int delta = off[DELTA], p = off[P], ds = off[DS]; // delta = rowsum(dO * O); tiles [BQ][BK]
            for (int i = 0; i < T; i++) w[delta + i] = RowProducts.dot(w, dOh + i * D, w, oh + i * D, D);
            float[] kb = keyBias == null ? null : keyBias[bh / nH];
            for (int j0 = 0; j0 < T; j0 += BK) {
                int j1 = Math.min(T, j0 + BK), nk = j1 - j0;
                transposeTile(w, kh, j0, nk, kt);
                transposeTile(w, vh, j0, nk, vt);
                int iEnd = window > 0 ? Math.min(T, j1 - 1 + window) : T; // rows that can see a key of this tile
                for (int i0 = alignDown(j0, BQ); i0 < iEnd; i0 += BQ) {
                    int i1 = Math.min(T, i0 + BQ), nq = i1 - i0;
                    // a tile where every row sees every key, none of them padding, has each row of P and dS written
                    // whole below; other tiles need zeros where rows or groups are skipped
                    boolean full = kb == null && i0 >= j1 - 1 && firstKey(i1 - 1) <= j0;
                    if (!full) {
                        Arrays.fill(w, p, p + nq * BK, 0f);
                        Arrays.fill(w, ds, ds + nq * BK, 0f);
                    }
                    for (int r0 = 0; r0 < nq; r0 += G) {
                        int g = Math.min(G, nq - r0), ulo = Integer.MAX_VALUE, uhi = Integer.MIN_VALUE;
                        for (int ro = 0; ro < g; ro++) {
                            int i = i0 + r0 + ro, lo = lo(i, j0), hi = hi(i, j1);
                            if (lo < hi && lse[bh * T + i] != Float.POSITIVE_INFINITY) {
                                ulo = Math.min(ulo, lo);
                                uhi = Math.max(uhi, hi);
                            }
                        }
                        if (ulo >= uhi) continue; // nothing to see (rows without keys: no gradient)
                        int c0 = alignDown(ulo - j0, L), c1 = Math.min(nk, alignDown(uhi - j0 + L - 1, L));
                        int to = r0 * BK;
                        combine(
                                g,
                                w,
                                qs + (i0 + r0) * D,
                                D,
                                1,
                                D,
                                kt + c0,
                                BK,
                                p + to + c0,
                                BK,
                                c1 - c0,
                                false); // S = Q K^T
                        combine(
                                g,
                                w,
                                dOh + (i0 + r0) * D,
                                D,
                                1,
                                D,
                                vt + c0,
                                BK,
                                ds + to + c0,
                                BK,
                                c1 - c0,
                                false); // dP = dO V^T
                        for (int ro = 0; ro < g; ro++) {
                            int i = i0 + r0 + ro, ro0 = to + ro * BK, lo = lo(i, j0), hi = hi(i, j1);
                            int pr = p + ro0, dr = ds + ro0; // this row of the tiles
                            float li = lse[bh * T + i];
                            if (lo >= hi || li == Float.POSITIVE_INFINITY) {
                                Arrays.fill(w, pr + c0, pr + c1, 0f);
                                Arrays.fill(w, dr + c0, dr + c1, 0f);
                                continue;
                            }
                            // this row's keys [a, e) of the tile, widened to whole vectors [va, ve) (BK is a
                            // multiple of L) with the extra lanes at -inf, so exp gives exact zeros there
                            int a = lo - j0, e = hi - j0, va = alignDown(a, L), ve = alignUp(e, L);
                            Arrays.fill(w, pr + c0, pr + va, 0f); // outside this row's keys: exact zeros
                            Arrays.fill(w, pr + ve, pr + Math.max(ve, c1), 0f);
                            Arrays.fill(w, pr + va, pr + a, Float.NEGATIVE_INFINITY);
                            Arrays.fill(w, pr + e, pr + ve, Float.NEGATIVE_INFINITY);
                            if (kb != null) for (int j = lo; j < hi; j++) w[pr + j - j0] += kb[j];
                            expShift(w, pr + va, pr + ve, li); // P = exp(S - lse)
                            float di = w[delta + i];
                            FloatKernels.scoreGradient(w, pr + va, dr + va, ve - va, di); // dS = P (dP - delta)
                            Arrays.fill(w, dr + c0, dr + a, 0f); // dS exactly 0 outside, whatever dP held there
                            Arrays.fill(w, dr + e, dr + Math.max(e, c1), 0f);
                        }
                        combine(
                                g,
                                w,
                                ds + to + c0,
                                BK,
                                1,
                                c1 - c0,
                                kh + (j0 + c0) * D,
                                D,
                                gq + (i0 + r0) * D,
                                D,
                                D,
                                true); // dQ += dS K
                    }
                    for (int j = j0; j < j1; j += G) {
                        int g = Math.min(G, j1 - j);
                        int ra = Math.max(j, i0),
                                rb = Math.min(i1, window > 0 ? j + g - 1 + window : T); // rows any of the group sees
                        if (ra >= rb) continue;
                        int w0 = (ra - i0) * BK + (j - j0), jb = j * D;
                        boolean acc = i0 != j0; // the diagonal tile writes (see above)
                        combine(g, w, p + w0, 1, BK, rb - ra, dOh + ra * D, D, dvh + jb, D, D, acc); // dV += P^T dO
                        combine(g, w, ds + w0, 1, BK, rb - ra, qs + ra * D, D, dkh + jb, D, D, acc); // dK += dS^T Q
                    }
                }
            }
            FloatKernels.scale(w, gq, gq + T * D, scale);
            scatter(w, gq, dq, bh);
            scatter(w, dkh, dk, bh);
            scatter(w, dvh, dv, bh);
        }
    }

    /** Vector API micro-kernels on float[] rows used by {@link FusedAttention}. */
    static final class FloatKernels {
        static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
        static final int L = SP.length();
        /** {@link VectorMath#sum}'s tree, written out in expShiftSum (no vector crosses a call there). */
        private static final VectorShuffle<Float>[] HALVES = VectorMath.halves(SP);

        private FloatKernels() {}

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
                    FloatVector e = VectorMath.expSoftmax(
                            FloatVector.fromArray(SP, s, x).sub(sh));
                    e.intoArray(s, x);
                    acc = acc.add(e);
                }
                for (VectorShuffle<Float> h : HALVES) acc = acc.add(acc.rearrange(h));
                sum = acc.lane(0);
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
                VectorMath.expSoftmax(FloatVector.fromArray(SP, s, x).sub(sh)).intoArray(s, x);
            for (; x < to; x++) s[x] = (float) Math.exp(s[x] - shift);
        }

        /** a[x] *= c for x in [from, to). */
        static void scale(float[] a, int from, int to, float c) {
            int x = from;
            for (; x + L <= to; x += L) FloatVector.fromArray(SP, a, x).mul(c).intoArray(a, x);
            for (; x < to; x++) a[x] *= c;
        }

        /**
         * {@code a[d + x] = a[p + x] * (a[d + x] - c)} for x in [0, n): dS = P (dP - delta) on one row. Written with
         * vectors because P and dS share one work array, which keeps C2 from vectorising the scalar loop.
         */
        static void scoreGradient(float[] a, int p, int d, int n, float c) {
            int x = 0;
            for (; x + L <= n; x += L)
                FloatVector.fromArray(SP, a, p + x)
                        .mul(FloatVector.fromArray(SP, a, d + x).sub(c))
                        .intoArray(a, d + x);
            for (; x < n; x++) a[d + x] = a[p + x] * (a[d + x] - c);
        }
    }
}
