package io.gptneo.train.optim;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class GradClipTest {
    static Tensor withGrad(double... g) {
        Tensor p = Tensor.parameter(Nd4j.zeros(DataType.DOUBLE, g.length));
        Ops.sum(Ops.mul(p, Tensor.constant(Nd4j.createFromArray(g)))).backward();
        return p;
    }

    @Test
    void clipsByGlobalNormWithTorchCoefficient() {
        Tensor a = withGrad(3, 0), b = withGrad(0, 4), none = Tensor.parameter(Nd4j.zeros(DataType.DOUBLE, 2));
        double norm = GradClip.clipGlobalNorm(List.of(a, b, none), 1.0);
        assertEquals(5.0, norm, 1e-15);
        double coef = 1.0 / (5.0 + 1e-6);
        assertEquals(3 * coef, a.grad().getDouble(0), 1e-15);
        assertEquals(4 * coef, b.grad().getDouble(1), 1e-15);
        assertNull(none.grad());
        assertEquals(5 * coef, GradClip.globalNorm(List.of(a, b)), 1e-12);
    }

    /** Small gradients take Java loops, those over AdamW.JAVA_MAX ND4J: one norm and one scale over both. */
    @Test
    void javaAndNd4jPathsGiveOneNormAndOneScale() {
        java.util.Random r = new java.util.Random(3);
        float[] small = new float[1000], large = new float[AdamW.JAVA_MAX + 17];
        double sq = 0;
        for (float[] a : new float[][] {small, large})
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) r.nextGaussian();
                sq += (double) a[i] * a[i];
            }
        Tensor ps = floatGrad(small), pl = floatGrad(large);
        double norm = GradClip.clipGlobalNorm(List.of(ps, pl), 1.0);
        assertEquals(Math.sqrt(sq), norm, 1e-6 * norm, "norm over a Java-path and an ND4J-path gradient");
        double coef = 1.0 / (norm + 1e-6);
        for (int i : new int[] {0, 1, 999})
            assertEquals(small[i] * coef, ps.grad().getDouble(i), 1e-6 * coef);
        for (int i : new int[] {0, AdamW.JAVA_MAX, AdamW.JAVA_MAX + 16})
            assertEquals(large[i] * coef, pl.grad().getDouble(i), 1e-6 * coef);
    }

    /** A float parameter whose gradient is exactly {@code g}. */
    static Tensor floatGrad(float[] g) {
        Tensor p = Tensor.parameter(Nd4j.zeros(DataType.FLOAT, g.length));
        Ops.sum(Ops.mul(p, Tensor.constant(Nd4j.createFromArray(g)))).backward();
        return p;
    }

    @Test
    void belowTheLimitNothingChanges() {
        Tensor a = withGrad(0.3, 0.4);
        assertEquals(0.5, GradClip.clipGlobalNorm(List.of(a), 1.0), 1e-15);
        assertEquals(0.3, a.grad().getDouble(0), 0);
        // coefficient min(1, 0.5/(0.5+1e-6)) < 1: a limit equal to the norm still scales, by 1 − 2e-6
        GradClip.clipGlobalNorm(List.of(a), 0.5);
        assertEquals(0.3 * 0.5 / (0.5 + 1e-6), a.grad().getDouble(0), 1e-15);
        assertEquals(0.5 / (0.5 + 1e-6) * 0.5, GradClip.clipGlobalNorm(List.of(a), 0), 1e-12, "0: measure only");
    }

    @Test
    void accumulationOfScaledMicroBatchesEqualsTheFullBatchGradient() {
        double[] x = {1, -2, 3, 0.5};
        Tensor full = Tensor.parameter(Nd4j.createFromArray(0.7, -0.2));
        Tensor acc = Tensor.parameter(Nd4j.createFromArray(0.7, -0.2));
        // loss = mean over samples of (w0·x + w1)²
        java.util.function.BiFunction<Tensor, double[], Tensor> loss = (w, xs) -> {
            Tensor xv = Tensor.constant(Nd4j.createFromArray(xs));
            Tensor y = Ops.add(Ops.mul(xv, Ops.slice(w, 0, 0, 1)), Ops.slice(w, 0, 1, 2));
            return Ops.mean(Ops.square(y));
        };
        loss.apply(full, x).backward();
        GradAccumulator ga = new GradAccumulator(2);
        ga.scale(loss.apply(acc, new double[] {1, -2})).backward();
        assertFalse(ga.endMicroStep());
        assertEquals(1, ga.pending());
        ga.scale(loss.apply(acc, new double[] {3, 0.5})).backward();
        assertTrue(ga.endMicroStep());
        assertEquals(0, ga.pending());
        assertTrue(full.grad().equalsWithEps(acc.grad(), 1e-12), full.grad() + " vs " + acc.grad());
        assertThrows(IllegalArgumentException.class, () -> new GradAccumulator(0));
    }
}
