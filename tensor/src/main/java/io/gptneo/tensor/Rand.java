package io.gptneo.tensor;

import java.util.Random;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Seeded random arrays drawn in Java, so results do not depend on the ND4J backend's generator. */
public final class Rand {
    private Rand() {}

    public static INDArray uniform(DataType dt, long seed, double lo, double hi, long... shape) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[Math.toIntExact(count(shape))];
        for (int i = 0; i < v.length; i++) v[i] = lo + (hi - lo) * r.nextDouble();
        return Nd4j.create(v, shape, 'c').castTo(dt);
    }

    /**
     * normal(0, std) from {@code java.util.Random(seed)}'s {@code nextGaussian()}, drawn straight into a float or double
     * Java array (no full-size double temporary for float weights).
     */
    public static INDArray normal(DataType dt, long seed, double std, long... shape) {
        Random r = new Random(seed);
        int n = Math.toIntExact(count(shape));
        if (dt == DataType.FLOAT) {
            float[] v = new float[n];
            for (int i = 0; i < n; i++) v[i] = (float) (std * r.nextGaussian());
            return Nd4j.create(v, shape, 'c');
        }
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = std * r.nextGaussian();
        INDArray a = Nd4j.create(v, shape, 'c');
        return dt == DataType.DOUBLE ? a : a.castTo(dt);
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }
}
