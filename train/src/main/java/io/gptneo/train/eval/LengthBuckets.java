package io.gptneo.train.eval;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * Length-bucketed batching for scoring: rows sorted by token count (ties in input order, so the plan is a pure
 * function of the lengths), cut into batches of {@code batchSize}, each padded only to its own longest row. Costs are
 * put back in input order by the caller, so outputs do not change, only the padding does.
 *
 * @param order                    row indices in scoring order
 * @param usefulTokens             real (non-pad) tokens over all rows
 * @param paddingFraction          pad tokens / all tokens of the bucketed batches
 * @param paddingFractionUnbucketed the same for batches in input order (what scoring in file order pads)
 */
public record LengthBuckets(int[] order, long usefulTokens, double paddingFraction, double paddingFractionUnbucketed) {

    /** The plan for rows of {@code lengths} tokens in batches of {@code batchSize}. */
    public static LengthBuckets of(int[] lengths, int batchSize) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        int[] order = IntStream.range(0, lengths.length)
                .boxed()
                .sorted(Comparator.<Integer>comparingInt(i -> lengths[i]).thenComparingInt(i -> i))
                .mapToInt(Integer::intValue)
                .toArray();
        int[] identity = IntStream.range(0, lengths.length).toArray();
        long useful = Arrays.stream(lengths).asLongStream().sum();
        return new LengthBuckets(
                order,
                useful,
                padding(lengths, order, batchSize, useful),
                padding(lengths, identity, batchSize, useful));
    }

    /** Pad tokens / all tokens when the rows in {@code order} are cut into batches, each padded to its longest. */
    static double padding(int[] lengths, int[] order, int batchSize, long useful) {
        long total = 0;
        for (int s = 0; s < order.length; s += batchSize) {
            int e = Math.min(order.length, s + batchSize), max = 0;
            for (int i = s; i < e; i++) max = Math.max(max, lengths[order[i]]);
            total += (long) max * (e - s);
        }
        return total == 0 ? 0 : 1 - (double) useful / total;
    }
}
