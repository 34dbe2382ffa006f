package io.gptneo.train.data;

import io.gptneo.tensor.Seeds;
import java.util.SplittableRandom;

/**
 * Seeded example order per epoch and seeded response-order flips for pairs. Both are pure functions of
 * (seed, epoch[, index]), so a resumed run recomputes exactly the order the interrupted run used.
 */
public final class EpochOrder {
    private EpochOrder() {}

    /** A permutation of {@code 0..n-1} for {@code epoch}; identity when {@code shuffle} is false. */
    public static int[] permutation(int n, long seed, int epoch, boolean shuffle) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        if (!shuffle) return p;
        SplittableRandom r = new SplittableRandom(mix(seed, epoch, 0x5EED_0001L));
        for (int i = n - 1; i > 0; i--) { // Fisher-Yates
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** Whether pair {@code index} (position in the data set) shows its responses exchanged in {@code epoch}. */
    public static boolean swapResponses(long seed, int epoch, int index) {
        return (new SplittableRandom(mix(seed, epoch, 0x5EED_0002L + 31L * index)).nextInt() & 1) == 1;
    }

    /** {@link Seeds#mix}: nearby (seed, epoch) pairs give unrelated streams. */
    static long mix(long seed, long a, long b) {
        return Seeds.mix(seed, a, b);
    }
}
