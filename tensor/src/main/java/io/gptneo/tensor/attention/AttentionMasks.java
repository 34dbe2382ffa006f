package io.gptneo.tensor.attention;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Shape checks and the GPT-Neo mask rule shared by the attention kernels. */
final class AttentionMasks {
    /** HF GPT-Neo masks with {@code torch.finfo(float32).min}, not -inf; we do the same in the reference. */
    static final float MASK_VALUE = -Float.MAX_VALUE;

    private AttentionMasks() {}

    /** Validates q, k, v as equal [B,H,T,D] arrays of FLOAT or DOUBLE and keyMask as [B,T]; returns {B,H,T,D}. */
    static long[] checkShapes(INDArray q, INDArray k, INDArray v, INDArray keyMask) {
        if (q.rank() != 4) throw new IllegalArgumentException("q must be [B,H,T,D], got " + java.util.Arrays.toString(q.shape()));
        if (!java.util.Arrays.equals(q.shape(), k.shape()) || !java.util.Arrays.equals(q.shape(), v.shape()))
            throw new IllegalArgumentException("q, k, v shapes differ: " + java.util.Arrays.toString(q.shape()) + " "
                    + java.util.Arrays.toString(k.shape()) + " " + java.util.Arrays.toString(v.shape()));
        DataType dt = q.dataType();
        if ((dt != DataType.FLOAT && dt != DataType.DOUBLE) || k.dataType() != dt || v.dataType() != dt)
            throw new IllegalArgumentException("q, k, v must all be FLOAT or all DOUBLE, got " + dt + "/" + k.dataType() + "/" + v.dataType());
        long[] s = q.shape();
        if (keyMask != null && (keyMask.rank() != 2 || keyMask.size(0) != s[0] || keyMask.size(1) != s[2]))
            throw new IllegalArgumentException("keyMask must be [B,T] = [" + s[0] + "," + s[2] + "], got " + java.util.Arrays.toString(keyMask.shape()));
        return s;
    }

    /** keyMask [B,T] as booleans (true = real token), or null when there is no mask. */
    static boolean[][] keyAllowed(INDArray keyMask, int b, int t) {
        if (keyMask == null) return null;
        double[] m = keyMask.dup('c').data().asDouble();
        boolean[][] r = new boolean[b][t];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) r[i][j] = m[i * t + j] != 0;
        return r;
    }

    /** Lowest key index query i may see: 0 for global, i - window + 1 for local. */
    static int firstKey(int i, int window) {
        return window > 0 ? Math.max(0, i - window + 1) : 0;
    }

    /**
     * Additive mask bias [B,1,T,T] (0 where allowed, {@link #MASK_VALUE} elsewhere; all 0 on rows without any
     * allowed key), and [B,1,T,1] row indicator
     * (1 if the query row has at least one allowed key, else 0) in dtype dt.
     */
    static INDArray[] biasAndRowValid(boolean[][] keyOk, int b, int t, int window, DataType dt) {
        float[] bias = new float[b * t * t];
        float[] valid = new float[b * t];
        for (int bi = 0; bi < b; bi++) {
            for (int i = 0; i < t; i++) {
                int lo = firstKey(i, window);
                boolean any = false;
                int row = (bi * t + i) * t;
                for (int j = 0; j < t; j++) {
                    boolean ok = j >= lo && j <= i && (keyOk == null || keyOk[bi][j]);
                    bias[row + j] = ok ? 0f : MASK_VALUE;
                    any |= ok;
                }
                // ND4J's softmax returns NaN for a row that is all MASK_VALUE: leave such rows unmasked (finite);
                // the caller zeroes them with the row indicator.
                if (!any) java.util.Arrays.fill(bias, row, row + t, 0f);
                valid[bi * t + i] = any ? 1f : 0f;
            }
        }
        return new INDArray[] {
            Nd4j.create(bias, new long[] {b, 1, t, t}, 'c').castTo(dt),
            Nd4j.create(valid, new long[] {b, 1, t, 1}, 'c').castTo(dt)};
    }

    /** c-order contiguous, non-view copy-free where possible. */
    static INDArray contiguous(INDArray a) {
        return io.gptneo.tensor.JavaArrays.exactCOrder(a) ? a : a.dup('c');
    }
}
