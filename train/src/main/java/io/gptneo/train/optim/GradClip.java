package io.gptneo.train.optim;

import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.Tensor;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Global-norm gradient clipping as {@code torch.nn.utils.clip_grad_norm_} (L2, non-finite norms not rejected).
 *
 * <p>The norm is summed by a Java loop over each gradient's buffer, in double. Gradients of up to
 * {@link AdamW#JAVA_MAX} elements (every LoRA matrix, the score head) are scaled by a Java loop too, larger ones by
 * ND4J: as in {@link AdamW}, a LoRA step has dozens of small gradients, and an ND4J norm and scale per gradient cost
 * about 10 ms of a 125M step in per-operation overhead alone.
 */
public final class GradClip {
    private GradClip() {}

    /** √(Σ‖g‖²) over the tensors' gradients (null gradients skipped), accumulated in double. */
    public static double globalNorm(List<Tensor> params) {
        double sq = 0;
        for (Tensor p : params) {
            INDArray g = p.grad();
            if (g == null) continue;
            if ((g.dataType() == DataType.FLOAT || g.dataType() == DataType.DOUBLE)
                    && g.length() <= Integer.MAX_VALUE - 16) sq += sumOfSquares(g); // a Java array's reach
            else {
                double n = g.norm2Number().doubleValue();
                sq += n * n;
            }
        }
        return Math.sqrt(sq);
    }

    /**
     * Σ g² of a float or double array in double. Not ND4J's {@code norm2}: besides its per-call cost, it accumulates in
     * float and was 8e-5 off (relative) over a million Gaussian floats. Float arrays are read through their buffer in
     * chunks (an embedding's gradient is not copied whole); double ones (tests, small models) through one copy.
     */
    private static double sumOfSquares(INDArray g) {
        double sq = 0;
        if (g.dataType() == DataType.DOUBLE) {
            for (double x : JavaArrays.doubles(g)) sq += x * x;
            return sq;
        }
        INDArray c = JavaArrays.contiguous(g);
        int n = (int) c.length();
        FloatBuffer b = c.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer();
        float[] chunk = new float[Math.min(n, CHUNK)];
        for (int at = 0; at < n; at += chunk.length) {
            int len = Math.min(chunk.length, n - at);
            b.get(at, chunk, 0, len);
            for (int i = 0; i < len; i++) {
                double x = chunk[i];
                sq += x * x;
            }
        }
        return sq;
    }

    /** Elements read per bulk copy in {@link #sumOfSquares}. */
    private static final int CHUNK = 1 << 16;

    /**
     * Scales every gradient by {@code min(1, maxNorm / (norm + 1e-6))} in place and returns the norm before clipping.
     * {@code maxNorm <= 0} or infinite: measure only. A non-finite norm leaves the gradients as they are (the caller
     * decides whether to skip the step).
     */
    public static double clipGlobalNorm(List<Tensor> params, double maxNorm) {
        double norm = globalNorm(params);
        if (!(maxNorm > 0) || Double.isInfinite(maxNorm) || !Double.isFinite(norm)) return norm;
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1.0) {
            for (Tensor p : params) {
                INDArray g = p.grad();
                if (g == null) continue;
                if (!javaPath(g)) g.muli(coef);
                else if (g.dataType() == DataType.DOUBLE) {
                    double[] a = JavaArrays.doubles(g);
                    for (int i = 0; i < a.length; i++) a[i] *= coef;
                    JavaArrays.put(a, g);
                } else {
                    float[] a = JavaArrays.floats(g);
                    for (int i = 0; i < a.length; i++) a[i] = (float) (a[i] * coef);
                    JavaArrays.put(a, g);
                }
            }
        }
        return norm;
    }

    /** Small, whole c-order float or double gradients take the Java loops. */
    private static boolean javaPath(INDArray g) {
        return g.length() <= AdamW.JAVA_MAX
                && (g.dataType() == DataType.FLOAT || g.dataType() == DataType.DOUBLE)
                && JavaArrays.exactCOrder(g);
    }
}
