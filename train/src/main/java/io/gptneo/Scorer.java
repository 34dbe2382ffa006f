package io.gptneo;

import java.util.List;

/**
 * Scores a batch of prompt/response pairs with the safety cost model: one cost per pair, in order. A cost above 0
 * means UNSAFE. The server calls this from a single worker thread (see {@link MicroBatcher}), so implementations
 * need not be thread-safe; they may throw, which fails that batch's requests with a 500 and nothing else.
 */
public interface Scorer {
    float[] score(List<PromptResponse> batch);

    /**
     * Whether each pair is too long for the model's window, so that its prompt is cut from the start to keep the
     * response (see {@code CostInputs}). Default: none is.
     */
    default boolean[] truncated(List<PromptResponse> batch) { return new boolean[batch.size()]; }
}
