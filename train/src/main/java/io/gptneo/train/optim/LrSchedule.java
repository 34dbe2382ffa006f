package io.gptneo.train.optim;

import java.util.Locale;

/**
 * Learning-rate multipliers as the HF {@code get_*_schedule_with_warmup} functions: the rate of optimizer step k
 * (0-based) is {@code lr · factor(k)}. During warmup {@code factor(k) = k / warmup}, so the first step's rate is 0
 * when warmup > 0.
 */
@FunctionalInterface
public interface LrSchedule {
    /** Multiplier of the base rate at 0-based step {@code k}. */
    double factor(int k);

    default double lr(double base, int k) {
        return base * factor(k);
    }

    /** Factor 1 throughout (HF {@code constant}). */
    static LrSchedule constant() {
        return k -> 1.0;
    }

    /** k/warmup, then 1 (HF {@code constant_with_warmup}). */
    static LrSchedule constant(int warmup) {
        checkWarmup(warmup, Integer.MAX_VALUE);
        return k -> k < warmup ? (double) k / Math.max(1, warmup) : 1.0;
    }

    /** k/warmup, then linear decay to 0 at {@code total} steps (HF {@code linear}). */
    static LrSchedule linear(int warmup, int total) {
        checkWarmup(warmup, total);
        return k -> k < warmup
                ? (double) k / Math.max(1, warmup)
                : Math.max(0.0, (double) (total - k) / Math.max(1, total - warmup));
    }

    /** k/warmup, then half a cosine period from 1 to 0 at {@code total} (HF {@code cosine}, num_cycles 0.5; like HF, not clamped past {@code total}). */
    static LrSchedule cosine(int warmup, int total) {
        return cosine(warmup, total, 0.5);
    }

    /** HF cosine with {@code cycles} periods after warmup: max(0, ½(1 + cos(π·2·cycles·progress))). */
    static LrSchedule cosine(int warmup, int total, double cycles) {
        checkWarmup(warmup, total);
        return k -> {
            if (k < warmup) return (double) k / Math.max(1, warmup);
            double progress = (double) (k - warmup) / Math.max(1, total - warmup);
            return Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * cycles * 2.0 * progress)));
        };
    }

    /** By HF name: {@code constant}, {@code constant_with_warmup}, {@code linear}, {@code cosine}. */
    static LrSchedule of(String name, int warmup, int total) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "constant" -> warmup > 0 ? constant(warmup) : constant();
            case "constant_with_warmup" -> constant(warmup);
            case "linear" -> linear(warmup, total);
            case "cosine" -> cosine(warmup, total);
            default -> throw new IllegalArgumentException(
                    "unknown lr schedule '" + name + "' (constant, constant_with_warmup, linear, cosine)");
        };
    }

    private static void checkWarmup(int warmup, int total) {
        if (warmup < 0) throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmup);
        if (total < 0) throw new IllegalArgumentException("total steps must be >= 0, got " + total);
    }
}
