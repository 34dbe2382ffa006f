package io.gptneo.tensor;

import java.util.SplittableRandom;

/**
 * Which elements inverted dropout keeps: element i is kept iff the i-th draw of {@code SplittableRandom(seed)}'s
 * {@code nextDouble()} is {@code >= p}. One definition for {@link Ops#dropout} and {@link Ops#loraLinear}, so a
 * fused LoRA layer drops exactly what the unfused composition drops for the same seed.
 */
final class DropoutMask {
    private DropoutMask() {}

    /**
     * Keep bits for {@code n} elements, bit i of word i/64 set when element i is kept. {@code nextDouble()} is
     * {@code (nextLong() >>> 11) * 2^-53}, so {@code nextDouble() >= p} is exactly {@code (nextLong() >>> 11) >= ceil(p * 2^53)}:
     * the same draws compared as integers, without a branch per element.
     */
    static long[] keep(int n, double p, long seed) {
        if (!(p > 0 && p < 1)) throw new IllegalArgumentException("dropout: p must be in (0, 1), got " + p);
        SplittableRandom rng = new SplittableRandom(seed);
        long threshold = (long) Math.ceil(p * 0x1.0p53);        // in [1, 2^53]
        long[] bits = new long[(n + 63) >>> 6];
        for (int w = 0; w < bits.length; w++) {
            int count = Math.min(64, n - (w << 6));
            long word = 0;
            for (int j = 0; j < count; j++) {
                long u = rng.nextLong() >>> 11;                    // in [0, 2^53)
                word |= ((threshold - 1 - u) >>> 63) << j;         // 1 iff u >= threshold
            }
            bits[w] = word;
        }
        return bits;
    }

    static boolean kept(long[] bits, int i) {
        return (bits[i >>> 6] & (1L << i)) != 0;
    }

    /** {@code v[i] = kept(i) ? v[i] * keepScale : 0} for i in [0, n) (a multiply by keepScale or 0: no branch). */
    static void apply(float[] v, int n, long[] bits, float keepScale) {
        for (int i = 0; i < n; i++) v[i] *= (int) ((bits[i >>> 6] >>> i) & 1L) * keepScale;
    }

    static void apply(double[] v, int n, long[] bits, double keepScale) {
        for (int i = 0; i < n; i++) v[i] *= (int) ((bits[i >>> 6] >>> i) & 1L) * keepScale;
    }
}
