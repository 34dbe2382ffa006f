package io.gptneo;

import java.nio.file.Path;
import java.util.Map;

/**
 * How a training run ended.
 *
 * @param steps      optimizer steps done (the step reached, after a resume)
 * @param totalSteps optimizer steps of the whole run
 * @param stopped    true when a stop request ended the run early (a checkpoint was written; resume from {@link #output})
 * @param lastLoss   the training loss of the last step
 * @param validation the last validation metrics ({@code loss}, {@code accuracy}, {@code auroc},
 *                   {@code ranking_accuracy}, {@code n}); empty when there was no validation split
 * @param throughput real tokens, padding and useful tokens/s of the steps run (with and without length buckets)
 * @param output     the output folder: {@code metrics.jsonl}, {@code checkpoints/}, {@code adapter/};
 *                   {@link SafetyModel#load(Path)} reloads the trained model from it
 */
public record TrainingResult(
        long steps,
        long totalSteps,
        boolean stopped,
        double lastLoss,
        Map<String, Object> validation,
        TrainingThroughput throughput,
        Path output) {
    /** The trained model's folder: a PEFT adapter (LoRA) or a full model folder (full training). */
    public Path modelFolder() {
        return output.resolve("adapter");
    }
}
