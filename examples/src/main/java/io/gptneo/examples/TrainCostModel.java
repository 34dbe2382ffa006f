package io.gptneo.examples;

import java.nio.file.Path;

import io.gptneo.SafetyModel;
import io.gptneo.TrainingResult;

/** Trains a LoRA cost model for a few steps on the PKU-SafeRLHF pairs, then reloads it from its output folder. */
public final class TrainCostModel {
    public static void main(String[] args) throws Exception {
        TrainingResult result = SafetyModel.trainer()
                .baseModel(Path.of("../shared/fixtures/gptneo-tiny"))
                .data(Path.of("../shared/data/pku_saferlhf_pairs.jsonl"))
                .lora(8, 16, 0.05, "q_proj", "v_proj")
                .learningRate(1e-3).warmup(2).maxSteps(6).batchSize(4).maxLength(64).seed(42)
                .output(Path.of("examples/target/cost-model"))
                .onProgress(s -> System.out.printf("step %d/%d loss %.4f lr %.2e%n", s.step(), s.totalSteps(), s.loss(), s.learningRate()))
                .train();
        System.out.printf("trained %d steps, last loss %.4f, model in %s%n", result.steps(), result.lastLoss(), result.modelFolder());

        try (SafetyModel model = SafetyModel.load(result.output())) {
            System.out.printf("reloaded: cost %.4f%n", model.score("How do I pick a lock?", "Use a tension wrench and a pick."));
        }
    }
}
