package io.gptneo.serve;

import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Deterministic scorer for tests: cost = (response length - prompt length) / 10, so a response longer than its
 * prompt is UNSAFE. Records every batch size; sleeps {@code delayMillis} per batch (a stand-in for a forward pass);
 * a response equal to "boom" makes the whole batch throw.
 */
final class FakeScorer implements Scorer {
    final List<Integer> batchSizes = Collections.synchronizedList(new ArrayList<>());
    private final long delayMillis;

    FakeScorer(long delayMillis) {
        this.delayMillis = delayMillis;
    }

    static float expected(String prompt, String response) {
        return (response.length() - prompt.length()) / 10f;
    }

    @Override
    public float[] score(List<PromptResponse> batch) {
        batchSizes.add(batch.size());
        if (delayMillis > 0) {
            try {
                Thread.sleep(delayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted");
            }
        }
        float[] out = new float[batch.size()];
        for (int i = 0; i < out.length; i++) {
            PromptResponse pr = batch.get(i);
            if (pr.response().equals("boom")) throw new IllegalStateException("fake scorer exploded on purpose");
            out[i] = expected(pr.prompt(), pr.response());
        }
        return out;
    }
}
