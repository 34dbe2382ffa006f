package io.gptneo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.SafetyModel;
import io.gptneo.model.CostModel;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainSetup;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Model flags shared by eval and classify: a base model plus a PEFT adapter, or a fully trained model folder. */
public final class ScorerOptions {
    @Option(
            names = "--model",
            required = true,
            paramLabel = "DIR|HUB_ID",
            description =
                    "Required. GPT-Neo model folder or Hugging Face Hub id (org/name[@revision]); the adapter/ folder of a --train-base run is a model folder with its score head.")
    String model;

    @Option(
            names = "--adapter",
            paramLabel = "DIR",
            description =
                    "PEFT adapter folder (LoRA weights and score head), e.g. OUT/adapter of the train command; without it the model's own score.weight is used (a seeded random head when it has none).")
    Path adapter;

    @Option(
            names = "--max-length",
            paramLabel = "N",
            defaultValue = "1024",
            description = "Tokens kept per pair (default ${DEFAULT-VALUE}; capped by the model's positions).")
    int maxLength;

    @Option(
            names = "--truncation",
            paramLabel = "keep-response|first-tokens",
            defaultValue = "keep-response",
            hidden = true,
            description =
                    "Cut of an over-long pair: keep the response and the prompt's end (default), or the first tokens (only to reproduce the lora-tiny fixture).")
    String truncation = "keep-response";

    @Option(
            names = "--batch-size",
            paramLabel = "N",
            defaultValue = "8",
            description = "Pairs per forward pass (default ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(
            names = "--precision",
            paramLabel = "fp32|bf16",
            defaultValue = "fp32",
            description = "Base products: fp32 (default) or bf16 (block weights held in bf16, fp32 accumulation).")
    String precision = "fp32";

    /** A pipeline output folder ({@code ./gptneo pipeline --out DIR}, with its model card) loads its {@code adapter/}. */
    SafetyModel load() throws Exception {
        if (adapter == null && Files.isDirectory(Path.of(model)) && ModelCard.read(Path.of(model)) != null) {
            // a pipeline output: its adapter/ (or full model) and the base named in it, as SafetyModel.load(folder)
            return SafetyModel.load(Path.of(model))
                    .withMaxLength(maxLength)
                    .withTruncation(CostInputs.Truncation.parse(truncation));
        }
        Path dir = TrainSetup.resolveModel(model);
        CostModel cm = TrainSetup.loadBase(dir, precision);
        return SafetyModel.of(GptNeoCostModel.forInference(cm, adapter), TrainSetup.tokenizer(dir), maxLength)
                .withTruncation(CostInputs.Truncation.parse(truncation));
    }

    /** What is served: the model card's summary for a pipeline output, else the paths. */
    String describe() throws Exception {
        JsonNode card = Files.isDirectory(Path.of(model)) ? ModelCard.read(Path.of(model)) : null;
        if (card != null) return card.path("summary").asText();
        return model + (adapter == null ? "" : " + " + adapter);
    }
}
