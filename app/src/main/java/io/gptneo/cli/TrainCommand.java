package io.gptneo.cli;

import io.gptneo.SafetyModel;
import io.gptneo.SafetyTrainer;
import io.gptneo.TrainingResult;
import io.gptneo.model.CostModel;
import io.gptneo.train.TrainConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./gptneo train}: trains a safety cost model (LoRA by default) and writes OUT/metrics.jsonl and OUT/adapter/. */
@Command(
        name = "train",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Trains a Safe-RLHF cost model on PKU-SafeRLHF pairs and/or BeaverTails QA files (split by prompt).",
            "Writes OUT/metrics.jsonl (one line per step, plus validation lines), OUT/checkpoints/checkpoint-N "
                    + "(adapter, optimizer, step, RNG state; atomic, newest kept) and OUT/adapter/ (PEFT format).",
            "SIGINT/SIGTERM stop at the next step boundary after writing a checkpoint; --resume OUT continues exactly.",
            "Precedence: defaults < --config FILE (JSON, keys = flag names) < flags."
        })
public final class TrainCommand implements Callable<Integer> {
    @Option(
            names = "--model",
            paramLabel = "DIR|HUB_ID",
            description =
                    "Required (here or in --config). GPT-Neo model folder or Hugging Face Hub id (org/name[@revision]).")
    String model;

    @Option(
            names = "--data",
            paramLabel = "FILE",
            description =
                    "Required (here or in --config). A JSONL data file (PKU-SafeRLHF pairs or BeaverTails QA); repeat the flag for several files.")
    List<Path> data;

    @Option(names = "--out", paramLabel = "DIR", description = "Required (here or in --config). The output folder.")
    String out;

    @Option(
            names = "--config",
            paramLabel = "FILE",
            description = "A JSON file of settings whose keys are the flag names (lora-r, lr, ...); flags override it.")
    Path config;

    @Mixin
    TrainOptions options;

    @Override
    public Integer call() throws Exception {
        TrainConfig c = new TrainConfig();
        if (config != null) c.applyJsonFile(config);
        c.applyFlags(options);
        if (model != null) c.model = model;
        if (out != null) c.out = out;
        if (data != null)
            c.data = String.join(",", data.stream().map(Path::toString).toList());
        c.validate();
        if (c.model == null || c.data == null || c.out == null)
            throw new IllegalArgumentException("--model, --data and --out are required (flags or config)");
        run(c, System.err);
        return 0;
    }

    /** Loads, trains, saves; returns the result. Shared with the pipeline command. */
    static TrainingResult run(TrainConfig c, PrintStream log) throws IOException {
        return train(c, null, null, null, log);
    }

    /** Trains {@code base} (null: load {@code c.model}) through the same builder a Java user calls. */
    static TrainingResult train(TrainConfig c, CostModel base, Path tokenizerDir, String baseName, PrintStream log)
            throws IOException {
        SafetyTrainer t = SafetyModel.trainer()
                .settings(c)
                .log(log)
                .onProgress(Progress.training(c.progress, log))
                .stopOnSignal(true);
        if (base != null) t.baseModel(base, tokenizerDir, baseName);
        return t.train();
    }
}
