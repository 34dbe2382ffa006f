package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Sequence score head ({@code GPTNeoForSequenceClassification.score}): {@code weight [L, H]}, no bias, applied to
 * the hidden state of each row's last real token. With L = 1 it is the safety cost head.
 */
public final class ScoreHead {
    private Tensor weight; // [L, H]

    public ScoreHead(Tensor weight) {
        if (weight.rank() != 2)
            throw new IllegalArgumentException(
                    "score weight must be [num_labels, H], got " + Arrays.toString(weight.shape()));
        this.weight = weight.named("score.weight");
    }

    /** HF init: normal(0, 0.02) from {@code seed}, frozen until {@link #setTrainable}. */
    public static ScoreHead normal(int numLabels, int hidden, long seed, DataType dtype) {
        return new ScoreHead(Tensor.constant(Rand.normal(dtype, seed, 0.02, numLabels, hidden)));
    }

    /** All-zero weight (every score 0 until trained). */
    public static ScoreHead zeros(int numLabels, int hidden, DataType dtype) {
        return new ScoreHead(Tensor.constant(Nd4j.zeros(dtype, numLabels, hidden)));
    }

    /** Scores of every row at its last real token: {@code hidden [B, T, H] -> [B, L]}. */
    public Tensor scores(Tensor hidden, int[][] attentionMask) {
        long b = hidden.size(0), t = hidden.size(1), h = hidden.size(2);
        if (h != weight.size(1))
            throw new IllegalArgumentException(
                    "score head is for hidden " + weight.size(1) + ", got " + Arrays.toString(hidden.shape()));
        int[] last = lastRealIndex(attentionMask, (int) b, (int) t);
        int[] rows = new int[(int) b];
        for (int i = 0; i < b; i++) rows[i] = (int) (i * t + last[i]);
        Tensor picked = Ops.gatherRows(Ops.reshape(hidden, b * t, h), rows); // [B, H]
        return scoresAtLast(picked); // [B, L]
    }

    /** Scores of hidden states already taken at each row's last real token: {@code last [B, H] -> [B, L]}. */
    public Tensor scoresAtLast(Tensor last) {
        if (last.rank() != 2 || last.size(1) != weight.size(1)) {
            throw new IllegalArgumentException(
                    "score head is for [B, " + weight.size(1) + "], got " + Arrays.toString(last.shape()));
        }
        return Ops.linear(last, weight, null);
    }

    /** Costs {@code [B]}: the single score of each row at its last real token (needs L = 1). */
    public Tensor costs(Tensor hidden, int[][] attentionMask) {
        if (weight.size(0) != 1)
            throw new IllegalStateException("costs need a score head with 1 label, this one has " + weight.size(0));
        return Ops.reshape(scores(hidden, attentionMask), hidden.size(0));
    }

    /**
     * Index of each row's last token with mask 1 (right padding: before the pads; left padding: T − 1);
     * T − 1 for a null mask. A row without any real token is an error.
     */
    public static int[] lastRealIndex(int[][] mask, int b, int t) {
        int[] last = new int[b];
        for (int i = 0; i < b; i++) {
            last[i] = t - 1;
            if (mask == null) continue;
            if (mask[i].length != t)
                throw new IllegalArgumentException(
                        "mask row " + i + " has " + mask[i].length + " entries, expected " + t);
            int j = t - 1;
            while (j >= 0 && mask[i][j] == 0) j--;
            if (j < 0) throw new IllegalArgumentException("mask row " + i + " has no real token");
            last[i] = j;
        }
        return last;
    }

    public Tensor weight() {
        return weight;
    }

    public int numLabels() {
        return (int) weight.size(0);
    }

    /** Replaces the weight (e.g. from a PEFT modules-to-save file); shape must match. */
    public void setWeight(Tensor w) {
        if (!Arrays.equals(w.shape(), weight.shape())) {
            throw new IllegalArgumentException(
                    "score weight shape " + Arrays.toString(w.shape()) + " != " + Arrays.toString(weight.shape()));
        }
        this.weight = w.named("score.weight");
    }

    /** Makes the weight a trainable leaf over the same data (or frozen again). */
    public void setTrainable(boolean on) {
        weight = Params.leaf(weight, on);
    }
}
