package io.gptneo;

/**
 * A safety decision: the cost and its sign ({@code cost > 0} = unsafe). A cost is always finite: a model that
 * produces NaN or an infinity throws instead of answering.
 *
 * @param cost   the cost model's output
 * @param unsafe {@code cost > 0}
 */
public record Verdict(float cost, boolean unsafe) {
    /** Checks that the cost is finite and the flag is its sign. */
    public Verdict {
        if (!Float.isFinite(cost)) throw new IllegalStateException("cost is " + cost + ": not a verdict");
        if (unsafe != cost > 0)
            throw new GptNeoException("unsafe must be cost > 0; cost " + cost + ", unsafe " + unsafe);
    }

    /** The verdict of a cost. */
    public static Verdict of(float cost) {
        return new Verdict(cost, cost > 0);
    }

    /** {@code "UNSAFE"} or {@code "SAFE"}, as the command line and the service print it. */
    public String label() {
        return unsafe ? "UNSAFE" : "SAFE";
    }
}
