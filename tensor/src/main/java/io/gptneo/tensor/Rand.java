package io.gptneo.tensor;

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

    public static INDArray normal(DataType dt, long seed, double std, long... shape) {
        java.util.Random r = new java.util.Random(seed);
        double[] v = new double[Math.toIntExact(count(shape))];
        for (int i = 0; i < v.length; i++) v[i] = std * r.nextGaussian();
        return Nd4j.create(v, shape, 'c').castTo(dt);
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }
}
