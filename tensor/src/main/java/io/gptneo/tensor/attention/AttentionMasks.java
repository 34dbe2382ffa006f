package io.gptneo.tensor.attention;

import io.gptneo.tensor.JavaArrays;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Shape checks and the GPT-Neo mask rule shared by every attention: the kernels and the model's KV-cache path. */
public final class AttentionMasks {
    /** HF GPT-Neo masks with {@code torch.finfo(float32).min}, not -inf; so do the reference and the KV-cache path. */
    public static final float MASK_VALUE = -Float.MAX_VALUE;

    private AttentionMasks() {}

    /** Validates q, k, v as equal [B,H,T,D] arrays of FLOAT or DOUBLE and keyMask as [B,T]; returns {B,H,T,D}. */
    static long[] checkShapes(INDArray q, INDArray k, INDArray v, INDArray keyMask) {
        if (q.rank() != 4) throw new IllegalArgumentException("q must be [B,H,T,D], got " + Arrays.toString(q.shape()));
        if (!Arrays.equals(q.shape(), k.shape()) || !Arrays.equals(q.shape(), v.shape()))
            throw new IllegalArgumentException("q, k, v shapes differ: " + Arrays.toString(q.shape()) + " "
                    + Arrays.toString(k.shape()) + " " + Arrays.toString(v.shape()));
        DataType dt = q.dataType();
        if ((dt != DataType.FLOAT && dt != DataType.DOUBLE) || k.dataType() != dt || v.dataType() != dt)
            throw new IllegalArgumentException(
                    "q, k, v must all be FLOAT or all DOUBLE, got " + dt + "/" + k.dataType() + "/" + v.dataType());
        long[] s = q.shape();
        if (keyMask != null && (keyMask.rank() != 2 || keyMask.size(0) != s[0] || keyMask.size(1) != s[2]))
            throw new IllegalArgumentException(
                    "keyMask must be [B,T] = [" + s[0] + "," + s[2] + "], got " + Arrays.toString(keyMask.shape()));
        return s;
    }

    /** keyMask [B,T] as booleans (true = real token), or null when there is no mask. */
    public static boolean[][] keyAllowed(INDArray keyMask, int b, int t) {
        if (keyMask == null) return null;
        double[] m = keyMask.dup('c').data().asDouble();
        boolean[][] r = new boolean[b][t];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) r[i][j] = m[i * t + j] != 0;
        return r;
    }

    /** keyMask [B,T] as additive score biases [B][T] (0 for a real token, -inf for padding), or null without a mask. */
    static float[][] keyBias(INDArray keyMask, int b, int t) {
        boolean[][] ok = keyAllowed(keyMask, b, t);
        if (ok == null) return null;
        float[][] r = new float[b][t];
        for (int i = 0; i < b; i++) for (int j = 0; j < t; j++) r[i][j] = ok[i][j] ? 0f : Float.NEGATIVE_INFINITY;
        return r;
    }

    /** Lowest key index query i may see: 0 for global, i - window + 1 for local. */
    public static int firstKey(int i, int window) {
        return window > 0 ? Math.max(0, i - window + 1) : 0;
    }

    /** Additive score bias {@code [B, 1, Tq, Tk]} and query-row indicator {@code [B, 1, Tq, 1]} (null when every row has a key). */
    public record Masks(INDArray bias, INDArray rowValid) {}

    /**
     * The GPT-Neo mask for queries at absolute positions {@code past .. past + tq - 1} over keys {@code 0 .. tk - 1}:
     * key j is allowed for query i iff {@code firstKey(i, window) <= j <= i} and {@code keyOk[b][j]} (when given).
     * The bias is 0 where allowed and {@link #MASK_VALUE} elsewhere, all 0 on a row without any allowed key (ND4J's
     * softmax would return NaN for it); the row indicator is 1 for rows with a key and 0 for those, which the
     * caller multiplies into the probabilities. In dtype {@code dt}.
     */
    public static Masks masks(boolean[][] keyOk, int b, int tq, int past, int tk, int window, DataType dt) {
        float[] bias = new float[b * tq * tk];
        float[] valid = new float[b * tq];
        boolean allValid = true;
        for (int bi = 0; bi < b; bi++) {
            for (int qi = 0; qi < tq; qi++) {
                int i = past + qi, lo = firstKey(i, window), row = (bi * tq + qi) * tk;
                boolean any = false;
                for (int j = 0; j < tk; j++) {
                    boolean ok = j >= lo && j <= i && (keyOk == null || keyOk[bi][j]);
                    bias[row + j] = ok ? 0f : MASK_VALUE;
                    any |= ok;
                }
                if (!any) Arrays.fill(bias, row, row + tk, 0f);
                valid[bi * tq + qi] = any ? 1f : 0f;
                allValid &= any;
            }
        }
        return new Masks(
                Nd4j.create(bias, new long[] {b, 1, tq, tk}, 'c').castTo(dt),
                allValid
                        ? null
                        : Nd4j.create(valid, new long[] {b, 1, tq, 1}, 'c').castTo(dt));
    }

    /** c-order contiguous, non-view copy-free where possible. */
    static INDArray contiguous(INDArray a) {
        return JavaArrays.exactCOrder(a) ? a : a.dup('c');
    }
}
