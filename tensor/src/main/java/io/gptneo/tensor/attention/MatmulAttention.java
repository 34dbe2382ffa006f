package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.expShift;
import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.expShiftSum;
import static io.gptneo.tensor.attention.FusedAttention.FloatKernels.max;

import io.gptneo.tensor.FloatView;
import io.gptneo.tensor.Gemm;
import io.gptneo.tensor.OneDnnMatmul;
import io.gptneo.tensor.OneDnnMatmul.Operand;
import io.gptneo.tensor.RowProducts;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Float32 attention for short sequences on oneDNN's batched matmul (reference: {@link ReferenceAttention}): the scores
 * of every (batch, head) are materialised as one {@code [B, H, T, T]} array, each product is one oneDNN call over all
 * heads, reading q, k, v and writing the results in place through strided descriptors, and the masking, the softmax and
 * its backward are Java passes over score rows.
 * <pre>
 *   forward:  S = Q·Kᵀ;  P = softmax(scale·S + mask) per row (keeps lse = log Σ exp);  O = P·V
 *   backward: P = exp(scale·Q·Kᵀ + mask − lse) (recomputed);  dP = dO·Vᵀ;
 *             dS = scale · P ⊙ (dP − Σⱼ P ⊙ dP);  dQ = dS·K;  dK = dSᵀ·Q;  dV = Pᵀ·dO
 * </pre>
 * The products cover the whole [T, T] square, masked half and outside-the-window keys included (P and dS hold exact
 * zeros there): O(T²·D) work and two [B, H, T, T] buffers. Opt-in ({@code -Dgptneo.attention=matmul}): measured
 * against {@link FusedAttention} it is on par up to 256 positions inside a workspace, slower at 512 (local layers) and
 * well behind outside a workspace, where the score buffers are fresh memory on every call (bench/RESULTS.md), so the
 * fused kernel stays the default. It needs oneDNN.
 */
public final class MatmulAttention implements AttentionKernel {
    /** What forward keeps: the log-sum-exp of every query row (+inf for a row without keys). */
    record Saved(float[] lse) {}

    /** Whether oneDNN is present to run it. */
    public static boolean available() {
        return OneDnnMatmul.available();
    }

    @Override
    public String name() {
        return "matmul";
    }

    @Override
    public Forward forward(
            INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        return forward(Layout.heads(s), q, k, v, keyMask, window, scale, needBackward);
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
        return backward(Layout.heads(s), fwd, q, k, v, keyMask, window, scale, dOut);
    }

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
        return forward(
                Layout.packed(FusedAttention.packedShapes(q, k, v, heads, keyMask), heads),
                q,
                k,
                v,
                keyMask,
                window,
                scale,
                needBackward);
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
        Layout lay = Layout.packed(FusedAttention.packedShapes(q, k, v, heads, keyMask), heads);
        return backward(lay, fwd, q, k, v, keyMask, window, scale, dOut);
    }

    /**
     * The operands' layout: {@code shape} as the caller sees it ({@code [B, H, T, D]} or packed {@code [B, T, H·D]}),
     * and the sizes B, H, T, D.
     */
    record Layout(long[] shape, boolean packed, int b, int h, int t, int d) {
        static Layout heads(long[] s) {
            return new Layout(s, false, (int) s[0], (int) s[1], (int) s[2], (int) s[3]);
        }

        static Layout packed(long[] s, int heads) {
            return new Layout(s, true, (int) s[0], heads, (int) s[1], (int) (s[2] / heads));
        }

        /** An array of this layout (any strides with unit stride in the last dim) as a [B, H, T, D] operand. */
        Operand operand(INDArray a) {
            long[] st = a.stride();
            long[] strides = packed ? new long[] {st[0], d, st[1], 1} : new long[] {st[0], st[1], st[2], 1};
            return Operand.f32(new long[] {b, h, t, d}, strides);
        }

        /** The scores [B, H, T, T], c-order. */
        Operand scores() {
            return Operand.f32(new long[] {b, h, t, t}, (long) h * t * t, (long) t * t, t, 1);
        }

        INDArray newArray() {
            return Nd4j.createUninitialized(DataType.FLOAT, shape, 'c');
        }

        /** {@code a} if the products can read it in place (FLOAT, unit stride in the last dim), else a c-order copy. */
        INDArray readable(INDArray a) {
            boolean ok = a.dataType() == DataType.FLOAT && a.stride(a.rank() - 1) == 1 && a.ordering() == 'c';
            return ok ? a : a.dup('c');
        }
    }

    private static Forward forward(
            Layout lay,
            INDArray q,
            INDArray k,
            INDArray v,
            INDArray keyMask,
            int window,
            double scale,
            boolean needBackward) {
        check(q);
        q = lay.readable(q);
        k = lay.readable(k);
        v = lay.readable(v);
        INDArray scores = scoresArray(lay);
        float[] lse = new float[lay.b() * lay.h() * lay.t()];
        INDArray out = lay.newArray();
        try (FloatView sv = FloatView.update(scores)) {
            product(lay.operand(q), q, lay.operand(k).transposed(), k, lay.scores(), scores); // S = Q Kᵀ
            Rows rows = new Rows(lay, keyMask, window, (float) scale);
            rows.forEachHead(
                    sv.buf.asFloatBuffer(), null, (bh, i, p, unused) -> lse[bh * lay.t() + i] = rows.softmax(bh, i, p));
            product(lay.scores(), scores, lay.operand(v), v, lay.operand(out), out); // O = P V
        }
        return new Forward(out, needBackward ? new Saved(lse) : null);
    }

    private static Grads backward(
            Layout lay,
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        if (!(fwd.saved() instanceof Saved saved))
            throw new IllegalStateException("matmul attention backward needs its forward(..., needBackward=true)");
        if (!Arrays.equals(dOut.shape(), lay.shape()))
            throw new IllegalArgumentException(
                    "dOut shape " + Arrays.toString(dOut.shape()) + " != " + Arrays.toString(lay.shape()));
        check(q);
        q = lay.readable(q);
        k = lay.readable(k);
        v = lay.readable(v);
        INDArray dO = lay.readable(dOut);
        INDArray p = scoresArray(lay), ds = scoresArray(lay);
        INDArray dq = lay.newArray(), dk = lay.newArray(), dv = lay.newArray();
        Operand sc = lay.scores();
        try (FloatView pv = FloatView.update(p);
                FloatView dsv = FloatView.update(ds)) {
            product(lay.operand(q), q, lay.operand(k).transposed(), k, sc, p); // S = Q Kᵀ
            product(lay.operand(dO), dO, lay.operand(v).transposed(), v, sc, ds); // dP = dO Vᵀ
            Rows rows = new Rows(lay, keyMask, window, (float) scale);
            float[] lse = saved.lse();
            rows.forEachHead(pv.buf.asFloatBuffer(), dsv.buf.asFloatBuffer(), (bh, i, pr, dpr) -> {
                rows.probabilities(bh, i, pr, lse[bh * lay.t() + i]);
                rows.scoreGradient(i, pr, dpr);
            });
            product(sc.transposed(), p, lay.operand(dO), dO, lay.operand(dv), dv); // dV = Pᵀ dO
            product(sc, ds, lay.operand(k), k, lay.operand(dq), dq); // dQ = dS K
            product(sc.transposed(), ds, lay.operand(q), q, lay.operand(dk), dk); // dK = dSᵀ Q
        }
        return new Grads(dq, dk, dv);
    }

    private static void check(INDArray q) {
        if (q.dataType() != DataType.FLOAT)
            throw new IllegalArgumentException("matmul attention is float32 only, got " + q.dataType());
        if (!available()) throw new IllegalStateException("matmul attention needs oneDNN, which did not load");
    }

    private static INDArray scoresArray(Layout lay) {
        long n = (long) lay.b() * lay.h() * lay.t() * lay.t();
        if (n * 4 >= Integer.MAX_VALUE - 64)
            throw new IllegalArgumentException("matmul attention scores [" + lay.b() + ", " + lay.h() + ", " + lay.t()
                    + ", " + lay.t() + "] exceed 2 GB; use the fused kernel");
        return Nd4j.createUninitialized(DataType.FLOAT, new long[] {n}, 'c');
    }

    /** {@code c = a · b} on oneDNN, each operand described over its array's memory. */
    private static void product(Operand ao, INDArray a, Operand bo, INDArray b, Operand co, INDArray c) {
        OneDnnMatmul.run(ao, Gemm.floatPointer(a), bo, Gemm.floatPointer(b), co, Gemm.floatPointer(c));
        java.lang.ref.Reference.reachabilityFence(a);
        java.lang.ref.Reference.reachabilityFence(b);
        java.lang.ref.Reference.reachabilityFence(c);
    }

    /** The row passes over score rows: which keys row i may see, and the softmax and its backward on one row. */
    private static final class Rows {
        final int nT, nH, window;
        final float scale;
        final float[][] keyBias; // [B][T]: 0 for a real key, -inf for padding; null without a mask

        Rows(Layout lay, INDArray keyMask, int window, float scale) {
            this.nT = lay.t();
            this.nH = lay.h();
            this.window = window;
            this.scale = scale;
            this.keyBias = AttentionMasks.keyBias(keyMask, lay.b(), lay.t());
        }

        interface RowBody {
            /** Row i of head task bh: {@code a} (and {@code b}, when given) hold its T values, written back after. */
            void run(int bh, int i, float[] a, float[] b);
        }

        /** body on every row of every (batch, head), in parallel over heads; rows are copied in and back out. */
        void forEachHead(FloatBuffer a, FloatBuffer b, RowBody body) {
            IntStream.range(0, a.capacity() / (nT * nT)).parallel().forEach(bh -> {
                float[] ra = new float[nT], rb = b == null ? null : new float[nT];
                for (int i = 0; i < nT; i++) {
                    int off = (bh * nT + i) * nT;
                    a.get(off, ra, 0, nT);
                    if (b != null) b.get(off, rb, 0, nT);
                    body.run(bh, i, ra, rb);
                    a.put(off, ra, 0, nT);
                    if (b != null) b.put(off, rb, 0, nT);
                }
            });
        }

        /** s[lo, i] = scale·s + key bias for row i of head task bh; the rest of the row 0. Returns lo. */
        private int logits(int bh, int i, float[] s) {
            int lo = AttentionMasks.firstKey(i, window), hi = i + 1;
            Arrays.fill(s, 0, lo, 0f);
            Arrays.fill(s, hi, nT, 0f);
            FusedAttention.FloatKernels.scale(s, lo, hi, scale);
            if (keyBias != null) {
                float[] kb = keyBias[bh / nH];
                for (int j = lo; j < hi; j++) s[j] += kb[j];
            }
            return lo;
        }

        /** Row i of head task bh from raw scores to probabilities; returns its log-sum-exp (+inf, row 0, without keys). */
        float softmax(int bh, int i, float[] s) {
            int lo = logits(bh, i, s), hi = i + 1;
            float m = max(s, lo, hi);
            if (m == Float.NEGATIVE_INFINITY) { // every key this row may see is padding
                Arrays.fill(s, 0f);
                return Float.POSITIVE_INFINITY;
            }
            float l = expShiftSum(s, lo, hi, m);
            FusedAttention.FloatKernels.scale(s, lo, hi, 1f / l);
            return m + (float) Math.log(l);
        }

        /** Row i of head task bh from raw scores to the forward's probabilities, given its log-sum-exp. */
        void probabilities(int bh, int i, float[] s, float lse) {
            if (lse == Float.POSITIVE_INFINITY) {
                Arrays.fill(s, 0f);
                return;
            }
            int lo = logits(bh, i, s);
            expShift(s, lo, i + 1, lse);
        }

        /** dp (dL/dP of row i) to dS = scale · P ⊙ (dP − Σ P ⊙ dP): the gradient of the scores before scaling. */
        void scoreGradient(int i, float[] p, float[] dp) {
            int lo = AttentionMasks.firstKey(i, window), hi = i + 1;
            float delta = RowProducts.dot(p, lo, dp, lo, hi - lo);
            for (int j = lo; j < hi; j++) dp[j] = scale * p[j] * (dp[j] - delta);
            Arrays.fill(dp, 0, lo, 0f);
            Arrays.fill(dp, hi, nT, 0f);
        }
    }
}
