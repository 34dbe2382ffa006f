package io.gptneo.tensor;

import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.memory.conf.WorkspaceConfiguration;
import org.nd4j.linalg.api.memory.enums.AllocationPolicy;
import org.nd4j.linalg.api.memory.enums.LearningPolicy;
import org.nd4j.linalg.api.memory.enums.ResetPolicy;
import org.nd4j.linalg.api.memory.enums.SpillPolicy;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Scoped ND4J workspaces for work whose temporaries all die with it: a training step (forward, loss, backward), one
 * checkpointed block's forward or recompute, one inference block.
 *
 * <p>Why: outside a workspace every ND4J result is fresh native memory that only the garbage collector frees, and
 * the Java heap holds so little that it rarely runs. A 125M LoRA step at B=2, T=256 then grows the process by GBs of
 * dead activations, and every new buffer costs page faults. Inside, allocations come from one buffer per workspace id
 * that is learned on the first cycle and reused on every later one.
 *
 * <p>Contract: nothing allocated inside may be used after {@code close()} except what was moved out with
 * {@link #leverage} (into the enclosing workspace) or allocated under {@link #outside()}. Leaf gradients are allocated
 * outside ({@link Tensor} does it), so optimizers never see workspace memory. Workspaces are per thread.
 */
public final class Workspaces {
    /** One training micro-step: forward, loss and backward. */
    public static final String STEP = "gptneo-step";
    /** A checkpointed segment's forward without tape. */
    public static final String SEGMENT_FORWARD = "gptneo-segment-forward";
    /** A checkpointed segment's recompute and nested backward. */
    public static final String SEGMENT_BACKWARD = "gptneo-segment-backward";
    /** One inference block. */
    public static final String INFERENCE_BLOCK = "gptneo-inference-block";

    /** Learns its size on the first cycle, grows when a later cycle needs more (longer batches), 20% headroom. */
    private static final WorkspaceConfiguration CONFIG = WorkspaceConfiguration.builder()
            .initialSize(0)
            .overallocationLimit(0.2)
            .policyAllocation(AllocationPolicy.OVERALLOCATE)
            .policyLearning(LearningPolicy.FIRST_LOOP)
            .policyReset(ResetPolicy.BLOCK_LEFT)
            .policySpill(SpillPolicy.REALLOCATE)
            .build();

    private Workspaces() {}

    /** A workspace activation; closing it frees (for reuse) everything allocated in it. */
    public interface Scope extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Activates this thread's workspace {@code id}: {@code try (var ws = Workspaces.open(id)) { ... }}. When that
     * workspace is already active (a re-entrant caller), this is a no-op and allocations stay in the active one;
     * {@link #leverage} then copies one level further out, which is still safe.
     */
    public static Scope open(String id) {
        if (Nd4j.getWorkspaceManager().checkIfWorkspaceExistsAndActive(id)) return () -> {};
        MemoryWorkspace ws = Nd4j.getWorkspaceManager().getAndActivateWorkspace(CONFIG, id);
        return ws::close;
    }

    /** Allocations made until this scope closes live in no workspace (garbage-collected native memory). */
    public static Scope outside() {
        MemoryWorkspace ws = Nd4j.getWorkspaceManager().scopeOutOfWorkspaces();
        return ws::close;
    }

    /**
     * A copy of {@code a} that survives the current workspace's close: in the enclosing workspace when there is one,
     * else in no workspace. Arrays already outside are returned as they are.
     */
    public static INDArray leverage(INDArray a) {
        return a.isAttached() ? a.leverage() : a;
    }

    /** Whether this thread is inside any workspace. */
    public static boolean active() {
        return Nd4j.getWorkspaceManager().anyWorkspaceActiveForCurrentThread();
    }
}
