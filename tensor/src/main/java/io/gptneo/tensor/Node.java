package io.gptneo.tensor;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One recorded operation on the tape: its inputs and the function that maps the gradient of its output to the
 * gradients of its inputs (null entries for inputs that need none).
 */
final class Node {
    /** Backward of one operation: dL/dout → dL/dinput_i. */
    @FunctionalInterface
    interface Backward {
        INDArray[] apply(INDArray gradOut);
    }

    /**
     * A backward that can fold gradient sums into its own results: {@code addTo[j]}, where given, is the gradient
     * already pending for input j (from its other consumers), and the returned {@code gin[j]} must then be a new array
     * holding the sum of the two, e.g. a kernel that writes dx may add it as it writes, which saves the tape's
     * separate pass over both. {@code addTo} may be null (nothing to fold), as {@link #apply(INDArray)} passes it.
     */
    @FunctionalInterface
    interface Accumulating extends Backward {
        INDArray[] apply(INDArray gradOut, INDArray[] addTo);

        @Override
        default INDArray[] apply(INDArray gradOut) {
            return apply(gradOut, null);
        }
    }

    final String op;
    Tensor[] inputs;
    Backward backward;
    /** Bytes of the intermediates this node keeps alive for backward (engine accounting, not JVM truth). */
    final long savedBytes;

    Node(String op, Tensor[] inputs, Backward backward, long savedBytes) {
        this.op = op;
        this.inputs = inputs;
        this.backward = backward;
        this.savedBytes = savedBytes;
    }

    boolean released() {
        return backward == null;
    }

    /** Drops the references to inputs and saved arrays so the GC can free them. */
    void release() {
        inputs = null;
        backward = null;
    }
}
