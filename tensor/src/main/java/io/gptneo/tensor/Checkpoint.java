package io.gptneo.tensor;

import java.util.Arrays;
import java.util.function.Function;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Gradient checkpointing: run a segment without keeping its intermediates and recompute it during backward.
 *
 * <p>The segment must be a pure function of its inputs and of parameters it captures (dropout must draw from an
 * explicit seed, see {@link Ops#dropout}), so the recompute is bit-identical. Gradients of captured parameters are
 * accumulated by the nested backward of the recomputed graph, exactly as without checkpointing.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static Tensor apply(Function<Tensor[], Tensor> segment, Tensor... inputs) {
        if (!GradMode.isEnabled()) return segment.apply(inputs);
        Tensor out;
        // forward only: no tape, nothing saved; the segment's temporaries die with its workspace, the output is
        // copied into the enclosing one (or out of workspaces)
        try (var ignored = GradMode.off();
                var ws = Workspaces.open(Workspaces.SEGMENT_FORWARD)) {
            out = Tensor.constant(Workspaces.leverage(segment.apply(inputs).data()));
        }
        // Record one node over the inputs. It is recorded even when no input needs a gradient, because parameters
        // captured by the segment may need one; the cost is one recompute.
        boolean anyInputGrad = false;
        for (Tensor t : inputs) anyInputGrad |= t.requiresGrad();
        final Tensor[] recordInputs = anyInputGrad ? inputs : Arrays.copyOf(inputs, inputs.length + 1);
        if (!anyInputGrad)
            recordInputs[inputs.length] = Tensor.of(out.data(), true); // a handle so the node is recorded
        final int n = inputs.length;
        // The recompute and its nested backward run in their own workspace, reused by every segment in turn; what
        // leaves it are leaf gradients (the inputs' and captured parameters'), which Tensor allocates outside.
        return Tensor.result("checkpoint", out.data(), recordInputs, g -> {
            try (var ws = Workspaces.open(Workspaces.SEGMENT_BACKWARD)) {
                Tensor[] detached = new Tensor[n];
                for (int i = 0; i < n; i++) detached[i] = Tensor.of(inputs[i].data(), inputs[i].requiresGrad());
                Tensor again;
                try (var on = GradMode.on()) {
                    again = segment.apply(detached);
                }
                INDArray[] grads = new INDArray[recordInputs.length];
                if (again.requiresGrad()) {
                    again.backward(g);
                    for (int i = 0; i < n; i++) grads[i] = detached[i].grad();
                }
                return grads;
            }
        });
    }
}
