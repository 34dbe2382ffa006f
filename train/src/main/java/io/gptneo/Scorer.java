package io.gptneo;

import java.util.List;

/**
 * Scores a batch of prompt/response pairs with a safety cost model: one cost per pair, in order; a cost above 0
 * means unsafe. {@link SafetyModel} is the implementation; the HTTP service and the evaluation take any scorer
 * (tests pass fakes). The service calls it from one worker thread at a time, so an implementation need not be
 * thread-safe; it may throw, which fails that batch only.
 */
@FunctionalInterface
public interface Scorer {
    /**
     * Costs of {@code batch}, one per pair, in order.
     *
     * @param batch the pairs to score
     * @return one cost per pair; {@code > 0} means unsafe
     */
    float[] score(List<PromptResponse> batch);

    /**
     * Whether each pair is too long for the model's window, so that its prompt is cut from the start to keep the
     * response (see {@code CostInputs}). Default: none is.
     */
    default boolean[] truncated(List<PromptResponse> batch) {
        return new boolean[batch.size()];
    }

    /** Tokens of this row as {@link #score} would feed it (for length-bucketed batching), or -1 when unknown. */
    default int tokens(PromptResponse row) {
        return -1;
    }
}
