package io.gptneo.train.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Length-bucketed scoring: the plan, its padding figures, and costs returned in input order. */
class LengthBucketsTest {

    @Test
    void sortsByLengthKeepsTiesInInputOrderAndCountsPadding() {
        LengthBuckets b = LengthBuckets.of(new int[] {5, 1, 5, 1, 3}, 2);
        assertArrayEquals(new int[] {1, 3, 4, 0, 2}, b.order());
        assertEquals(15, b.usefulTokens());
        // input order: [5,1] [5,1] [3] -> 10 + 10 + 3 = 23 tokens; bucketed: [1,1] [3,5] [5] -> 2 + 10 + 5 = 17
        assertEquals(1 - 15.0 / 23, b.paddingFractionUnbucketed(), 1e-12);
        assertEquals(1 - 15.0 / 17, b.paddingFraction(), 1e-12);
        assertEquals(0, LengthBuckets.of(new int[] {4, 4, 4}, 2).paddingFraction(), 0);
    }

    /** A scorer whose cost is a function of the row alone, recording the length spread of each batch it gets. */
    static final class LengthScorer implements Scorer {
        final boolean countsTokens;
        final List<int[]> batches = new ArrayList<>();

        LengthScorer(boolean countsTokens) {
            this.countsTokens = countsTokens;
        }

        @Override
        public float[] score(List<PromptResponse> batch) {
            float[] c = new float[batch.size()];
            int[] lens = new int[batch.size()];
            for (int i = 0; i < c.length; i++) {
                lens[i] = batch.get(i).response().length();
                c[i] = batch.get(i).prompt().hashCode() % 1000 + lens[i] / 7f;
            }
            batches.add(lens);
            return c;
        }

        @Override
        public int tokens(PromptResponse row) {
            return countsTokens ? row.response().length() : -1;
        }
    }

    @Test
    void bucketedScoringReturnsCostsInInputOrder() {
        SplittableRandom r = new SplittableRandom(4);
        List<PromptResponse> rows = new ArrayList<>();
        for (int i = 0; i < 23; i++) rows.add(new PromptResponse("p" + i, "x".repeat(1 + r.nextInt(40))));
        LengthScorer plain = new LengthScorer(false), bucketed = new LengthScorer(true);
        Evaluation.Scored a = Evaluation.scoreBucketed(rows, plain, 4, null);
        int[] seen = new int[1];
        Evaluation.Scored b = Evaluation.scoreBucketed(rows, bucketed, 4, n -> seen[0] += n);
        assertNull(a.buckets(), "a scorer that cannot count tokens is scored in input order");
        assertArrayEquals(a.costs(), b.costs(), 0, "same cost for every row, in input order");
        assertEquals(23, seen[0]);
        int prevMax = 0;
        for (int[] lens : bucketed.batches) { // batches come in increasing length
            int min = Integer.MAX_VALUE, max = 0;
            for (int l : lens) {
                min = Math.min(min, l);
                max = Math.max(max, l);
            }
            assertTrue(min >= prevMax, "batches overlap in length");
            prevMax = max;
        }
        assertTrue(b.buckets().paddingFraction() < b.buckets().paddingFractionUnbucketed());
    }
}
