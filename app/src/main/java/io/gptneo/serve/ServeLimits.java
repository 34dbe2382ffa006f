package io.gptneo.serve;

/**
 * Request limits of the score server.
 *
 * @param maxBodyBytes   largest request body accepted; larger gives 413
 * @param maxTextChars   longest prompt or response (UTF-16 chars); longer gives 400 (the cost model reads only the
 *                       first max_len tokens anyway, this bounds tokenizer work and memory)
 * @param maxItems       most pairs in one request; more gives 400
 * @param queueCapacity  most pairs waiting for the batcher; beyond it requests get 503 with Retry-After
 * @param timeoutMillis  how long a request waits for its scores before a 503
 */
public record ServeLimits(int maxBodyBytes, int maxTextChars, int maxItems, int queueCapacity, long timeoutMillis) {
    public static final ServeLimits DEFAULT = new ServeLimits(1 << 20, 20_000, 64, 4096, 60_000);

    public ServeLimits {
        positive("--max-body-bytes", maxBodyBytes);
        positive("--max-text-chars", maxTextChars);
        positive("--max-items", maxItems);
        positive("--queue-capacity", queueCapacity);
        positive("--timeout-ms", timeoutMillis);
    }

    private static void positive(String flag, long v) {
        if (v <= 0) throw new IllegalArgumentException(flag + " must be positive, got " + v);
    }

    public ServeLimits withMaxBodyBytes(int v) {
        return new ServeLimits(v, maxTextChars, maxItems, queueCapacity, timeoutMillis);
    }

    public ServeLimits withMaxTextChars(int v) {
        return new ServeLimits(maxBodyBytes, v, maxItems, queueCapacity, timeoutMillis);
    }

    public ServeLimits withMaxItems(int v) {
        return new ServeLimits(maxBodyBytes, maxTextChars, v, queueCapacity, timeoutMillis);
    }

    public ServeLimits withQueueCapacity(int v) {
        return new ServeLimits(maxBodyBytes, maxTextChars, maxItems, v, timeoutMillis);
    }

    public ServeLimits withTimeoutMillis(long v) {
        return new ServeLimits(maxBodyBytes, maxTextChars, maxItems, queueCapacity, v);
    }
}
