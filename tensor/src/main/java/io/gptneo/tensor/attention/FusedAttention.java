package io.gptneo.tensor.attention;

import java.util.Arrays;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.Scratch;

/**
 * Fast float32 attention (flash-attention style; reference: {@link ReferenceAttention}): never materialises [T, T].
 * Copies q, k, v ({@code [B, H, T, D]}, or packed {@code [B, T, H*D]} indexed in place by {@link #forwardPacked})
 * into Java arrays and runs {@link FusedFloat} (Vector API micro-kernels, parallel over B*H). Local layers visit only
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
    public Forward forward(INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        checkSize(s);
        return run(q, k, v, (int) s[1], s, false, keyMask, window, scale, needBackward);
    }

    @Override
    public Grads backward(Forward fwd, INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, INDArray dOut) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        return runBackward(fwd, q, k, v, (int) s[1], s, false, keyMask, window, scale, dOut);
    }

    /** Packed [B, T, H*D] operands indexed in place: no permuted copies in or out. */
    @Override
    public Forward forwardPacked(INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask, int window, double scale, boolean needBackward) {
        return run(q, k, v, heads, packedShapes(q, k, v, heads, keyMask), true, keyMask, window, scale, needBackward);
    }

    @Override
    public Grads backwardPacked(Forward fwd, INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask, int window, double scale,
                                INDArray dOut) {
        return runBackward(fwd, q, k, v, heads, packedShapes(q, k, v, heads, keyMask), true, keyMask, window, scale, dOut);
    }

    /** Forward in either layout; {@code s} is the operands' (checked) shape. */
    private static Forward run(INDArray q, INDArray k, INDArray v, int h, long[] s, boolean packed, INDArray keyMask, int window,
                               double scale, boolean needBackward) {
        checkFloat(q);
        int b = (int) s[0], t = (int) (packed ? s[1] : s[2]), d = (int) (packed ? s[2] / h : s[3]), n = b * h * t * d;
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        float[] out = Scratch.OUT.floats(n), lse = new float[b * h * t];     // every element of out is written
        new FusedFloat(b, h, t, d, window, scale, keyOk, packed).forward(Scratch.Q.copyOf(q), Scratch.K.copyOf(k), Scratch.V.copyOf(v), out, lse);
        return new Forward(JavaArrays.arrayPrefix(out, s), needBackward ? new Saved(lse) : null);
    }

    /** Backward in either layout. */
    private static Grads runBackward(Forward fwd, INDArray q, INDArray k, INDArray v, int h, long[] s, boolean packed, INDArray keyMask,
                                     int window, double scale, INDArray dOut) {
        if (!(fwd.saved() instanceof Saved saved))
            throw new IllegalStateException("fused backward needs forward" + (packed ? "Packed" : "") + "(..., needBackward=true) of FusedAttention");
        if (!Arrays.equals(dOut.shape(), s))
            throw new IllegalArgumentException("dOut shape " + Arrays.toString(dOut.shape()) + " != " + Arrays.toString(s));
        checkFloat(q);
        int b = (int) s[0], t = (int) (packed ? s[1] : s[2]), d = (int) (packed ? s[2] / h : s[3]), n = b * h * t * d;
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        // every element of dq is written; dk and dv are too in the packed layout, and accumulated in the other
        float[] dq = Scratch.DQ.floats(n), dk = Scratch.DK.floats(n), dv = Scratch.DV.floats(n);
        if (!packed) {
            Arrays.fill(dk, 0, n, 0f);
            Arrays.fill(dv, 0, n, 0f);
        }
        new FusedFloat(b, h, t, d, window, scale, keyOk, packed).backward(Scratch.Q.copyOf(q), Scratch.K.copyOf(k), Scratch.V.copyOf(v),
                Scratch.OUT.copyOf(fwd.out()), Scratch.DOUT.copyOf(dOut), saved.lse(), dq, dk, dv);
        return new Grads(JavaArrays.arrayPrefix(dq, s), JavaArrays.arrayPrefix(dk, s), JavaArrays.arrayPrefix(dv, s));
    }

    private static void checkFloat(INDArray q) {
        if (q.dataType() != DataType.FLOAT)
            throw new IllegalArgumentException("fused attention is float32 only, got " + q.dataType() + " (Kernels.attentionFor sends other dtypes to the reference)");
    }

    private static long[] packedShapes(INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask) {
        long[] s = Packing.checkPacked(q, heads);
        if (!Arrays.equals(s, k.shape()) || !Arrays.equals(s, v.shape()) || q.dataType() != k.dataType() || q.dataType() != v.dataType()) {
            throw new IllegalArgumentException("attention: q, k, v must be equal [B, T, H*D] of one dtype; got " + q.dataType() + Arrays.toString(s)
                    + ", " + k.dataType() + Arrays.toString(k.shape()) + ", " + v.dataType() + Arrays.toString(v.shape()));
        }
        if (keyMask != null && (keyMask.rank() != 2 || keyMask.size(0) != s[0] || keyMask.size(1) != s[1])) {
            throw new IllegalArgumentException("attention: key mask " + Arrays.toString(keyMask.shape()) + " for [B, T] = [" + s[0] + ", " + s[1] + "]");
        }
        checkSize(s);
        return s;
    }

    private static void checkSize(long[] s) {
        long n = 1;
        for (long x : s) n *= x;
        if (n > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("fused attention supports < 2^31 elements per tensor");
    }
}
