package io.gptneo.tensor;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * Wall time per operation of the tape, to see where a step goes: off unless {@link #start()}ed, then every recorded
 * forward op and every backward function adds its time under {@code "forward <op>"} / {@code "backward <op>"}.
 * Forward ops are timed as the gap since the previous op (or {@link #mark()}) on the same thread, so call
 * {@link #mark()} right before a forward pass. Backward adds "backward (sum of gradients)" for the adds that merge
 * several consumers' gradients and the copies into parameter gradients.
 */
public final class OpProfile {
    private OpProfile() {}

    private static volatile boolean on;
    private static final Map<String, Stat> STATS = new ConcurrentHashMap<>();
    private static final ThreadLocal<long[]> LAST = ThreadLocal.withInitial(() -> new long[1]);

    /** Calls and total nanoseconds of one entry. */
    public record Entry(String name, long calls, long nanos) {}

    private static final class Stat {
        final LongAdder calls = new LongAdder(), nanos = new LongAdder();
    }

    /** Clears the table and starts recording. */
    public static void start() {
        STATS.clear();
        on = true;
        mark();
    }

    /** Stops recording; the table stays readable through {@link #entries()}. */
    public static void stop() {
        on = false;
    }

    static boolean on() {
        return on;
    }

    /** Starts the gap of the next forward op on this thread now. */
    public static void mark() {
        LAST.get()[0] = System.nanoTime();
    }

    /** A forward op just finished: the time since the previous one (or {@link #mark()}) is its own. */
    static void forward(String op) {
        long now = System.nanoTime();
        long[] last = LAST.get();
        add("forward " + op, now - last[0]);
        last[0] = now;
    }

    /** Adds {@code nanos} to {@code name}. */
    static void add(String name, long nanos) {
        Stat s = STATS.computeIfAbsent(name, k -> new Stat());
        s.calls.increment();
        s.nanos.add(nanos);
    }

    /** The table so far, longest first. */
    public static List<Entry> entries() {
        List<Entry> r = new ArrayList<>();
        STATS.forEach((k, s) -> r.add(new Entry(k, s.calls.sum(), s.nanos.sum())));
        r.sort(Comparator.comparingLong(Entry::nanos).reversed());
        return r;
    }

    /** The table as text: milliseconds per step ({@code steps} steps recorded) and share of the recorded total. */
    public static String table(int steps) {
        List<Entry> es = entries();
        double total = es.stream().mapToLong(Entry::nanos).sum();
        StringBuilder b = new StringBuilder(String.format("%-44s %8s %10s %6s%n", "op", "calls", "ms/step", "share"));
        for (Entry e : es)
            b.append(String.format(
                    "%-44s %8d %10.2f %5.1f%%%n",
                    e.name(),
                    e.calls() / Math.max(1, steps),
                    e.nanos() / 1e6 / Math.max(1, steps),
                    100 * e.nanos() / total));
        b.append(String.format("%-44s %8s %10.2f%n", "total", "", total / 1e6 / Math.max(1, steps)));
        return b.toString();
    }
}
