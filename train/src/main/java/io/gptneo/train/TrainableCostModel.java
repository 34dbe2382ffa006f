package io.gptneo.train;

import io.gptneo.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** What the training loop needs from a cost model (GPT-Neo + score head, with or without LoRA). */
public interface TrainableCostModel {
    /** Costs at each row's last real token, {@code [B]}, recorded for autodiff when grad mode is on. */
    Tensor costs(int[][] ids, int[][] mask);

    /** The tensors the optimizer updates, by unique name, in a stable order. */
    Map<String, Tensor> trainable();

    /** Training mode switches dropout on; evaluation mode off. */
    void setTraining(boolean on);

    /** Seeds the dropout masks of the next forward passes (one seed per micro-batch keeps runs reproducible). */
    void setStepSeed(long seed);

    /** Writes the trained result as a loadable artifact (a PEFT adapter folder for LoRA). */
    void save(Path dir) throws IOException;
}
