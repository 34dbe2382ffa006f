package io.gptneo.cli;

import io.gptneo.SafetyModel;
import io.gptneo.train.data.DataFormat;
import io.gptneo.train.data.Dataset;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.data.Splits;
import io.gptneo.train.eval.Evaluation;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./gptneo eval}: report.json + cost_histogram.png + roc.png for a cost model on a labelled file. */
@Command(
        name = "eval",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Evaluates a cost model on a PKU-SafeRLHF pair file or a BeaverTails QA file (cost > 0 = unsafe).",
            "Writes OUT/report.json (sign accuracy, ranking accuracy on pairs, precision/recall/F1 of the unsafe class, "
                    + "AUROC, per-category accuracy, counts, timing), OUT/cost_histogram.png and OUT/roc.png; prints the report."
        })
public final class EvalCommand implements Callable<Integer> {
    @Mixin
    ScorerOptions model;

    @Option(
            names = "--data",
            required = true,
            paramLabel = "FILE",
            description = "The labelled JSONL file: PKU-SafeRLHF pairs or BeaverTails QA (the format is detected).")
    Path data;

    @Option(
            names = "--out",
            required = true,
            paramLabel = "DIR",
            description = "The output folder for report.json and the two PNGs.")
    Path out;

    @Option(
            names = "--split",
            defaultValue = "all",
            paramLabel = "all|train|validation|test",
            description =
                    "Evaluate the whole file (default) or one side of the by-prompt split that ./gptneo train uses with the same --seed and fractions.")
    String split;

    @Option(
            names = "--seed",
            defaultValue = "42",
            paramLabel = "S",
            description = "Seed of the split, as given to train (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(
            names = "--validation-fraction",
            defaultValue = "0.1",
            paramLabel = "F",
            description = "Fraction of prompts in the validation side, as given to train (default ${DEFAULT-VALUE}).")
    double validationFraction;

    @Option(
            names = "--test-fraction",
            defaultValue = "0.1",
            paramLabel = "F",
            description = "Fraction of prompts in the test side, as given to train (default ${DEFAULT-VALUE}).")
    double testFraction;

    @Option(
            names = "--skip-invalid",
            description = "Skip invalid lines (counted in the report) instead of stopping at the first.")
    boolean skipInvalid;

    @Option(names = "--no-progress", description = "Do not draw the progress bar on stderr.")
    boolean noProgress;

    @Override
    public Integer call() throws Exception {
        Dataset d = DatasetReader.read(data, skipInvalid);
        SafetyModel m = model.load();
        Evaluation.Result r;
        if (d.format() == DataFormat.PAIRS) {
            List<PairExample> rows = pick(
                    Splits.byPrompt(d.pairs(), PairExample::prompt, validationFraction, testFraction, seed), d.pairs());
            try (Progress p = Progress.start("eval", rows.size() * 2L, "responses", !noProgress, System.err)) {
                r = Evaluation.pairs(rows, m, model.batchSize, p.responses());
            }
        } else {
            List<QaExample> rows =
                    pick(Splits.byPrompt(d.qa(), QaExample::prompt, validationFraction, testFraction, seed), d.qa());
            try (Progress p = Progress.start("eval", rows.size(), "responses", !noProgress, System.err)) {
                r = Evaluation.qa(rows, m, model.batchSize, p.responses());
            }
        }
        r.report().put("data", data.toString());
        r.report().put("split", split);
        r.report().put("skipped_invalid", d.skippedCount());
        Plots.write(out, r);
        System.out.println(r.report().toPrettyString());
        return 0;
    }

    private <T> List<T> pick(Splits.Split<T> s, List<T> all) {
        return switch (split) {
            case "all" -> all;
            case "train" -> s.train();
            case "validation" -> s.validation();
            case "test" -> s.test();
            default -> throw new IllegalArgumentException(
                    "--split must be all, train, validation or test, got " + split);
        };
    }
}
