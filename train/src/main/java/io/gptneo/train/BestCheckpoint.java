package io.gptneo.train;

import io.gptneo.TrainingListener;
import io.gptneo.TrainingStep;
import io.gptneo.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Checkpoint selection by validation: keeps a copy of the trainable tensors at the validation pass with the lowest
 * validation loss (the earlier pass on a tie, so the choice is deterministic) and puts them back on
 * {@link #restore}. Passes every call on to {@code inner}.
 */
public final class BestCheckpoint implements TrainingListener {
    private final Map<String, Tensor> params;
    private final TrainingListener inner;
    private Map<String, INDArray> snapshot;
    private double bestLoss = Double.POSITIVE_INFINITY;
    private long bestStep = -1;

    public BestCheckpoint(Map<String, Tensor> params, TrainingListener inner) {
        this.params = params;
        this.inner = inner == null ? TrainingListener.NONE : inner;
    }

    @Override
    public void onStart(long step, long totalSteps) {
        inner.onStart(step, totalSteps);
    }

    @Override
    public void onStep(TrainingStep step) {
        inner.onStep(step);
    }

    @Override
    public void onValidation(long step, Map<String, Object> metrics) {
        inner.onValidation(step, metrics);
        Object l = metrics.get("loss");
        if (!(l instanceof Number n))
            throw new IllegalArgumentException("validation metrics at step " + step + " carry no \"loss\"");
        double loss = n.doubleValue();
        if (!(loss < bestLoss)) return;
        bestLoss = loss;
        bestStep = step;
        snapshot = new LinkedHashMap<>();
        params.forEach((k, v) -> snapshot.put(k, v.data().dup()));
    }

    @Override
    public void onEnd() {
        inner.onEnd();
    }

    /** The step of the best validation pass so far, −1 before any. */
    public long bestStep() {
        return bestStep;
    }

    /** Its validation loss (+∞ before any pass). */
    public double bestLoss() {
        return bestLoss;
    }

    /** Puts the best pass's tensors back into the model; returns its step (−1, nothing changed, before any pass). */
    public long restore() {
        if (snapshot != null) params.forEach((k, v) -> v.setData(snapshot.get(k).dup()));
        return bestStep;
    }
}
