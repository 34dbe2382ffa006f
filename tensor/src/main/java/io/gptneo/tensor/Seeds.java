package io.gptneo.tensor;

/**
 * The one seed mixer: splitmix64 (the mixing of {@link java.util.SplittableRandom}), so that nearby inputs (step
 * 7 and step 8, layer 0 and layer 1) give unrelated seeds. Every derived seed in the project (dropout masks, LoRA
 * init and dropout, epoch order, trainer steps) goes through here; changing anything here changes every run's
 * numbers, and the trajectory tests pin them.
 */
public final class Seeds {
    /** SplittableRandom's gamma (the golden ratio in 64 bits): the i-th draw of a stream mixes {@code seed + i·GOLDEN}. */
    public static final long GOLDEN = 0x9E3779B97F4A7C15L;
    /** The two multipliers of splitmix64's finaliser, used as weights for the second and third key. */
    public static final long M1 = 0xBF58476D1CE4E5B9L, M2 = 0x94D049BB133111EBL;

    private Seeds() {}

    /** splitmix64's finaliser. */
    public static long mix64(long z) {
        z = (z ^ (z >>> 30)) * M1;
        z = (z ^ (z >>> 27)) * M2;
        return z ^ (z >>> 31);
    }

    /** A seed for key {@code (a, b)} under {@code seed}: {@code mix64(seed·GOLDEN + a·M1 + b·M2)}. */
    public static long mix(long seed, long a, long b) {
        return mix64(seed * GOLDEN + a * M1 + b * M2);
    }

    /** The i-th (0-based) {@code nextLong()} of {@code new SplittableRandom(seed)}. */
    public static long stream(long seed, long i) {
        return mix64(seed + (i + 1) * GOLDEN);
    }

    /**
     * The shorter two-step mixer the model's dropout sites have always used ({@code mix(seed, a, b)}'s sum, then one
     * xor-shift-multiply and a final xor-shift): kept so that existing runs reproduce bit for bit.
     */
    public static long mixShort(long seed, long a, long b) {
        long z = seed * GOLDEN + a * M1 + b * M2;
        z = (z ^ (z >>> 31)) * 0xD6E8FEB86659FD93L;
        return z ^ (z >>> 32);
    }
}
