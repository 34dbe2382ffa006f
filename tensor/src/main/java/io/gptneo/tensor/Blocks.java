package io.gptneo.tensor;

import java.util.stream.IntStream;

/**
 * Fixed-size blocks of an index range, run in parallel for the Java kernels. Block boundaries depend only on
 * {@code n} and {@code size}, never on the thread count, so per-block partial sums added in block order give the
 * same bits on every run.
 */
final class Blocks {
    private Blocks() {}

    /** A kernel body over [lo, hi). */
    interface Range {
        void run(int lo, int hi);
    }

    /** body over [k·size, (k+1)·size) ∩ [0, n) for every k, in parallel when there is more than one block. */
    static void run(int n, int size, Range body) {
        int k = (n + size - 1) / size;
        if (k <= 1) {
            body.run(0, n);
            return;
        }
        IntStream.range(0, k).parallel().forEach(b -> body.run(b * size, Math.min(n, (b + 1) * size)));
    }
}
