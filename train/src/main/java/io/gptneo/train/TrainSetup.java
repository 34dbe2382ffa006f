package io.gptneo.train;

import io.gptneo.lora.LoraConfig;
import io.gptneo.lora.PeftAdapter;
import io.gptneo.model.CostModel;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.data.DataFormat;
import io.gptneo.train.data.Dataset;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.data.Splits;
import io.gptneo.weights.ModelResolver;
import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;

/** Builds what a training run needs from a {@link TrainConfig}: model, tokenizer, split and tokenized data. */
public final class TrainSetup {
    private TrainSetup() {}

    /** The train/validation/test rows of one or more data files, split by prompt. */
    public record Data(
            List<TrainItem> train,
            List<TrainItem> validation,
            List<PairExample> testPairs,
            List<QaExample> testQa,
            int skipped,
            List<String> skippedMessages) {}

    /** A model folder for {@code --model DIR|HUB_ID}. */
    public static Path resolveModel(String model) throws IOException {
        Path p = Path.of(model);
        if (Files.isDirectory(p)) return p;
        return ModelResolver.resolveModel(model);
    }

    /** The model folder's tokenizer when it has one, else the shared GPT-2 tokenizer (GPT-Neo uses exactly it). */
    public static Gpt2Tokenizer tokenizer(Path modelDir) {
        if (modelDir != null
                && (Files.exists(modelDir.resolve("tokenizer.json")) || Files.exists(modelDir.resolve("vocab.json")))) {
            return Gpt2Tokenizer.load(modelDir);
        }
        return Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
    }

    /** LoRA from the flags, or the init adapter's config with the flags' dropout (r, alpha and targets must fit its weights). */
    public static LoraConfig loraConfig(TrainConfig c) throws IOException {
        if (c.initAdapter != null)
            return PeftAdapter.readConfig(Path.of(c.initAdapter)).withDropout(c.loraDropout);
        return new LoraConfig(
                c.loraR,
                c.loraAlpha,
                c.loraDropout,
                c.targets,
                false,
                LoraConfig.Init.KAIMING_UNIFORM,
                List.of("score"));
    }

    /** The cost model a config trains: LoRA on a loaded/given base, or the base in full with --train-base. */
    public static GptNeoCostModel costModel(TrainConfig c, CostModel base, String baseName) throws IOException {
        withPrecision(base, c.precision);
        base.model().setGradientCheckpointing(c.gradientCheckpointing);
        base.model().setDropout(c.dropout, c.dropout);
        if (c.trainBase) return GptNeoCostModel.full(base, baseName);
        return GptNeoCostModel.withLora(
                base, loraConfig(c), c.initAdapter == null ? null : Path.of(c.initAdapter), c.seed, baseName);
    }

    /** A model folder as a cost model (its score.weight, or a fresh normal(0, 0.02) head). */
    public static CostModel loadBase(Path dir) throws IOException {
        return CostModel.load(dir, DataType.FLOAT);
    }

    /**
     * A model folder as a cost model in a {@code --precision}: bf16 reads the block weights straight into bf16
     * ({@link CostModel#loadBf16Base}: no float32 copy of them at the memory peak), fp32 as {@link #loadBase(Path)}.
     */
    public static CostModel loadBase(Path dir, String precision) throws IOException {
        return withPrecision(precision.equals("bf16") ? CostModel.loadBf16Base(dir) : loadBase(dir), precision);
    }

    /** {@code --precision}: fp32 leaves the model as it is; bf16 holds its frozen block weights in bf16 ({@code GptNeoModel.holdBaseInBf16}). */
    public static CostModel withPrecision(CostModel m, String precision) {
        switch (precision) {
            case "fp32" -> {}
            case "bf16" -> m.model().holdBaseInBf16();
            default -> throw new IllegalArgumentException("--precision must be fp32 or bf16, got " + precision);
        }
        return m;
    }

    /**
     * Reads every file, splits each by prompt with the config's fractions and seed, and tokenizes the train and
     * validation rows. Prompts held out (validation/test) in any file are removed from every file's training rows,
     * so a prompt that appears in two files cannot leak.
     */
    public static Data data(List<Path> files, TrainConfig c, CostInputs inputs, PrintStream log) {
        List<Splits.Split<PairExample>> ps = new ArrayList<>();
        List<Splits.Split<QaExample>> qs = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        for (Path f : files) {
            Dataset d = DatasetReader.read(f, c.skipInvalid);
            skipped.addAll(d.skipped());
            if (d.skippedCount() > 0)
                log.printf(
                        "%s: skipped %d invalid line(s), first: %s%n",
                        f, d.skippedCount(), d.skipped().get(0));
            if (d.format() == DataFormat.PAIRS)
                ps.add(Splits.byPrompt(d.pairs(), PairExample::prompt, c.validationFraction, c.testFraction, c.seed));
            else qs.add(Splits.byPrompt(d.qa(), QaExample::prompt, c.validationFraction, c.testFraction, c.seed));
        }
        Set<String> heldOut = new HashSet<>();
        for (var s : ps) {
            s.validation().forEach(p -> heldOut.add(p.prompt()));
            s.test().forEach(p -> heldOut.add(p.prompt()));
        }
        for (var s : qs) {
            s.validation().forEach(p -> heldOut.add(p.prompt()));
            s.test().forEach(p -> heldOut.add(p.prompt()));
        }
        List<TrainItem> train = new ArrayList<>(), val = new ArrayList<>();
        List<PairExample> testPairs = new ArrayList<>();
        List<QaExample> testQa = new ArrayList<>();
        for (var s : ps) {
            for (PairExample p : s.train()) if (!heldOut.contains(p.prompt())) train.add(TrainItem.of(p, inputs));
            for (PairExample p : s.validation()) val.add(TrainItem.of(p, inputs));
            testPairs.addAll(s.test());
        }
        for (var s : qs) {
            for (QaExample q : s.train()) if (!heldOut.contains(q.prompt())) train.add(TrainItem.of(q, inputs));
            for (QaExample q : s.validation()) val.add(TrainItem.of(q, inputs));
            testQa.addAll(s.test());
        }
        if (train.isEmpty()) {
            throw new IllegalArgumentException(
                    "no training examples in " + files + " (" + (val.size() + testPairs.size() + testQa.size())
                            + " rows held out for validation/test, " + skipped.size() + " invalid lines skipped)");
        }
        return new Data(train, val, testPairs, testQa, skipped.size(), skipped);
    }
}
