package io.gptneo.train;

import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;

/**
 * One training example, tokenized once: a pair (two sequences, the safer one marked) or a single labelled
 * response (one sequence).
 *
 * @param ids     one or two token sequences (template + EOS, truncated)
 * @param safe    the safety label of each sequence
 * @param saferId index of the safer sequence of a pair; -1 for a single response
 */
public record TrainItem(int[][] ids, boolean[] safe, int saferId) {
    public boolean isPair() {
        return saferId >= 0;
    }

    public static TrainItem of(PairExample p, CostInputs in) {
        return new TrainItem(
                new int[][] {in.encode(p.prompt(), p.response0()), in.encode(p.prompt(), p.response1())},
                new boolean[] {p.safe0(), p.safe1()},
                p.saferId());
    }

    public static TrainItem of(QaExample q, CostInputs in) {
        return new TrainItem(new int[][] {in.encode(q.prompt(), q.response())}, new boolean[] {q.safe()}, -1);
    }

    /** The pair with its two sequences exchanged (labels follow). */
    public TrainItem swapped() {
        if (!isPair()) return this;
        return new TrainItem(new int[][] {ids[1], ids[0]}, new boolean[] {safe[1], safe[0]}, 1 - saferId);
    }

    public int tokens() {
        int n = 0;
        for (int[] s : ids) n += s.length;
        return n;
    }
}
