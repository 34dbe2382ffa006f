package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MicroBatcherTest {

    private static List<PromptResponse> pairs(int n, String tag) {
        List<PromptResponse> l = new ArrayList<>();
        for (int i = 0; i < n; i++) l.add(new PromptResponse("p" + tag, "r".repeat(i) + tag));
        return l;
    }

    @Test
    void aFullBatchRunsAtOnceWithoutWaitingForTheLatencyBound() throws Exception {
        FakeScorer s = new FakeScorer(0);
        try (MicroBatcher b = new MicroBatcher(s, 4, 10_000, 100)) {
            long t0 = System.nanoTime();
            List<CompletableFuture<Float>> f = b.submit(pairs(4, "x"));
            CompletableFuture.allOf(f.toArray(CompletableFuture[]::new)).get(5, TimeUnit.SECONDS);
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(5), "a full batch must not wait 10 s");
            assertEquals(List.of(4), s.batchSizes);
            for (int i = 0; i < 4; i++)
                assertEquals(
                        FakeScorer.expected("px", "r".repeat(i) + "x"), f.get(i).get());
        }
    }

    @Test
    void aLoneRequestWaitsAtMostAboutTheLatencyBound() throws Exception {
        FakeScorer s = new FakeScorer(0);
        try (MicroBatcher b = new MicroBatcher(s, 16, 60, 100)) {
            long t0 = System.nanoTime();
            float c = b.submit(pairs(1, "a")).get(0).get(5, TimeUnit.SECONDS);
            long ms = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
            assertEquals(FakeScorer.expected("pa", "a"), c);
            assertTrue(ms >= 55, "the batch should have waited for company for ~60 ms, waited " + ms);
            assertTrue(ms < 2_000, "waited far beyond the bound: " + ms + " ms");
            assertEquals(List.of(1), s.batchSizes);
        }
    }

    @Test
    void pairsFromManyThreadsShareBatchesAndNoBatchExceedsTheMaximum() throws Exception {
        FakeScorer s = new FakeScorer(20);
        try (MicroBatcher b = new MicroBatcher(s, 8, 10, 1000)) {
            List<CompletableFuture<Float>> all = new ArrayList<>();
            List<Thread> threads = new ArrayList<>();
            CountDownLatch go = new CountDownLatch(1);
            for (int t = 0; t < 40; t++) {
                String tag = "t" + t;
                CompletableFuture<Float> f = new CompletableFuture<>();
                all.add(f);
                Thread th = new Thread(() -> {
                    try {
                        go.await();
                        b.submit(List.of(new PromptResponse("q", tag))).get(0).whenComplete((v, e) -> {
                            if (e != null) f.completeExceptionally(e);
                            else f.complete(v);
                        });
                    } catch (Exception e) {
                        f.completeExceptionally(e);
                    }
                });
                threads.add(th);
                th.start();
            }
            go.countDown();
            for (int t = 0; t < 40; t++)
                assertEquals(FakeScorer.expected("q", "t" + t), all.get(t).get(10, TimeUnit.SECONDS));
            int sum = s.batchSizes.stream().mapToInt(Integer::intValue).sum();
            assertEquals(40, sum);
            assertTrue(s.batchSizes.stream().allMatch(n -> n >= 1 && n <= 8), "batch sizes " + s.batchSizes);
            assertTrue(
                    s.batchSizes.size() < 40 && s.batchSizes.stream().anyMatch(n -> n > 1),
                    "concurrent pairs should have been batched: " + s.batchSizes);
            MicroBatcher.Stats st = b.stats();
            assertEquals(s.batchSizes.size(), st.batches());
            assertEquals(40, st.pairs());
            assertTrue(st.meanBatchSize() > 1);
            for (Thread th : threads) th.join();
        }
    }

    @Test
    void aRequestThatDoesNotFitIsRefusedWhole() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        Scorer blocking = batch -> {
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return new float[batch.size()];
        };
        try (MicroBatcher b = new MicroBatcher(blocking, 1, 0, 3)) {
            List<CompletableFuture<Float>> first = b.submit(pairs(1, "a")); // taken by the worker, which blocks
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (b.stats().queued() > 0 && System.nanoTime() < deadline) Thread.sleep(1);
            List<CompletableFuture<Float>> second = b.submit(pairs(2, "b")); // 2 of the 3 places waiting
            assertThrows(RejectedExecutionException.class, () -> b.submit(pairs(2, "c")));
            assertEquals(2, b.stats().queued(), "a refused request must leave nothing queued");
            release.countDown();
            assertEquals(0f, first.get(0).get(5, TimeUnit.SECONDS));
            for (CompletableFuture<Float> f : second) assertEquals(0f, f.get(5, TimeUnit.SECONDS));
            assertEquals(0f, b.submit(pairs(2, "d")).get(1).get(5, TimeUnit.SECONDS), "room is given back");
        }
    }

    @Test
    void aFailingBatchFailsOnlyItsOwnPairs() throws Exception {
        FakeScorer s = new FakeScorer(0);
        try (MicroBatcher b = new MicroBatcher(s, 4, 0, 100)) {
            CompletableFuture<Float> bad =
                    b.submit(List.of(new PromptResponse("p", "boom"))).get(0);
            ExecutionException e = assertThrows(ExecutionException.class, () -> bad.get(5, TimeUnit.SECONDS));
            assertTrue(e.getCause().getMessage().contains("exploded"));
            assertEquals(
                    0.1f,
                    b.submit(List.of(new PromptResponse("p", "ok"))).get(0).get(5, TimeUnit.SECONDS));
            assertEquals(1, b.stats().failedBatches());
        }
    }

    @Test
    void wrongCostCountsAndNonFiniteCostsAreReportedNotSwallowed() throws Exception {
        try (MicroBatcher b = new MicroBatcher(batch -> new float[batch.size() + 1], 4, 0, 10)) {
            ExecutionException e = assertThrows(
                    ExecutionException.class,
                    () -> b.submit(pairs(1, "a")).get(0).get(5, TimeUnit.SECONDS));
            assertTrue(
                    e.getCause().getMessage().contains("2 costs for 1 pairs"),
                    e.getCause().getMessage());
        }
        try (MicroBatcher b = new MicroBatcher(batch -> new float[] {Float.NaN}, 1, 0, 10)) {
            ExecutionException e = assertThrows(
                    ExecutionException.class,
                    () -> b.submit(pairs(1, "a")).get(0).get(5, TimeUnit.SECONDS));
            assertTrue(
                    e.getCause().getMessage().contains("non-finite"),
                    e.getCause().getMessage());
        }
    }

    @Test
    void closeScoresWhatIsQueuedThenRefuses() throws Exception {
        FakeScorer s = new FakeScorer(30);
        MicroBatcher b = new MicroBatcher(s, 2, 0, 100);
        List<CompletableFuture<Float>> f = b.submit(pairs(5, "z"));
        b.close();
        for (int i = 0; i < 5; i++)
            assertEquals(
                    FakeScorer.expected("pz", "r".repeat(i) + "z"), f.get(i).get(1, TimeUnit.SECONDS));
        assertThrows(RejectedExecutionException.class, () -> b.submit(pairs(1, "y")));
    }

    @Test
    void rejectsNonsenseSettings() {
        assertThrows(IllegalArgumentException.class, () -> new MicroBatcher(new FakeScorer(0), 0, 5, 10));
        assertThrows(IllegalArgumentException.class, () -> new MicroBatcher(new FakeScorer(0), 4, -1, 10));
        assertThrows(IllegalArgumentException.class, () -> new MicroBatcher(new FakeScorer(0), 4, 5, 0));
    }
}
