package io.gptneo.model;

/**
 * Decoding settings (HF {@code generate} names). Greedy unless {@code doSample}; when sampling, the logits are
 * divided by {@code temperature}, then filtered by {@code topK} (0 = off) and {@code topP} (1 = off), in that
 * order, and a token is drawn from a generator seeded with {@code seed}. Generation stops for a row at
 * {@code eosTokenId} (−1: never) and for all rows after {@code maxNewTokens}. Finished rows are fed
 * {@code padTokenId}. {@code useCache = false} recomputes the whole sequence every step (a cross-check).
 */
public record GenerationConfig(
        int maxNewTokens,
        boolean doSample,
        double temperature,
        int topK,
        double topP,
        long seed,
        int eosTokenId,
        int padTokenId,
        boolean useCache) {

    public GenerationConfig {
        if (maxNewTokens < 0) throw new IllegalArgumentException("maxNewTokens must be >= 0, got " + maxNewTokens);
        if (doSample && !(temperature > 0))
            throw new IllegalArgumentException("temperature must be > 0 when sampling, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
    }

    /** Greedy, no EOS stop, pad 50256, KV cache on. */
    public static GenerationConfig greedy(int maxNewTokens) {
        return new GenerationConfig(maxNewTokens, false, 1.0, 0, 1.0, 0, -1, 50256, true);
    }

    /** Seeded sampling with temperature, top-k and top-p. */
    public GenerationConfig sampling(double temperature, int topK, double topP, long seed) {
        return new GenerationConfig(
                maxNewTokens, true, temperature, topK, topP, seed, eosTokenId, padTokenId, useCache);
    }

    /** Stops a row at {@code eos} and pads finished rows with {@code pad}. */
    public GenerationConfig withEos(int eos, int pad) {
        return new GenerationConfig(maxNewTokens, doSample, temperature, topK, topP, seed, eos, pad, useCache);
    }

    public GenerationConfig withCache(boolean on) {
        return new GenerationConfig(maxNewTokens, doSample, temperature, topK, topP, seed, eosTokenId, padTokenId, on);
    }
}
