package io.gptneo.serve;

import io.gptneo.NonFiniteCostException;
import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import io.gptneo.train.eval.Evaluation;
import io.gptneo.train.eval.LengthBuckets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Gathers pairs from concurrent callers into batches for one {@link Scorer}, run by a single worker thread.
 *
 * <p>Policy: the worker blocks for the oldest waiting pair, then keeps taking pairs until the batch holds
 * {@code maxBatch} pairs or the oldest pair has waited {@code maxWaitMillis} since it was submitted, whichever comes
 * first; then it runs one {@link Scorer#score} and completes every pair's future. Pairs that arrive while a batch is
 * being scored wait in the queue and usually form the next batch at once (their wait already exceeds the bound), so
 * under load batches fill up without adding latency, and a lone caller waits at most {@code maxWaitMillis} extra.
 * Pairs whose futures were cancelled (the caller gave up) are dropped before scoring.
 *
 * <p>When the scorer counts tokens ({@link Scorer#tokens}), a batch is scored in length buckets
 * ({@link Evaluation#scoreBucketed}): its pairs sorted by token count and cut into sub-batches of at most
 * {@code bucketRows}, each padded only to its own longest; every future still gets its own pair's cost. A failure in
 * any sub-batch fails the whole batch (never a SAFE answer for a pair that was not scored), and a non-finite cost
 * makes each pair be scored alone, as before.
 *
 * <p>At most {@code capacity} pairs wait at once; {@link #submit} refuses a request that does not fit, as a whole.
 */
public final class MicroBatcher implements AutoCloseable {

    /**
     * Counters for /healthz and the load test. {@code batchSizes[k]} = number of batches of k pairs;
     * {@code usefulTokens} real tokens scored, {@code tokenSlots} the positions computed in length buckets,
     * {@code tokenSlotsUnbucketed} what each batch padded to its longest pair would have computed (token counts only
     * for scorers that count tokens).
     */
    public record Stats(
            long batches,
            long pairs,
            long failedBatches,
            int queued,
            long[] batchSizes,
            long usefulTokens,
            long tokenSlots,
            long tokenSlotsUnbucketed) {
        public double meanBatchSize() {
            return batches == 0 ? 0 : (double) pairs / batches;
        }

        /** Pad tokens / all positions computed (length-bucketed). */
        public double paddingFraction() {
            return new LengthBuckets.Tokens(usefulTokens, tokenSlots).paddingFraction();
        }

        /** The same had each batch been padded to its longest pair. */
        public double paddingFractionUnbucketed() {
            return new LengthBuckets.Tokens(usefulTokens, tokenSlotsUnbucketed).paddingFraction();
        }
    }

    /** Pairs per length bucket when the constructor is not told. */
    public static final int DEFAULT_BUCKET_ROWS = 4;

    private record Pending(PromptResponse pair, CompletableFuture<Float> future, long submittedNanos) {}

    private final Scorer scorer;
    private final int maxBatch;
    private final int bucketRows;
    private final long maxWaitNanos;
    private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
    private final Semaphore room;
    private final Thread worker;
    private volatile boolean open = true;

    private final AtomicLong batches = new AtomicLong();
    private final AtomicLong pairs = new AtomicLong();
    private final AtomicLong failedBatches = new AtomicLong();
    private final AtomicLongArray sizes;
    private final AtomicLong usefulTokens = new AtomicLong();
    private final AtomicLong tokenSlots = new AtomicLong();
    private final AtomicLong tokenSlotsUnbucketed = new AtomicLong();

    public MicroBatcher(Scorer scorer, int maxBatch, long maxWaitMillis, int capacity) {
        this(scorer, maxBatch, maxWaitMillis, capacity, DEFAULT_BUCKET_ROWS);
    }

    /** As above, scoring each batch in length buckets of at most {@code bucketRows} pairs. */
    public MicroBatcher(Scorer scorer, int maxBatch, long maxWaitMillis, int capacity, int bucketRows) {
        if (bucketRows < 1) throw new IllegalArgumentException("bucketRows must be >= 1: " + bucketRows);
        if (maxBatch < 1) throw new IllegalArgumentException("maxBatch must be >= 1: " + maxBatch);
        if (maxWaitMillis < 0) throw new IllegalArgumentException("maxWaitMillis must be >= 0: " + maxWaitMillis);
        if (capacity < 1) throw new IllegalArgumentException("capacity must be >= 1: " + capacity);
        this.scorer = scorer;
        this.maxBatch = maxBatch;
        this.bucketRows = bucketRows;
        this.maxWaitNanos = TimeUnit.MILLISECONDS.toNanos(maxWaitMillis);
        this.room = new Semaphore(capacity);
        this.sizes = new AtomicLongArray(maxBatch + 1);
        this.worker = new Thread(this::loop, "score-batcher");
        worker.setDaemon(true);
        worker.start();
    }

    public int maxBatch() {
        return maxBatch;
    }

    public long maxWaitMillis() {
        return TimeUnit.NANOSECONDS.toMillis(maxWaitNanos);
    }

    /**
     * Queues the pairs of one request; the futures complete with their costs (or exceptionally with the scorer's
     * failure). Throws {@link RejectedExecutionException} when the queue has no room for all of them or the batcher
     * is closed; then nothing was queued.
     */
    public List<CompletableFuture<Float>> submit(List<PromptResponse> request) {
        if (!open) throw new RejectedExecutionException("the batcher is closed");
        if (!room.tryAcquire(request.size())) {
            throw new RejectedExecutionException("too many pairs waiting (" + queue.size() + "); try again shortly");
        }
        long now = System.nanoTime();
        List<CompletableFuture<Float>> futures = new ArrayList<>(request.size());
        for (PromptResponse pr : request) {
            CompletableFuture<Float> f = new CompletableFuture<>();
            futures.add(f);
            queue.add(new Pending(pr, f, now));
        }
        if (!open) drainAndFail(); // raced with close(): the worker may already have left
        return futures;
    }

    public Stats stats() {
        long[] s = new long[sizes.length()];
        for (int i = 0; i < s.length; i++) s[i] = sizes.get(i);
        return new Stats(
                batches.get(),
                pairs.get(),
                failedBatches.get(),
                queue.size(),
                s,
                usefulTokens.get(),
                tokenSlots.get(),
                tokenSlotsUnbucketed.get());
    }

    private void loop() {
        List<Pending> batch = new ArrayList<>(maxBatch);
        while (open || !queue.isEmpty()) {
            try {
                Pending first = queue.poll(50, TimeUnit.MILLISECONDS);
                if (first == null) continue;
                batch.add(first);
                long deadline = first.submittedNanos + maxWaitNanos;
                while (batch.size() < maxBatch) {
                    Pending next = queue.poll();
                    if (next == null) {
                        long left = deadline - System.nanoTime();
                        if (left <= 0 || !open) break;
                        next = queue.poll(left, TimeUnit.NANOSECONDS);
                        if (next == null) break;
                    }
                    batch.add(next);
                }
                room.release(batch.size());
                run(batch);
            } catch (InterruptedException e) {
                if (!open) break;
            } catch (Throwable t) {
                for (Pending p : batch) p.future.completeExceptionally(t);
            } finally {
                batch.clear();
            }
        }
        drainAndFail();
    }

    private void run(List<Pending> batch) {
        batch.removeIf(p -> p.future.isDone());
        if (batch.isEmpty()) return;
        List<PromptResponse> input = new ArrayList<>(batch.size());
        for (Pending p : batch) input.add(p.pair);
        double[] costs;
        int[] lengths;
        LengthBuckets.Tokens fed;
        try {
            lengths = Evaluation.tokenLengths(input, scorer); // null: the scorer cannot count (one call, input order)
            Evaluation.Scored sc =
                    Evaluation.scoreBucketed(input, scorer, lengths, lengths == null ? input.size() : bucketRows, null);
            costs = sc.costs();
            fed = lengths == null
                    ? null
                    : LengthBuckets.Tokens.of(lengths, sc.buckets().order(), bucketRows);
        } catch (NonFiniteCostException e) {
            if (batch.size() > 1) { // find the pair(s) at fault; the others still get their costs
                for (Pending p : List.copyOf(batch)) run(new ArrayList<>(List.of(p)));
                return;
            }
            failedBatches.incrementAndGet();
            batch.get(0).future.completeExceptionally(e);
            return;
        } catch (Throwable t) {
            failedBatches.incrementAndGet();
            for (Pending p : batch) p.future.completeExceptionally(t);
            return;
        }
        batches.incrementAndGet();
        pairs.addAndGet(batch.size());
        sizes.incrementAndGet(batch.size());
        if (fed != null) {
            usefulTokens.addAndGet(fed.useful());
            tokenSlots.addAndGet(fed.slots());
            tokenSlotsUnbucketed.addAndGet(LengthBuckets.Tokens.batch(lengths).slots());
        }
        for (int i = 0; i < costs.length; i++) {
            if (Double.isFinite(costs[i])) {
                batch.get(i).future.complete((float) costs[i]);
            } else {
                batch.get(i)
                        .future
                        .completeExceptionally(
                                new IllegalStateException("the model produced a non-finite cost (" + costs[i] + ")"));
            }
        }
    }

    private void drainAndFail() {
        Pending p;
        while ((p = queue.poll()) != null) {
            room.release();
            p.future.completeExceptionally(new RejectedExecutionException("the server is shutting down"));
        }
    }

    /** Stops taking requests, scores what is already queued, and waits for the worker (at most 30 s). */
    @Override
    public void close() {
        open = false;
        try {
            worker.join(30_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) worker.interrupt();
        drainAndFail();
    }
}
