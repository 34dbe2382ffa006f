package io.gptneo.cli;

import io.gptneo.lora.MergedExport;
import io.gptneo.train.TrainSetup;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ./gptneo export --model BASE --adapter DIR --out OUT [--dtype bf16|f16|f32]}: one merged, standalone HF folder. */
@Command(
        name = "export",
        mixinStandardHelpOptions = true,
        description = {
            "Merges a PEFT LoRA adapter into its base model and writes a standalone HuggingFace folder:",
            "GPTNeoForSequenceClassification config (num_labels 1, pad_token_id), score.weight, model.safetensors",
            "(sharded above --max-shard-bytes) and the tokenizer files. It also loads as a plain GPT-Neo."
        })
public final class ExportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(
            names = "--model",
            required = true,
            paramLabel = "DIR|HUB_ID",
            description = "Base GPT-Neo model directory or Hub id.")
    String model;

    @Option(
            names = "--adapter",
            required = true,
            paramLabel = "DIR",
            description = "PEFT adapter folder (adapter_config.json, adapter_model.safetensors).")
    Path adapter;

    @Option(
            names = "--out",
            required = true,
            paramLabel = "DIR",
            description = "Output folder (must not exist or be empty).")
    Path out;

    @Option(
            names = "--dtype",
            paramLabel = "bf16|f16|f32",
            defaultValue = "f32",
            description = "Weight type (default ${DEFAULT-VALUE}).")
    String dtype;

    @Option(
            names = "--max-shard-bytes",
            paramLabel = "N",
            defaultValue = "" + MergedExport.DEFAULT_SHARD_BYTES,
            description = "Largest safetensors file before the weights are sharded (default ${DEFAULT-VALUE}).")
    long maxShardBytes;

    @Override
    public Integer call() throws Exception {
        Path base = TrainSetup.resolveModel(model);
        List<String> files = MergedExport.export(base, adapter, out, MergedExport.parseDtype(dtype), maxShardBytes);
        spec.commandLine()
                .getOut()
                .printf("exported %s + %s to %s: %s%n", model, adapter, out, String.join(", ", files));
        return 0;
    }
}
