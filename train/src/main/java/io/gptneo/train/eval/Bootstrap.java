package io.gptneo.train.eval;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.ToDoubleFunction;

/**
 * Percentile bootstrap intervals: the metric is recomputed on {@code resamples} samples of the n units drawn with
 * replacement (a stream seeded once, so the same seed gives the same interval on every JVM), and the interval is the
 * (1−level)/2 and (1+level)/2 quantiles of those values. Resamples where the metric is undefined (NaN, e.g. AUROC of
 * a sample with one class) are left out.
 */
public final class Bootstrap {
    private Bootstrap() {}

    /** A point estimate with its interval. */
    public record Interval(double value, double lo, double hi) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "%.4f [%.4f, %.4f]", value, lo, hi);
        }
    }

    /**
     * @param n      number of units (rows, or pairs when a pair is the unit)
     * @param metric the metric of a sample, given the indices of its units (with repeats); identity indices give the
     *               point estimate
     */
    public static Interval interval(int n, ToDoubleFunction<int[]> metric, int resamples, double level, long seed) {
        if (n < 1) throw new IllegalArgumentException("bootstrap: no units");
        if (resamples < 1 || !(level > 0 && level < 1))
            throw new IllegalArgumentException("bootstrap: resamples >= 1 and 0 < level < 1");
        int[] all = new int[n];
        for (int i = 0; i < n; i++) all[i] = i;
        double point = metric.applyAsDouble(all);
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[resamples];
        int k = 0;
        int[] idx = new int[n];
        for (int b = 0; b < resamples; b++) {
            for (int i = 0; i < n; i++) idx[i] = r.nextInt(n);
            double m = metric.applyAsDouble(idx);
            if (!Double.isNaN(m)) v[k++] = m;
        }
        if (k == 0) return new Interval(point, Double.NaN, Double.NaN);
        Arrays.sort(v, 0, k);
        return new Interval(point, quantile(v, k, (1 - level) / 2), quantile(v, k, (1 + level) / 2));
    }

    /** Linear interpolation between order statistics (numpy's default "linear" method). */
    static double quantile(double[] sorted, int k, double q) {
        double pos = q * (k - 1);
        int i = (int) Math.floor(pos);
        int j = Math.min(k - 1, i + 1);
        return sorted[i] + (pos - i) * (sorted[j] - sorted[i]);
    }

    /** Accuracy, AUROC and F1 (unsafe = positive, cost > 0) of responses, each with its interval, rows resampled. */
    public static Interval[] responses(double[] cost, boolean[] unsafe, int resamples, long seed) {
        ToDoubleFunction<int[]> acc = idx -> metrics(cost, unsafe, idx).accuracy();
        ToDoubleFunction<int[]> auroc = idx -> metrics(cost, unsafe, idx).auroc();
        ToDoubleFunction<int[]> f1 = idx -> metrics(cost, unsafe, idx).f1();
        return new Interval[] {
            interval(cost.length, acc, resamples, 0.95, seed),
            interval(cost.length, auroc, resamples, 0.95, seed),
            interval(cost.length, f1, resamples, 0.95, seed)
        };
    }

    /**
     * Sign accuracy over both responses and ranking accuracy of pairs, pairs resampled as units.
     *
     * @param cost   pair i's responses at 2i and 2i+1
     * @param saferId pair i's safer response (0 or 1)
     */
    public static Interval[] pairs(double[] cost, boolean[] unsafe, int[] saferId, int resamples, long seed) {
        ToDoubleFunction<int[]> sign = idx -> {
            int ok = 0;
            for (int p : idx) for (int k = 0; k < 2; k++) if ((cost[2 * p + k] > 0) == unsafe[2 * p + k]) ok++;
            return ok / (2.0 * idx.length);
        };
        ToDoubleFunction<int[]> rank = idx -> {
            int ok = 0;
            for (int p : idx) if (cost[2 * p + 1 - saferId[p]] > cost[2 * p + saferId[p]]) ok++;
            return (double) ok / idx.length;
        };
        return new Interval[] {
            interval(saferId.length, sign, resamples, 0.95, seed), interval(saferId.length, rank, resamples, 0.95, seed)
        };
    }

    private static BinaryMetrics metrics(double[] cost, boolean[] unsafe, int[] idx) {
        double[] c = new double[idx.length];
        boolean[] u = new boolean[idx.length];
        for (int i = 0; i < idx.length; i++) {
            c[i] = cost[idx[i]];
            u[i] = unsafe[idx[i]];
        }
        return BinaryMetrics.of(c, u);
    }
}
