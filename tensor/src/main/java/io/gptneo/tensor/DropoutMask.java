package io.gptneo.tensor;

import java.util.SplittableRandom;

/**
 * Which elements inverted dropout keeps: element i is kept iff the i-th draw of {@code SplittableRandom(seed)}'s
 * {@code nextDouble()} is {@code >= p}. One definition for {@link Ops#dropout} and {@link Ops#loraLinear}, so a
 * fused LoRA layer drops exactly what the unfused composition drops for the same seed.
 */
final class DropoutMask {
    private DropoutMask() {}

    /** Keep bits for {@code n} elements, bit i of word i/64 set when element i is kept. */
    static long[] keep(int n, double p, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        long[] bits = new long[(n + 63) >>> 6];
        for (int i = 0; i < n; i++) if (rng.nextDouble() >= p) bits[i >>> 6] |= 1L << i;
        return bits;
    }

    static boolean kept(long[] bits, int i) {
        return (bits[i >>> 6] & (1L << i)) != 0;
    }

    /** {@code v[i] = kept(i) ? v[i] * keepScale : 0} for i in [0, n). */
    static void apply(float[] v, int n, long[] bits, float keepScale) {
        for (int i = 0; i < n; i++) v[i] = kept(bits, i) ? v[i] * keepScale : 0f;
    }

    static void apply(double[] v, int n, long[] bits, double keepScale) {
        for (int i = 0; i < n; i++) v[i] = kept(bits, i) ? v[i] * keepScale : 0.0;
    }
}
