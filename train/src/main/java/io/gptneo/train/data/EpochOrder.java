package io.gptneo.train.data;

import io.gptneo.tensor.Seeds;
import java.util.Arrays;
import java.util.Comparator;
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
        shuffle(p, new SplittableRandom(mix(seed, epoch, 0x5EED_0001L)));
        return p;
    }

    /** Batches of one chunk of the shuffled epoch are cut from rows sorted by length; see {@link #bucketed}. */
    public static final int CHUNK_BATCHES = 50;

    /**
     * The seeded epoch order with length buckets, so that each batch pads only to rows of similar length: the
     * {@link #permutation} of the epoch is cut into chunks of {@link #CHUNK_BATCHES}·{@code batchSize} rows, each chunk
     * is sorted by length (a stable sort: ties keep the shuffled order), cut into batches of {@code batchSize}, and
     * the full batches are put in a seeded order; a short batch ({@code n % batchSize} rows) stays last, where
     * batch-by-position code expects it. A pure function of (lengths, batchSize, seed, epoch), so a resumed run
     * recomputes the same batches.
     *
     * @param lengths tokens of each row (for a pair: its longer sequence)
     */
    public static int[] bucketed(int[] lengths, int batchSize, long seed, int epoch) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        int n = lengths.length;
        Integer[] rows =
                Arrays.stream(permutation(n, seed, epoch, true)).boxed().toArray(Integer[]::new);
        int chunk = CHUNK_BATCHES * batchSize;
        for (int s = 0; s < n; s += chunk) {
            Arrays.sort(rows, s, Math.min(n, s + chunk), Comparator.comparingInt(i -> lengths[i]));
        }
        int[] batches = new int[n / batchSize]; // full batches only
        for (int b = 0; b < batches.length; b++) batches[b] = b;
        shuffle(batches, new SplittableRandom(mix(seed, epoch, 0x5EED_0003L)));
        int[] p = new int[n];
        int k = 0;
        for (int b : batches) for (int i = b * batchSize; i < (b + 1) * batchSize; i++) p[k++] = rows[i];
        for (int i = batches.length * batchSize; i < n; i++) p[k++] = rows[i];
        return p;
    }

    private static void shuffle(int[] p, SplittableRandom r) {
        for (int i = p.length - 1; i > 0; i--) { // Fisher-Yates
            int j = r.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
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
