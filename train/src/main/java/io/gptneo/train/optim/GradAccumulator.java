package io.gptneo.train.optim;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;

/**
 * Gradient accumulation over {@code microSteps} micro-batches: each micro-batch's loss is scaled by 1/microSteps
 * before backward (leaf gradients add up across backward calls), so the accumulated gradient is the gradient of the
 * mean loss. Clip and step when {@link #endMicroStep()} returns true, then zero the gradients.
 */
public final class GradAccumulator {
    private final int microSteps;
    private int count;

    public GradAccumulator(int microSteps) {
        if (microSteps < 1)
            throw new IllegalArgumentException("gradient accumulation steps must be >= 1, got " + microSteps);
        this.microSteps = microSteps;
    }

    public int microSteps() {
        return microSteps;
    }

    /** loss / microSteps (differentiable). */
    public Tensor scale(Tensor loss) {
        return microSteps == 1 ? loss : Ops.scale(loss, 1.0 / microSteps);
    }

    /** Counts one micro-batch; true when it completes an optimizer step. */
    public boolean endMicroStep() {
        count++;
        if (count == microSteps) {
            count = 0;
            return true;
        }
        return false;
    }

    /** Micro-batches counted toward the current (incomplete) optimizer step. */
    public int pending() {
        return count;
    }
}
