package io.gptneo.tensor;

/**
 * Whether operations record a tape. Off (inference mode) means no nodes, no saved intermediates.
 * Thread-local, so a server thread doing inference never disturbs a training thread.
 */
public final class GradMode {
    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[] {true});

    private GradMode() {}

    public static boolean isEnabled() {
        return ENABLED.get()[0];
    }

    /** {@code try (var ignored = GradMode.off()) { ... }} runs a block without recording. */
    public static Scope off() {
        return set(false);
    }

    /** Re-enables recording inside an {@link #off()} block (used by gradient checkpointing's recompute). */
    public static Scope on() {
        return set(true);
    }

    private static Scope set(boolean value) {
        boolean[] cell = ENABLED.get();
        boolean previous = cell[0];
        cell[0] = value;
        return () -> cell[0] = previous;
    }

    /** Restores the previous mode on close. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }
}
