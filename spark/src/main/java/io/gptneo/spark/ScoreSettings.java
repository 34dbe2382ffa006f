package io.gptneo.spark;

import java.io.Serializable;

/**
 * What a scoring job needs on every executor: model and adapter folders (paths on shared storage, or names shipped
 * with {@code --files}/{@code --archives}), tokens per sequence, rows per forward pass and an optional limit that
 * turns longer rows into errors instead of cutting them.
 *
 * @param model     GPT-Neo model folder (or Hub id already in the executors' cache)
 * @param adapter   PEFT adapter folder (LoRA + score head), or null for a model folder with its own score head
 * @param maxLength tokens per sequence, as {@code ./gptneo classify --max-length}: longer rows are cut to it
 * @param batchSize rows per forward pass
 * @param maxTokens rows longer than this many tokens (template + EOS, before cutting) get an error; 0 = no limit
 */
public record ScoreSettings(String model, String adapter, int maxLength, int batchSize, int maxTokens)
        implements Serializable {
    public ScoreSettings {
        if (model == null || model.isBlank()) throw new IllegalArgumentException("model: required");
        if (maxLength < 1) throw new IllegalArgumentException("maxLength must be >= 1, got " + maxLength);
        if (batchSize < 1) throw new IllegalArgumentException("batchSize must be >= 1, got " + batchSize);
        if (maxTokens < 0)
            throw new IllegalArgumentException("maxTokens must be >= 0 (0 = no limit), got " + maxTokens);
    }

    /** {@code ./gptneo classify}'s defaults: 1024 tokens, 8 rows per pass, no row limit. */
    public static ScoreSettings of(String model, String adapter) {
        return new ScoreSettings(model, adapter, 1024, 8, 0);
    }

    /** The key of the per-JVM model cache. */
    String cacheKey() {
        return model + "\u0000" + adapter + "\u0000" + maxLength;
    }
}
