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
                Tokens.of(lengths, order, batchSize).paddingFraction(),
                Tokens.of(lengths, identity, batchSize).paddingFraction());
    }

    /**
     * Real (useful) tokens and token slots of batches, each padded to its own longest row: the count behind every
     * padding fraction (scoring, training batches, the service's micro-batches).
     */
    public record Tokens(long useful, long slots) {
        public static final Tokens NONE = new Tokens(0, 0);

        /** One batch of rows of these lengths, padded to the longest. */
        public static Tokens batch(int... rowLengths) {
            long useful = 0;
            int max = 0;
            for (int l : rowLengths) {
                useful += l;
                max = Math.max(max, l);
            }
            return new Tokens(useful, (long) max * rowLengths.length);
        }

        /** The rows in {@code order} cut into batches of {@code batchSize}, each padded to its longest. */
        public static Tokens of(int[] lengths, int[] order, int batchSize) {
            Tokens t = NONE;
            for (int s = 0; s < order.length; s += batchSize) {
                int[] b = new int[Math.min(order.length, s + batchSize) - s];
                for (int i = 0; i < b.length; i++) b[i] = lengths[order[s + i]];
                t = t.plus(batch(b));
            }
            return t;
        }

        public Tokens plus(Tokens o) {
            return new Tokens(useful + o.useful, slots + o.slots);
        }

        /** Pad tokens / all token slots (0 when there are none). */
        public double paddingFraction() {
            return slots == 0 ? 0 : 1 - (double) useful / slots;
        }
    }
}
