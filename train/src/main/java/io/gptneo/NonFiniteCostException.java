package io.gptneo;

/**
 * A cost model produced NaN or an infinity for a pair. A safety check fails closed on it: the pair gets an error,
 * never a label (a NaN compares false with 0, so {@code cost > 0} would call it SAFE).
 */
public final class NonFiniteCostException extends IllegalStateException {
    private final int index;

    public NonFiniteCostException(int index, int of, float cost) {
        super("the cost of pair " + index + " of " + of + " is " + cost
                + " (broken weights or overflow?); no label given");
        this.index = index;
    }

    /** The pair's index in its batch. */
    public int index() {
        return index;
    }

    /** Returns {@code costs} when every cost is finite; otherwise throws for the first that is not. */
    public static float[] check(float[] costs) {
        for (int i = 0; i < costs.length; i++)
            if (!Float.isFinite(costs[i])) throw new NonFiniteCostException(i, costs.length, costs[i]);
        return costs;
    }
}
