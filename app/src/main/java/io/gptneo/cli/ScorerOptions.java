package io.gptneo.cli;

import java.nio.file.Path;

import com.fasterxml.jackson.databind.JsonNode;

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

    /** A pipeline output folder ({@code ./gptneo pipeline --out DIR}) is read through its model card. */
    GptNeoCostModel load() throws Exception {
        Path dir = TrainSetup.resolveModel(model);
        Path adapterDir = adapter;
        JsonNode card = ModelCard.read(dir);
        if (card != null) {
            Path weights = dir.resolve(card.get("weights").asText());
            if (card.path("base_model").isTextual()) {
                if (adapterDir == null) adapterDir = weights;
                dir = TrainSetup.resolveModel(card.get("base_model").asText());
            } else {
                dir = weights;
            }
        }
        CostModel cm = TrainSetup.loadBase(dir);
        return GptNeoCostModel.forInference(cm, adapterDir).withInputs(TrainSetup.tokenizer(dir), maxLength);
    }

    /** What is served: the model card's summary for a pipeline output, else the paths. */
    String describe() throws Exception {
        JsonNode card = java.nio.file.Files.isDirectory(Path.of(model)) ? ModelCard.read(Path.of(model)) : null;
        if (card != null) return card.path("summary").asText();
        return model + (adapter == null ? "" : " + " + adapter);
    }
}
