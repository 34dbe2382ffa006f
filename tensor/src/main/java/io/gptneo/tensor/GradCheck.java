package io.gptneo.tensor;

import java.util.Arrays;
import java.util.function.Function;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Central finite differences against autodiff, in float64. The checked function is reduced to a scalar with a fixed
 * random projection ({@code sum(f(x) ⊙ r)}) so every output element contributes.
 */
public final class GradCheck {
    private GradCheck() {}

    public static final double ABS_FLOOR = 1e-9;

    /**
     * Largest relative error |a − n| / (|a| + |n|) over all inputs that require grad. Entries whose absolute error is
     * below {@link #ABS_FLOOR} count as exact: near a zero of the derivative, central differences carry ~1e-10 of
     * round-off, which is no evidence against the analytic gradient.
     */
    public static double maxRelativeError(Function<Tensor[], Tensor> f, Tensor[] inputs, double h, long seed) {
        for (Tensor t : inputs) {
            if (t.dtype() != DataType.DOUBLE)
                throw new IllegalArgumentException("gradient checks run in float64; got " + t);
        }
        INDArray probe;
        Tensor out0;
        try (var ignored = GradMode.off()) {
            out0 = f.apply(inputs);
        }
        probe = Rand.uniform(DataType.DOUBLE, seed, -0.5, 0.5, out0.shape());
        for (Tensor t : inputs) t.zeroGrad();
        Tensor loss = Ops.sum(Ops.mul(f.apply(inputs), Tensor.constant(probe)));
        loss.backward();
        double worst = 0;
        for (Tensor t : inputs) {
            if (!t.requiresGrad()) continue;
            INDArray x = t.data();
            INDArray analytic = t.grad();
            if (analytic == null) throw new AssertionError("no gradient reached input " + Arrays.toString(t.shape()));
            for (long i = 0; i < x.length(); i++) {
                double orig = x.getDouble(i);
                x.putScalar(i, orig + h);
                double up = scalar(f, inputs, probe);
                x.putScalar(i, orig - h);
                double down = scalar(f, inputs, probe);
                x.putScalar(i, orig);
                double numeric = (up - down) / (2 * h);
                double a = analytic.getDouble(i);
                double abs = Math.abs(a - numeric);
                double err = abs < ABS_FLOOR ? 0 : abs / (Math.abs(a) + Math.abs(numeric));
                worst = Math.max(worst, err);
            }
        }
        return worst;
    }

    private static double scalar(Function<Tensor[], Tensor> f, Tensor[] inputs, INDArray probe) {
        try (var ignored = GradMode.off()) {
            return f.apply(inputs).data().mul(probe).sumNumber().doubleValue();
        }
    }
}
