package io.gptneo.train.optim;

import io.gptneo.tensor.Tensor;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Global-norm gradient clipping as {@code torch.nn.utils.clip_grad_norm_} (L2, non-finite norms not rejected). */
public final class GradClip {
    private GradClip() {}

    /** √(Σ‖g‖²) over the tensors' gradients (null gradients skipped), accumulated in double. */
    public static double globalNorm(List<Tensor> params) {
        double sq = 0;
        for (Tensor p : params) {
            INDArray g = p.grad();
            if (g == null) continue;
            double n = g.norm2Number().doubleValue();
            sq += n * n;
        }
        return Math.sqrt(sq);
    }

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
            for (Tensor p : params) if (p.grad() != null) p.grad().muli(coef);
        }
        return norm;
    }
}
