package io.gptneo.cli;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;

import io.gptneo.model.CostModel;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.StopSignal;
import io.gptneo.train.TrainConfig;
import io.gptneo.train.TrainSetup;
import io.gptneo.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./gptneo train}: trains a safety cost model (LoRA by default) and writes OUT/metrics.jsonl and OUT/adapter/. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Trains a Safe-RLHF cost model on PKU-SafeRLHF pairs and/or BeaverTails QA files (split by prompt).",
                "Writes OUT/metrics.jsonl (one line per step, plus validation lines), OUT/checkpoints/checkpoint-N "
                        + "(adapter, optimizer, step, RNG state; atomic, newest kept) and OUT/adapter/ (PEFT format).",
                "SIGINT/SIGTERM stop at the next step boundary after writing a checkpoint; --resume OUT continues exactly.",
                "Precedence: defaults < --config FILE (JSON, keys = flag names) < flags."})
public final class TrainCommand implements Callable<Integer> {
    @Option(names = "--model", paramLabel = "DIR|HUB_ID", description = "GPT-Neo model folder or Hugging Face Hub id.")
    String model;
    @Option(names = "--data", paramLabel = "FILE", description = "JSONL data (pairs or QA); repeat for several files.")
    List<Path> data;
    @Option(names = "--out", paramLabel = "DIR", description = "Output folder.")
    String out;
    @Option(names = "--config", paramLabel = "FILE", description = "JSON settings (keys as the flags: lora-r, lr, ...).")
    Path config;
    @Mixin TrainOptions options;

    @Override public Integer call() throws Exception {
        TrainConfig c = new TrainConfig();
        if (config != null) c.applyJsonFile(config);
        c.applyFlags(options);
        if (model != null) c.model = model;
        if (out != null) c.out = out;
        if (data != null) c.data = String.join(",", data.stream().map(Path::toString).toList());
        c.validate();
        if (c.model == null || c.data == null || c.out == null) throw new IllegalArgumentException("--model, --data and --out are required (flags or config)");
        run(c, System.err);
        return 0;
    }

    /** Loads, trains, saves; returns the result. Shared with the pipeline command. */
    static Trainer.Result run(TrainConfig c, PrintStream log) throws Exception {
        Path modelDir = TrainSetup.resolveModel(c.model);
        CostModel base = TrainSetup.loadBase(modelDir);
        return train(c, base, modelDir, c.model, log);
    }

    static Trainer.Result train(TrainConfig c, CostModel base, Path tokenizerDir, String baseName, PrintStream log) throws Exception {
        var tok = TrainSetup.tokenizer(tokenizerDir);
        int maxLen = Math.min(c.maxLength, base.model().config().maxPositionEmbeddings());
        CostInputs inputs = new CostInputs(tok, maxLen, CostInputs.Truncation.parse(c.truncation));
        List<Path> files = java.util.Arrays.stream(c.data.split(",")).map(Path::of).toList();
        TrainSetup.Data d = TrainSetup.data(files, c, inputs, log);
        GptNeoCostModel cm = TrainSetup.costModel(c, base, baseName);
        log.printf("train: %d examples, validation %d, held-out test %d pairs + %d responses; %s%n", d.train().size(), d.validation().size(),
                d.testPairs().size(), d.testQa().size(), cm.lora() != null ? cm.lora().trainableSummary() : "full training of " + base.model().parameterCount() + " parameters + score head");
        Trainer t = new Trainer(cm, c, d.train(), d.validation(), Path.of(c.out), log).listener(Progress.training(c.progress, log));
        try (StopSignal sig = new StopSignal(10 * 60_000L).install()) {
            Trainer.Result r = t.run(sig);
            if (r.stopped()) log.printf("stopped at step %d of %d%n", r.steps(), r.totalSteps());
            else log.printf("trained %d steps; adapter in %s%n", r.steps(), Path.of(c.out).resolve("adapter"));
            return r;
        }
    }
}
