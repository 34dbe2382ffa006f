package io.gptneo.tensor.attention;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import io.gptneo.tensor.JavaArrays;

/**
 * Fused (flash-attention style) kernel: never materialises [T,T]. Copies q, k, v ([B,H,T,D], or packed [B,T,H*D]
 * read in place by {@link #forwardPacked}; O(T*D)) into Java arrays
 * and runs {@link FusedFloat} (Vector API micro-kernels, parallel over B*H) or {@link FusedDouble} (scalar, for
 * gradient checks). Local layers visit only key tiles intersecting the window: O(T*W*D) work.
 * Saved for backward: per-row log-sum-exp [B*H*T] (+inf for rows without keys; those rows output 0, grads 0).
 *
 * <p>FusedDouble.java is generated from FusedFloat.java:
 * {@code sed -e 's/FloatKernels/DoubleKernels/g; s/FusedFloat/FusedDouble/g; s/\bfloat\b/double/g; s/\bFloat\./Double./g;
 * s/\b0f\b/0.0/g; s/\b1f\b/1.0/g; s/(double) Math/Math/g'} (plus the header line).
 */
public final class FusedAttention implements AttentionKernel {

    /** What forward keeps: lse as float[] or double[] (matching the dtype). */
    record Saved(Object lse) {}

    @Override
    public String name() {
        return "fused";
    }

    @Override
    public Forward forward(INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        int b = (int) s[0], h = (int) s[1], t = (int) s[2], d = (int) s[3];
        checkSize(s);
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        if (q.dataType() == DataType.FLOAT) {
            float[] out = new float[b * h * t * d], lse = new float[b * h * t];
            new FusedFloat(b, h, t, d, window, scale, keyOk, false).forward(floats(q), floats(k), floats(v), out, lse);
            return new Forward(JavaArrays.array(out, s), needBackward ? new Saved(lse) : null);
        }
        double[] out = new double[b * h * t * d], lse = new double[b * h * t];
        new FusedDouble(b, h, t, d, window, scale, keyOk, false).forward(doubles(q), doubles(k), doubles(v), out, lse);
        return new Forward(JavaArrays.array(out, s), needBackward ? new Saved(lse) : null);
    }

    @Override
    public Grads backward(Forward fwd, INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, INDArray dOut) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        if (!(fwd.saved() instanceof Saved saved))
            throw new IllegalStateException("fused backward needs forward(..., needBackward=true) of FusedAttention");
        if (!java.util.Arrays.equals(dOut.shape(), s))
            throw new IllegalArgumentException("dOut shape " + java.util.Arrays.toString(dOut.shape()) + " != " + java.util.Arrays.toString(s));
        int b = (int) s[0], h = (int) s[1], t = (int) s[2], d = (int) s[3];
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        int n = b * h * t * d;
        if (q.dataType() == DataType.FLOAT) {
            float[] dq = new float[n], dk = new float[n], dv = new float[n];
            new FusedFloat(b, h, t, d, window, scale, keyOk, false).backward(floats(q), floats(k), floats(v),
                    floats(fwd.out()), floats(dOut), (float[]) saved.lse(), dq, dk, dv);
            return new Grads(JavaArrays.array(dq, s), JavaArrays.array(dk, s), JavaArrays.array(dv, s));
        }
        double[] dq = new double[n], dk = new double[n], dv = new double[n];
        new FusedDouble(b, h, t, d, window, scale, keyOk, false).backward(doubles(q), doubles(k), doubles(v),
                doubles(fwd.out()), doubles(dOut), (double[]) saved.lse(), dq, dk, dv);
        return new Grads(JavaArrays.array(dq, s), JavaArrays.array(dk, s), JavaArrays.array(dv, s));
    }

    /** Packed [B, T, H*D] operands indexed in place: no permuted copies in or out. */
    @Override
    public Forward forwardPacked(INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = packedShapes(q, k, v, heads, keyMask);
        int b = (int) s[0], t = (int) s[1], d = (int) (s[2] / heads), n = b * t * heads * d;
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        if (q.dataType() == DataType.FLOAT) {
            float[] out = scratch(3, n), lse = new float[b * heads * t];     // every element of out is written
            new FusedFloat(b, heads, t, d, window, scale, keyOk, true).forward(floats(q, 0), floats(k, 1), floats(v, 2), out, lse);
            return new Forward(JavaArrays.arrayPrefix(out, s), needBackward ? new Saved(lse) : null);
        }
        double[] out = new double[n], lse = new double[b * heads * t];
        new FusedDouble(b, heads, t, d, window, scale, keyOk, true).forward(doubles(q), doubles(k), doubles(v), out, lse);
        return new Forward(JavaArrays.array(out, s), needBackward ? new Saved(lse) : null);
    }

    @Override
    public Grads backwardPacked(Forward fwd, INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask, int window, double scale,
                                INDArray dOut) {
        long[] s = packedShapes(q, k, v, heads, keyMask);
        if (!(fwd.saved() instanceof Saved saved))
            throw new IllegalStateException("fused backward needs forwardPacked(..., needBackward=true) of FusedAttention");
        if (!java.util.Arrays.equals(dOut.shape(), s))
            throw new IllegalArgumentException("dOut shape " + java.util.Arrays.toString(dOut.shape()) + " != " + java.util.Arrays.toString(s));
        int b = (int) s[0], t = (int) s[1], d = (int) (s[2] / heads), n = b * t * heads * d;
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        if (q.dataType() == DataType.FLOAT) {
            float[] dq = scratch(5, n), dk = scratch(6, n), dv = scratch(7, n);   // packed: every element is written
            new FusedFloat(b, heads, t, d, window, scale, keyOk, true).backward(floats(q, 0), floats(k, 1), floats(v, 2),
                    floats(fwd.out(), 3), floats(dOut, 4), (float[]) saved.lse(), dq, dk, dv);
            return new Grads(JavaArrays.arrayPrefix(dq, s), JavaArrays.arrayPrefix(dk, s), JavaArrays.arrayPrefix(dv, s));
        }
        double[] dq = new double[n], dk = new double[n], dv = new double[n];
        new FusedDouble(b, heads, t, d, window, scale, keyOk, true).backward(doubles(q), doubles(k), doubles(v),
                doubles(fwd.out()), doubles(dOut), (double[]) saved.lse(), dq, dk, dv);
        return new Grads(JavaArrays.array(dq, s), JavaArrays.array(dk, s), JavaArrays.array(dv, s));
    }

    private static long[] packedShapes(INDArray q, INDArray k, INDArray v, int heads, INDArray keyMask) {
        long[] s = Packing.checkPacked(q, heads);
        if (!java.util.Arrays.equals(s, k.shape()) || !java.util.Arrays.equals(s, v.shape()) || q.dataType() != k.dataType() || q.dataType() != v.dataType()) {
            throw new IllegalArgumentException("attention: q, k, v must be equal [B, T, H*D] of one dtype; got " + q.dataType() + java.util.Arrays.toString(s)
                    + ", " + k.dataType() + java.util.Arrays.toString(k.shape()) + ", " + v.dataType() + java.util.Arrays.toString(v.shape()));
        }
        if (keyMask != null && (keyMask.rank() != 2 || keyMask.size(0) != s[0] || keyMask.size(1) != s[1])) {
            throw new IllegalArgumentException("attention: key mask " + java.util.Arrays.toString(keyMask.shape()) + " for [B, T] = [" + s[0] + ", " + s[1] + "]");
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

    private static float[] floats(INDArray a) { return JavaArrays.floats(a); }

    /** {@code a}'s elements in this thread's scratch slot (packed path: only that call uses the copy). */
    private static float[] floats(INDArray a, int slot) { return JavaArrays.floats(a, scratch(slot, (int) a.length())); }

    /**
     * Per-thread operand copies of the packed path, grown to the largest call and reused (contents undefined): the
     * [B, T, H*D] copies in and out of a call are 1.5 MB each at B=2, T=256, eight per backward.
     */
    private static final ThreadLocal<float[][]> SCRATCH = ThreadLocal.withInitial(() -> new float[8][0]);

    private static float[] scratch(int slot, int n) {
        float[][] sc = SCRATCH.get();
        if (sc[slot].length < n) sc[slot] = new float[n];
        return sc[slot];
    }

    private static double[] doubles(INDArray a) { return JavaArrays.doubles(a); }
}
