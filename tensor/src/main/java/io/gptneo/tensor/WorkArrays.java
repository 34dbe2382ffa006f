package io.gptneo.tensor;

import java.util.concurrent.ConcurrentLinkedDeque;

/**
 * Scratch float arrays for the parallel Java kernels, handed out and taken back, most recently returned first (the
 * one whose lines are most likely still in cache). The pool holds at most as many arrays as tasks ever held one at
 * once, for the life of the process; an array too small for a request is dropped and a larger one made, so the pool
 * settles on the largest size asked for.
 *
 * <p>Why not a {@code ThreadLocal}: when these kernels ran on parallel streams, the common ForkJoinPool's workers
 * erased every thread-local after each top-level task (Java 17), and a per-thread cache there was a fresh array on
 * every call on every worker: zeroed, cold in cache, at a new alignment each time, and garbage for the collector.
 * They run on {@link Blocks}' own threads now, but a kernel may still be called from any thread (a caller's pool, a
 * nested call that runs inline), and one shared pool serves them all. Kernels that keep scratch across calls take it
 * from here.
 */
public final class WorkArrays {
    private WorkArrays() {}

    private static final ConcurrentLinkedDeque<float[]> FREE = new ConcurrentLinkedDeque<>();

    /** An array of at least {@code length} floats, contents unspecified; give it back with {@link #give}. */
    public static float[] take(int length) {
        float[] a = FREE.pollFirst();
        if (a != null && a.length >= length) return a;
        // too small (a smaller layout made it): drop it, as a ThreadLocal cache grown to the largest layout would
        return new float[length];
    }

    /** Returns an array from {@link #take} for reuse. */
    public static void give(float[] a) {
        FREE.offerFirst(a);
    }
}
