package io.gptneo.train;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Graceful stop on SIGINT/SIGTERM. A JVM shutdown hook (which the JVM runs on both signals) sets a flag and then
 * waits: the training loop sees the flag at the next step boundary, writes a checkpoint and calls
 * {@link #finished()}; only then does the hook return and the JVM exit. The wait is bounded so a stuck loop
 * cannot keep the process alive forever.
 */
public final class StopSignal implements AutoCloseable {
    private final AtomicBoolean requested = new AtomicBoolean();
    private final CountDownLatch done = new CountDownLatch(1);
    private final long maxWaitMillis;
    private volatile String finishing;
    private Thread hook;

    public StopSignal(long maxWaitMillis) {
        this.maxWaitMillis = maxWaitMillis;
    }

    /** Registers the shutdown hook. */
    public StopSignal install() {
        hook = new Thread(this::onSignal, "gptneo-stop");
        Runtime.getRuntime().addShutdownHook(hook);
        return this;
    }

    /** What the hook does: request the stop and wait for the loop's checkpoint. Public so tests can drive it. */
    public void onSignal() {
        if (done.getCount() == 0) return; // training already over: nothing to save
        requested.set(true);
        String f = finishing;
        System.err.println(
                f == null
                        ? "\ngptneo: stop requested; writing a checkpoint at the next step boundary ..."
                        : "\ngptneo: stop requested after the last step; finishing first: " + f + " ...");
        try {
            if (!done.await(maxWaitMillis, TimeUnit.MILLISECONDS))
                System.err.println("gptneo: gave up waiting for the checkpoint");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Called by the loop after its last step: a signal now waits for {@code what} to be written, and says so. */
    public void finishing(String what) {
        finishing = what;
    }

    /** Polled by the loop between optimizer steps. */
    public boolean requested() {
        return requested.get();
    }

    /** Called by the loop when it has stopped (checkpoint written) or ended normally. */
    public void finished() {
        done.countDown();
    }

    /** Ends normally: releases a waiting hook and unregisters it (unless the JVM is already shutting down). */
    @Override
    public void close() {
        finished();
        if (hook != null) {
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // the hook is running or about to: it returns at once now that done is counted down
            }
        }
    }
}
