package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.PromptResponse;
import io.gptneo.SafetyModel;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.eval.LengthBuckets;
import io.gptneo.weights.SharedData;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The service scores a micro-batch in length buckets: own cost per pair, fail closed, padding counted. */
class BucketedMicroBatchTest {

    /** {@link FakeScorer}'s costs from a scorer that counts tokens (the response's length), recording each call. */
    static final class CountingScorer implements io.gptneo.Scorer {
        final List<int[]> calls = new ArrayList<>();
        final FakeScorer costs = new FakeScorer(0);

        @Override
        public float[] score(List<PromptResponse> batch) {
            calls.add(batch.stream().mapToInt(p -> p.response().length()).toArray());
            return costs.score(batch);
        }

        @Override
        public int tokens(PromptResponse row) {
            return row.response().length();
        }
    }

    static List<PromptResponse> varied(int n, String poison) {
        List<PromptResponse> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String r = i == 5 && poison != null ? poison : "x".repeat(1 + (i * 7919) % 37);
            l.add(new PromptResponse("p" + "q".repeat(i % 5), r));
        }
        return l;
    }

    @Test
    void subBatchesAreSortedByLengthAndEveryPairGetsItsOwnCost() throws Exception {
        CountingScorer s = new CountingScorer();
        List<PromptResponse> rows = varied(8, null);
        try (MicroBatcher b = new MicroBatcher(s, 8, 10_000, 100, 3)) {
            List<CompletableFuture<Float>> f = b.submit(rows);
            for (int i = 0; i < rows.size(); i++) {
                PromptResponse p = rows.get(i);
                assertEquals(
                        FakeScorer.expected(p.prompt(), p.response()), f.get(i).get(5, TimeUnit.SECONDS), 0f);
            }
            assertEquals(List.of(3, 3, 2), s.calls.stream().map(c -> c.length).toList(), "buckets of at most 3");
            int prev = 0;
            for (int[] c : s.calls)
                for (int len : c) {
                    assertTrue(len >= prev, "increasing length across the sub-batches");
                    prev = len;
                }
            MicroBatcher.Stats st = b.stats();
            assertEquals(1, st.batches(), "one micro-batch, as the stats count it");
            int[] lens = rows.stream().mapToInt(p -> p.response().length()).toArray();
            LengthBuckets.Tokens fed = LengthBuckets.Tokens.NONE;
            for (int[] c : s.calls) fed = fed.plus(LengthBuckets.Tokens.batch(c));
            assertEquals(fed.useful(), st.usefulTokens());
            assertEquals(fed.slots(), st.tokenSlots(), "the positions of the sub-batches actually scored");
            assertEquals(LengthBuckets.Tokens.batch(lens).slots(), st.tokenSlotsUnbucketed());
            assertTrue(st.paddingFraction() < st.paddingFractionUnbucketed());
        }
    }

    @Test
    void aFailureInOneBucketFailsEveryPairOfTheBatch() throws Exception {
        CountingScorer s = new CountingScorer();
        try (MicroBatcher b = new MicroBatcher(s, 8, 10_000, 100, 2)) {
            List<CompletableFuture<Float>> f = b.submit(varied(8, "boom"));
            for (CompletableFuture<Float> x : f) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> x.get(5, TimeUnit.SECONDS));
                assertTrue(
                        e.getCause().getMessage().contains("exploded"),
                        e.getCause().getMessage());
            }
            assertTrue(s.calls.size() >= 1, "buckets before the failing one may have been scored; none answers");
            assertEquals(1, b.stats().failedBatches());
            assertEquals(0, b.stats().usefulTokens());
        }
    }

    /**
     * The fixture cost model through the batcher (buckets of 3, each padded to its own longest) against one pair at a
     * time (no padding): float32 tolerance, not bit-for-bit, because a different [B, T] changes the BLAS blocking and
     * the summation order of the products and the attention softmax (padding itself is masked out exactly).
     */
    @Test
    void fixtureModelCostsMatchScoringOneByOne() throws Exception {
        List<PromptResponse> rows = new ArrayList<>();
        for (PairExample p : DatasetReader.read(SharedData.resolve("data/pku_saferlhf_pairs.jsonl"), false)
                .pairs()
                .subList(0, 6)) {
            rows.add(new PromptResponse(p.prompt(), p.response0()));
            rows.add(new PromptResponse(p.prompt(), p.response1()));
        }
        try (SafetyModel m = SafetyModel.load(
                SharedData.resolve("fixtures/gptneo-tiny"),
                SharedData.resolve("fixtures/lora-tiny").resolve("adapter_init"))) {
            float[] batched = new float[rows.size()];
            try (MicroBatcher b = new MicroBatcher(m, rows.size(), 10_000, 100, 3)) {
                List<CompletableFuture<Float>> f = b.submit(rows);
                for (int i = 0; i < rows.size(); i++) batched[i] = f.get(i).get(60, TimeUnit.SECONDS);
                assertTrue(b.stats().paddingFraction() < b.stats().paddingFractionUnbucketed());
            }
            for (int i = 0; i < rows.size(); i++) {
                float alone = m.score(rows.get(i).prompt(), rows.get(i).response());
                assertEquals(alone, batched[i], 2e-5f * Math.max(1f, Math.abs(alone)), "row " + i);
            }
        }
    }
}
