package io.gptneo.cli;

import java.nio.file.Path;

import io.gptneo.model.CostModel;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainSetup;
import picocli.CommandLine.Option;

/** Model flags shared by eval and classify: a base model plus a PEFT adapter, or a fully trained model folder. */
public final class ScorerOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR|HUB_ID",
            description = "GPT-Neo model folder or Hub id (a --train-base output's adapter/ folder is a model folder with its score head).")
    String model;
    @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT adapter folder (LoRA + score head) from ./gptneo train.")
    Path adapter;
    @Option(names = "--max-length", paramLabel = "N", defaultValue = "1024", description = "Tokens per sequence (default ${DEFAULT-VALUE}; capped by the model's positions).")
    int maxLength;
    @Option(names = "--batch-size", paramLabel = "N", defaultValue = "8", description = "Sequences per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;
    @Option(names = "--precision", paramLabel = "fp32|bf16", defaultValue = "fp32", description = "Base products: fp32 (default) or bf16 (block weights held in bf16, fp32 accumulation).")
    String precision;

    GptNeoCostModel load() throws Exception {
        Path dir = TrainSetup.resolveModel(model);
        CostModel cm = TrainSetup.withPrecision(TrainSetup.loadBase(dir), precision);
        return GptNeoCostModel.forInference(cm, adapter).withInputs(TrainSetup.tokenizer(dir), maxLength);
    }
}
