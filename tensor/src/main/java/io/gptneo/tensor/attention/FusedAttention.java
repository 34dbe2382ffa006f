package io.gptneo.tensor.attention;

import java.util.Arrays;

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

    /** Forward in either layout; {@code s} is the operands' (checked) shape. Float copies go through scratch slots 0-3. */
    private static Forward run(INDArray q, INDArray k, INDArray v, int h, long[] s, boolean packed, INDArray keyMask, int window,
                               double scale, boolean needBackward) {
        int b = (int) s[0], t = (int) (packed ? s[1] : s[2]), d = (int) (packed ? s[2] / h : s[3]), n = b * h * t * d;
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        if (q.dataType() == DataType.FLOAT) {
            float[] out = JavaArrays.scratch(3, n), lse = new float[b * h * t];     // every element of out is written
            new FusedFloat(b, h, t, d, window, scale, keyOk, packed).forward(floats(q, 0), floats(k, 1), floats(v, 2), out, lse);
            return new Forward(JavaArrays.arrayPrefix(out, s), needBackward ? new Saved(lse) : null);
        }
        double[] out = new double[n], lse = new double[b * h * t];
        new FusedDouble(b, h, t, d, window, scale, keyOk, packed).forward(doubles(q), doubles(k), doubles(v), out, lse);
        return new Forward(JavaArrays.array(out, s), needBackward ? new Saved(lse) : null);
    }

    /** Backward in either layout. Float copies go through scratch slots 0-7. */
    private static Grads runBackward(Forward fwd, INDArray q, INDArray k, INDArray v, int h, long[] s, boolean packed, INDArray keyMask,
                                     int window, double scale, INDArray dOut) {
        if (!(fwd.saved() instanceof Saved saved))
            throw new IllegalStateException("fused backward needs forward" + (packed ? "Packed" : "") + "(..., needBackward=true) of FusedAttention");
        if (!Arrays.equals(dOut.shape(), s))
            throw new IllegalArgumentException("dOut shape " + Arrays.toString(dOut.shape()) + " != " + Arrays.toString(s));
        int b = (int) s[0], t = (int) (packed ? s[1] : s[2]), d = (int) (packed ? s[2] / h : s[3]), n = b * h * t * d;
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        if (q.dataType() == DataType.FLOAT) {
            // every element of dq is written; dk and dv are too in the packed layout, and accumulated in the other
            float[] dq = JavaArrays.scratch(5, n), dk = JavaArrays.scratch(6, n), dv = JavaArrays.scratch(7, n);
            if (!packed) {
                Arrays.fill(dk, 0, n, 0f);
                Arrays.fill(dv, 0, n, 0f);
            }
            new FusedFloat(b, h, t, d, window, scale, keyOk, packed).backward(floats(q, 0), floats(k, 1), floats(v, 2),
                    floats(fwd.out(), 3), floats(dOut, 4), (float[]) saved.lse(), dq, dk, dv);
            return new Grads(JavaArrays.arrayPrefix(dq, s), JavaArrays.arrayPrefix(dk, s), JavaArrays.arrayPrefix(dv, s));
        }
        double[] dq = new double[n], dk = new double[n], dv = new double[n];
        new FusedDouble(b, h, t, d, window, scale, keyOk, packed).backward(doubles(q), doubles(k), doubles(v),
                doubles(fwd.out()), doubles(dOut), (double[]) saved.lse(), dq, dk, dv);
        return new Grads(JavaArrays.array(dq, s), JavaArrays.array(dk, s), JavaArrays.array(dv, s));
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

    /** {@code a}'s elements in this thread's scratch slot (only the current call uses the copy). */
    private static float[] floats(INDArray a, int slot) { return JavaArrays.floats(a, JavaArrays.scratch(slot, (int) a.length())); }

    private static double[] doubles(INDArray a) { return JavaArrays.doubles(a); }
}
