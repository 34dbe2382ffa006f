package io.gptneo.model;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Autoregressive decoding: a prefill over the (left-padded) prompts fills a {@link KvCache}, then each step feeds
 * one token per row. Position ids follow the mask (cumsum − 1, 1 on pads), as HF batched generation does.
 * Runs under {@link GradMode#off()}.
 */
public final class Generator {
    /** Called after every step with the step's last-position logits [B, V] and the chosen tokens. */
    public interface StepListener {
        void onStep(int step, INDArray logits, int[] tokens);
    }

    /** Left-padded batch: ids and mask [B][T]. */
    public record Batch(int[][] ids, int[][] mask) {}

    /** New tokens per row, up to and including EOS when a row stopped there. */
    public record Result(int[][] newIds) {
        public int[] first() {
            return newIds[0];
        }
    }

    private final GptNeoModel model;

    public Generator(GptNeoModel model) {
        this.model = model;
    }

    /** Left-pads prompts of different lengths with {@code pad} (mask 0 on pads). */
    public static Batch leftPad(int[][] prompts, int pad) {
        int t = 0;
        for (int[] p : prompts) {
            if (p.length == 0) throw new IllegalArgumentException("empty prompt");
            t = Math.max(t, p.length);
        }
        int[][] ids = new int[prompts.length][t], mask = new int[prompts.length][t];
        for (int i = 0; i < prompts.length; i++) {
            int off = t - prompts[i].length;
            Arrays.fill(ids[i], 0, off, pad);
            System.arraycopy(prompts[i], 0, ids[i], off, prompts[i].length);
            Arrays.fill(mask[i], off, t, 1);
        }
        return new Batch(ids, mask);
    }

    /** Generates after each of {@code prompts} (lengths may differ; they are left-padded with the pad id). */
    public Result generate(int[][] prompts, GenerationConfig cfg) {
        Batch b = leftPad(prompts, cfg.padTokenId());
        return generate(b.ids(), b.mask(), cfg, null);
    }

    /** Generates after a left-padded batch ({@code mask} null = no padding). */
    public Result generate(int[][] ids, int[][] mask, GenerationConfig cfg, StepListener listener) {
        int bsz = ids.length, t0 = ids[0].length;
        int[][] m = mask == null ? ones(bsz, t0) : mask;
        checkLeftPadded(m);
        int[][] out = new int[bsz][cfg.maxNewTokens()];
        int[] produced = new int[bsz];
        boolean[] finished = new boolean[bsz];
        int[] realCount = new int[bsz];
        for (int i = 0; i < bsz; i++) for (int v : m[i]) realCount[i] += v;
        SplittableRandom rng = new SplittableRandom(cfg.seed());
        int steps = 0;
        try (var off = GradMode.off()) {
            KvCache cache = cfg.useCache() ? model.newCache(bsz, t0 + cfg.maxNewTokens()) : null;
            int[][] seq = ids, seqMask = m;
            Tensor hidden = model.forward(ids, m, GptNeoModel.positionsFromMask(m), cache);
            for (int step = 0; step < cfg.maxNewTokens(); step++) {
                INDArray logits = model.lastLogits(hidden).data(); // [B, V]
                int[] next = new int[bsz];
                for (int i = 0; i < bsz; i++) {
                    next[i] = finished[i] ? cfg.padTokenId() : choose(logits.getRow(i), cfg, rng);
                    if (!finished[i]) {
                        out[i][produced[i]++] = next[i];
                        finished[i] = next[i] == cfg.eosTokenId();
                    }
                }
                if (listener != null) listener.onStep(step, logits, next);
                steps++;
                if (allTrue(finished) || step == cfg.maxNewTokens() - 1) break;

                // Append the tokens (mask 1; position = number of real tokens before it).
                seq = appendColumn(seq, next);
                seqMask = appendColumn(seqMask, filled(bsz, 1));
                int[][] pos = new int[bsz][1];
                for (int i = 0; i < bsz; i++) pos[i][0] = realCount[i]++;
                if (cache != null) {
                    int[][] col = new int[bsz][1];
                    for (int i = 0; i < bsz; i++) col[i][0] = next[i];
                    hidden = model.forward(col, seqMask, pos, cache);
                } else {
                    hidden = model.forward(seq, seqMask, GptNeoModel.positionsFromMask(seqMask));
                }
            }
        }
        int[][] trimmed = new int[bsz][];
        for (int i = 0; i < bsz; i++) trimmed[i] = Arrays.copyOf(out[i], produced[i]);
        return new Result(trimmed);
    }

    /** Greedy argmax, or a seeded draw after temperature, top-k and top-p filtering. */
    static int choose(INDArray row, GenerationConfig cfg, SplittableRandom rng) {
        double[] x = row.castTo(DataType.DOUBLE).dup().data().asDouble();
        if (!cfg.doSample()) return argmax(x);
        int v = x.length;
        for (int i = 0; i < v; i++) x[i] /= cfg.temperature();
        if (cfg.topK() > 0 && cfg.topK() < v) {
            double[] sorted = x.clone();
            Arrays.sort(sorted);
            double kth = sorted[v - cfg.topK()]; // keep every logit >= the k-th largest (ties kept, as HF)
            for (int i = 0; i < v; i++) if (x[i] < kth) x[i] = Double.NEGATIVE_INFINITY;
        }
        double max = x[argmax(x)];
        double[] p = new double[v];
        double sum = 0;
        for (int i = 0; i < v; i++) sum += p[i] = Math.exp(x[i] - max);
        for (int i = 0; i < v; i++) p[i] /= sum;
        if (cfg.topP() < 1.0) {
            // Keep the most probable tokens while the mass before them is < topP (at least one token).
            Integer[] order = new Integer[v];
            for (int i = 0; i < v; i++) order[i] = i;
            final double[] pp = p;
            Arrays.sort(order, (a, b) -> Double.compare(pp[b], pp[a]));
            double before = 0, kept = 0;
            boolean[] keep = new boolean[v];
            for (int r = 0; r < v; r++) {
                int i = order[r];
                if (r > 0 && before >= cfg.topP()) break;
                keep[i] = true;
                kept += p[i];
                before += p[i];
            }
            for (int i = 0; i < v; i++) p[i] = keep[i] ? p[i] / kept : 0;
        }
        double u = rng.nextDouble(), c = 0;
        int last = -1;
        for (int i = 0; i < v; i++) {
            if (p[i] == 0) continue;
            last = i;
            c += p[i];
            if (u < c) return i;
        }
        return last; // rounding: u ≥ total mass
    }

    static int argmax(double[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }

    private static void checkLeftPadded(int[][] mask) {
        for (int i = 0; i < mask.length; i++) {
            boolean seenReal = false;
            for (int j = 0; j < mask[i].length; j++) {
                if (mask[i][j] == 1) seenReal = true;
                else if (seenReal)
                    throw new IllegalArgumentException(
                            "generation needs left padding: row " + i + " has a pad after a real token at " + j);
            }
            if (!seenReal) throw new IllegalArgumentException("row " + i + " has no real prompt token");
        }
    }

    private static int[][] appendColumn(int[][] a, int[] col) {
        int[][] r = new int[a.length][];
        for (int i = 0; i < a.length; i++) {
            r[i] = Arrays.copyOf(a[i], a[i].length + 1);
            r[i][a[i].length] = col[i];
        }
        return r;
    }

    private static int[] filled(int n, int v) {
        int[] r = new int[n];
        Arrays.fill(r, v);
        return r;
    }

    private static int[][] ones(int b, int t) {
        int[][] r = new int[b][t];
        for (int[] row : r) Arrays.fill(row, 1);
        return r;
    }

    private static boolean allTrue(boolean[] a) {
        for (boolean x : a) if (!x) return false;
        return true;
    }
}
