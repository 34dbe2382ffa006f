package io.gptneo.train.pretrain;

import io.gptneo.TrainingListener;
import io.gptneo.TrainingStep;
import io.gptneo.model.GptNeoModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import io.gptneo.tensor.Workspaces;
import io.gptneo.train.data.EpochOrder;
import io.gptneo.train.optim.AdamW;
import io.gptneo.train.optim.GradClip;
import io.gptneo.train.optim.LrSchedule;
import io.gptneo.train.optim.ParamGroup;
import java.util.Arrays;
import java.util.List;

/**
 * Causal-LM pretraining of a GPT-Neo body on plain token documents, before the cost-model fine-tune.
 *
 * <p>Documents are shuffled by seed, joined with EOS between them and cut into rows of {@code rowLength} ids (the
 * tail that does not fill a row is dropped); the rows are cycled in order, {@code batchRows} per step. The softmax runs
 * over the {@code vocab} most frequent ids of the documents only: logits {@code h · wte[cand]ᵀ}, whose rows are
 * gathered from the (tied) embedding so gradients flow into it; a target outside the candidate set is left out of the
 * loss (no shared "other" class, which would teach the model a token that does not exist). The model keeps its full
 * vocabulary, so the result is a plain GPT-Neo checkpoint. AdamW (torch) with warmup and cosine decay, gradients
 * clipped to norm 1.
 */
public final class LmPretrainer {
    /** Ignored target in the restricted cross-entropy. */
    static final int IGNORE = -100;

    /** Settings of one pretraining run. */
    public record Options(
            int steps,
            int batchRows,
            int rowLength,
            int vocab,
            double lr,
            double weightDecay,
            int warmupSteps,
            long seed) {
        public Options {
            if (steps < 1) throw new IllegalArgumentException("pretraining steps must be >= 1, got " + steps);
            if (batchRows < 1)
                throw new IllegalArgumentException("pretraining batch rows must be >= 1, got " + batchRows);
            if (rowLength < 2)
                throw new IllegalArgumentException("pretraining row length must be >= 2, got " + rowLength);
            if (vocab < 2) throw new IllegalArgumentException("pretraining vocabulary must be >= 2 ids, got " + vocab);
            if (!(lr > 0)) throw new IllegalArgumentException("pretraining lr must be > 0, got " + lr);
        }
    }

    /**
     * What a run did: steps, tokens trained on (rows × length per step), the candidate set's size and the share of
     * the documents' tokens it covers, the packed rows, the last step's loss and the held-out loss before and after
     * (restricted cross-entropy, NaN without held-out rows).
     */
    public record Result(
            long steps,
            long tokens,
            int vocab,
            double coverage,
            int rows,
            double lastLoss,
            double heldOutBefore,
            double heldOutAfter) {}

    private LmPretrainer() {}

    /**
     * Shuffles the documents by seed and packs them, EOS after each, into rows of {@code length} ids; the tail that
     * does not fill a row is dropped.
     */
    public static int[][] pack(List<int[]> docs, int length, int eos, long seed) {
        if (length < 2) throw new IllegalArgumentException("row length must be >= 2, got " + length);
        int[] order = EpochOrder.permutation(docs.size(), seed, 0, true);
        long total = 0;
        for (int[] d : docs) total += d.length + 1;
        int n = Math.toIntExact(total / length);
        int[][] rows = new int[n][length];
        int r = 0, c = 0;
        for (int i = 0; i < order.length && r < n; i++) {
            int[] d = docs.get(order[i]);
            for (int k = 0; k <= d.length && r < n; k++) {
                rows[r][c++] = k < d.length ? d[k] : eos;
                if (c == length) {
                    r++;
                    c = 0;
                }
            }
        }
        return rows;
    }

    /** The {@code k} most frequent ids of the documents (plus EOS), most frequent first, ties by smaller id. */
    public static int[] topIds(List<int[]> docs, int k, int eos, int vocabSize) {
        long[] count = new long[vocabSize];
        for (int[] d : docs) {
            for (int id : d) {
                if (id < 0 || id >= vocabSize)
                    throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + vocabSize);
                count[id]++;
            }
            count[eos]++;
        }
        Integer[] ids = new Integer[vocabSize];
        for (int i = 0; i < vocabSize; i++) ids[i] = i;
        Arrays.sort(ids, (a, b) -> count[a] != count[b] ? Long.compare(count[b], count[a]) : Integer.compare(a, b));
        int n = 0;
        while (n < Math.min(k, vocabSize) && count[ids[n]] > 0) n++;
        int[] out = new int[n];
        for (int i = 0; i < n; i++) out[i] = ids[i];
        return out;
    }

    /** Share of the rows' next-token targets (positions 1..T-1) that are in the candidate set. */
    public static double coverage(int[][] rows, int[] candidates, int vocabSize) {
        int[] slot = slots(candidates, vocabSize);
        long in = 0, all = 0;
        for (int[] r : rows)
            for (int j = 1; j < r.length; j++) {
                all++;
                if (slot[r[j]] >= 0) in++;
            }
        return all == 0 ? Double.NaN : (double) in / all;
    }

    /** id → position in {@code candidates}, −1 for the others. */
    static int[] slots(int[] candidates, int vocabSize) {
        int[] slot = new int[vocabSize];
        Arrays.fill(slot, -1);
        for (int i = 0; i < candidates.length; i++) {
            if (slot[candidates[i]] >= 0)
                throw new IllegalArgumentException("candidate id " + candidates[i] + " is listed twice");
            slot[candidates[i]] = i;
        }
        return slot;
    }

    /**
     * Mean next-token cross-entropy of {@code rows [B][T]} over the candidate ids only: position t predicts
     * {@code rows[t+1]} with logits {@code hidden_t · lmHead[cand]ᵀ}; targets outside the set are ignored.
     */
    public static Tensor loss(GptNeoModel model, int[][] rows, int[] candidates) {
        int b = rows.length, t = rows[0].length;
        if (t < 2) throw new IllegalArgumentException("LM rows need at least 2 ids, got " + t);
        int h = model.config().hiddenSize();
        int[] slot = slots(candidates, model.config().vocabSize());
        Tensor hidden = model.forward(rows, null, null); // [B, T, H]
        Tensor x = Ops.reshape(Ops.slice(hidden, 1, 0, t - 1), (long) b * (t - 1), h); // [N, H]
        int[] next = new int[b * (t - 1)];
        for (int i = 0; i < b; i++) System.arraycopy(rows[i], 1, next, i * (t - 1), t - 1);
        return restrictedCrossEntropy(x, model.lmHeadWeight(), candidates, slot, next);
    }

    /**
     * Mean cross-entropy of {@code x [N, H]} against {@code next [N]} ids with logits {@code x · head[cand]ᵀ [N, K]};
     * {@code slot} maps an id to its place in {@code cand} (−1: outside, left out of the mean).
     */
    static Tensor restrictedCrossEntropy(Tensor x, Tensor head, int[] candidates, int[] slot, int[] next) {
        Tensor w = Ops.gatherRows(head, candidates); // [K, H]
        Tensor logits = Ops.linear(x, w, null); // [N, K]
        int[] targets = new int[next.length];
        for (int i = 0; i < next.length; i++) targets[i] = slot[next[i]] >= 0 ? slot[next[i]] : IGNORE;
        return Ops.crossEntropy(logits, targets, IGNORE);
    }

    /** Mean restricted loss over the rows (no gradient), batch by batch, weighted by batch size; NaN when empty. */
    public static double heldOutLoss(GptNeoModel model, int[][] rows, int[] candidates, int batchRows) {
        if (rows.length == 0) return Double.NaN;
        double sum = 0;
        try (var off = GradMode.off()) {
            for (int s = 0; s < rows.length; s += batchRows) {
                int[][] batch = Arrays.copyOfRange(rows, s, Math.min(rows.length, s + batchRows));
                sum += loss(model, batch, candidates).item() * batch.length;
            }
        }
        return sum / rows.length;
    }

    /**
     * Pretrains {@code model} in place on {@code docs}; {@code heldOut} documents (may be empty) are packed the same
     * way and scored before and after, as a diagnostic only.
     */
    public static Result run(
            GptNeoModel model, List<int[]> docs, List<int[]> heldOut, int eos, Options o, TrainingListener listener) {
        int vocabSize = model.config().vocabSize();
        int[][] rows = pack(docs, o.rowLength(), eos, o.seed());
        if (rows.length < o.batchRows())
            throw new IllegalArgumentException("pretraining text packs into " + rows.length + " rows of "
                    + o.rowLength() + " ids, fewer than one batch of " + o.batchRows());
        int[] cand = topIds(docs, o.vocab(), eos, vocabSize);
        double coverage = coverage(rows, cand, vocabSize);
        int[][] held = pack(heldOut, o.rowLength(), eos, o.seed());
        double before = heldOutLoss(model, held, cand, o.batchRows());

        model.setTrainable(true);
        AdamW opt = AdamW.torch(ParamGroup.decayAndNoDecay(model.parameters(), o.weightDecay()));
        LrSchedule schedule = LrSchedule.cosine(o.warmupSteps(), o.steps());
        TrainingListener l = listener == null ? TrainingListener.NONE : listener;
        double last = Double.NaN;
        l.onStart(0, o.steps());
        try {
            for (int step = 0; step < o.steps(); step++) {
                int[][] batch = new int[o.batchRows()][];
                for (int i = 0; i < batch.length; i++)
                    batch[i] = rows[(int) (((long) step * o.batchRows() + i) % rows.length)];
                double lr = schedule.lr(o.lr(), step);
                try (var ws = Workspaces.open(Workspaces.STEP)) {
                    Tensor loss = loss(model, batch, cand);
                    last = loss.item();
                    loss.backward();
                }
                if (!Double.isFinite(last))
                    throw new IllegalStateException("pretraining loss is " + last + " at step " + (step + 1));
                List<Tensor> ps = opt.parameters();
                double norm = GradClip.clipGlobalNorm(ps, 1.0);
                opt.step(lr);
                opt.zeroGrad();
                l.onStep(new TrainingStep(step + 1, o.steps(), lr, last, norm, (long) o.batchRows() * o.rowLength()));
            }
        } finally {
            l.onEnd();
        }
        double after = heldOutLoss(model, held, cand, o.batchRows());
        return new Result(
                o.steps(),
                (long) o.steps() * o.batchRows() * o.rowLength(),
                cand.length,
                coverage,
                rows.length,
                last,
                before,
                after);
    }
}
