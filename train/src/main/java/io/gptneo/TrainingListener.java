package io.gptneo;

import java.util.Map;

/**
 * Receives the progress of a training run, on the training thread: one call per optimizer step, one per validation
 * pass. A listener that throws stops the run. The command line's progress bar is one; a lambda
 * {@code s -> System.out.println(s)} is another.
 */
@FunctionalInterface
public interface TrainingListener {
    /** Called after every optimizer step. */
    void onStep(TrainingStep step);

    /**
     * Called once before the first step.
     *
     * @param step       the step the run starts from (0, or the checkpoint's step after a resume)
     * @param totalSteps the number of optimizer steps of the whole run
     */
    default void onStart(long step, long totalSteps) {}

    /**
     * Called after each validation pass with its metrics: {@code loss}, {@code accuracy}, {@code auroc} (when both
     * labels occur), {@code ranking_accuracy} (when the validation set has pairs) and {@code n}.
     */
    default void onValidation(long step, Map<String, Object> metrics) {}

    /**
     * Called once when the step loop ends, normally, on a stop request, or by an exception. The final validation pass
     * of a run that was not stopped follows it ({@link #onValidation} once more).
     */
    default void onEnd() {}

    /** A listener that ignores everything. */
    TrainingListener NONE = s -> {};
}
