package io.gptneo.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * Fixed-size blocks of an index range, run in parallel for the Java kernels. Block boundaries depend only on
 * {@code n} and {@code size}, never on the thread count, so per-block partial sums added in block order give the
 * same bits on every run.
 *
 * <p>Threads: the caller and {@code availableProcessors() - 1} helper daemons claim blocks from one counter, so the
 * caller never waits for a helper to wake up: it runs whatever blocks are left, and a helper that wakes late finds
 * none. Helpers park as soon as they find no new job (spinning for 50 µs instead made the bf16 training step 5-10%
 * slower: the spinning thread took the core from oneDNN's OpenMP threads). A body that calls {@code run} again, or a
 * second thread calling it while a job runs, runs its blocks on its own thread. Why not a parallel stream on the
 * common pool, as before: a 300 µs job in 16 blocks took 250-259 µs there against 188-191 µs here, and a training
 * step makes some 300 such calls ({@code bench/RESULTS.md}, session 9).
 */
public final class Blocks {
    private Blocks() {}

    /** A kernel body over [lo, hi). */
    public interface Range {
        void run(int lo, int hi);
    }

    private static final Pool POOL = new Pool(Math.max(0, Runtime.getRuntime().availableProcessors() - 1));

    /** body over [k·size, (k+1)·size) ∩ [0, n) for every k, in parallel when there is more than one block. */
    public static void run(int n, int size, Range body) {
        int k = (n + size - 1) / size;
        if (k <= 1) {
            body.run(0, n);
            return;
        }
        POOL.run(new Job(n, size, k, body));
    }

    /** One call's blocks: claimed one at a time by whoever gets there first. */
    private static final class Job {
        final int n, size, blocks;
        final Range body;
        final AtomicInteger next = new AtomicInteger(), done = new AtomicInteger();
        volatile Throwable failure;

        Job(int n, int size, int blocks, Range body) {
            this.n = n;
            this.size = size;
            this.blocks = blocks;
            this.body = body;
        }

        /** Claims and runs blocks until none is left. */
        void work() {
            for (int b; (b = next.getAndIncrement()) < blocks; ) {
                try {
                    if (failure == null) body.run(b * size, Math.min(n, (b + 1) * size));
                } catch (Throwable t) {
                    if (failure == null) failure = t;
                } finally {
                    done.incrementAndGet();
                }
            }
        }
    }

    /** The helpers and the job they look at. */
    private static final class Pool {
        private final Thread[] helpers;
        /** The job running, null when none: a body that calls {@link #run} again runs its blocks on its own thread. */
        private final AtomicReference<Job> current = new AtomicReference<>();

        Pool(int n) {
            helpers = new Thread[n];
            for (int i = 0; i < n; i++) {
                Thread t = new Thread(this::helperLoop, "gptneo-blocks-" + (i + 1));
                t.setDaemon(true);
                helpers[i] = t;
                t.start();
            }
        }

        void run(Job job) {
            if (helpers.length == 0 || !current.compareAndSet(null, job)) { // nested or concurrent: this thread alone
                job.work();
                rethrow(job);
                return;
            }
            try {
                for (Thread h : helpers) LockSupport.unpark(h);
                job.work();
                while (job.done.get() < job.blocks) Thread.onSpinWait(); // a helper finishing its last block
            } finally {
                current.set(null);
            }
            rethrow(job);
        }

        private void helperLoop() {
            Job last = null;
            while (true) {
                Job j = current.get();
                if (j != null && j != last) {
                    j.work();
                    last = j;
                } else LockSupport.park(this); // run's unpark comes after it sets current: no wake-up is lost
            }
        }

        private static void rethrow(Job job) {
            Throwable t = job.failure;
            if (t instanceof RuntimeException r) throw r;
            if (t instanceof Error e) throw e;
            if (t != null) throw new IllegalStateException(t);
        }
    }
}
