package io.gptneo;

import java.util.List;

/**
 * Scores a batch of prompt/response pairs with the safety cost model: one cost per pair, in order. A cost above 0
 * means UNSAFE. The server calls this from a single worker thread (see {@link MicroBatcher}), so implementations
 * need not be thread-safe; they may throw, which fails that batch's requests with a 500 and nothing else.
 */
public interface Scorer {
    float[] score(List<PromptResponse> batch);

    /** Tokens of this row as {@link #score} would feed it (for length-bucketed batching), or -1 when unknown. */
    default int tokens(PromptResponse row) { return -1; }
}
