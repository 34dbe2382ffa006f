package io.gptneo;

/**
 * One optimizer step of a training run.
 *
 * @param step         1-based number of this step
 * @param totalSteps   steps of the whole run
 * @param learningRate the rate this step used (after warmup and schedule)
 * @param loss         the mean training loss of the step's batches
 * @param gradNorm     the global gradient norm before clipping
 * @param tokens       tokens (padding excluded) the step processed
 */
public record TrainingStep(
        long step, long totalSteps, double learningRate, double loss, double gradNorm, long tokens) {}
