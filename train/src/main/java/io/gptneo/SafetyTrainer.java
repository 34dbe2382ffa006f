package io.gptneo;

import io.gptneo.model.CostModel;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.StopSignal;
import io.gptneo.train.TrainConfig;
import io.gptneo.train.TrainSetup;
import io.gptneo.train.Trainer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * Trains a safety cost model: one builder chain from data files to a saved model. Created by
 * {@link SafetyModel#trainer()}; every setting has the default of {@code ./gptneo train} (the Safe-RLHF recipe with
 * LoRA r 8, alpha 16 on q_proj and v_proj plus the score head, AdamW lr 1e-5, 100 warmup steps, cosine schedule,
 * 2 epochs of batch 2, 1024 tokens).
 *
 * <pre>{@code
 * TrainingResult r = SafetyModel.trainer()
 *         .baseModel(Path.of("../shared/fixtures/gptneo-tiny"))
 *         .data(Path.of("../shared/data/pku_saferlhf_pairs.jsonl"))
 *         .lora(8, 16, 0.05, "q_proj", "v_proj")
 *         .learningRate(1e-4).warmup(10).maxSteps(50).batchSize(4).maxLength(128).seed(42)
 *         .output(Path.of("runs/cost-model"))
 *         .onProgress(s -> System.out.printf("step %d loss %.4f%n", s.step(), s.loss()))
 *         .train();
 * }</pre>
 *
 * <p>Each data file (PKU-SafeRLHF pairs or BeaverTails QA, JSONL) is split by prompt into train, validation and test
 * parts; the test part is never trained on. The output folder receives {@code metrics.jsonl}, checkpoints and
 * {@code adapter/}. A builder is used from one thread.
 */
public final class SafetyTrainer {
    private TrainConfig config = new TrainConfig();
    private CostModel base;
    private Path tokenizerFolder;
    private String baseName;
    private TrainingListener listener = TrainingListener.NONE;
    private PrintStream log = new PrintStream(OutputStream.nullOutputStream());
    private boolean stopOnSignal;

    SafetyTrainer() {}

    /** The base model: a GPT-Neo folder or Hugging Face Hub id (its {@code score.weight} is used when present). */
    public SafetyTrainer baseModel(String folderOrHubId) {
        config.model = folderOrHubId;
        base = null;
        return this;
    }

    /** The base model folder. */
    public SafetyTrainer baseModel(Path folder) {
        return baseModel(folder.toString());
    }

    /**
     * A base model held in memory (e.g. {@code new CostModel(GptNeoModel.random(...), head)}); its tokenizer comes
     * from {@code tokenizerFolder} (null: the shared GPT-2 tokenizer), and {@code name} (may be null) is recorded as
     * {@code base_model_name_or_path} of a LoRA adapter. The model is trained in place.
     */
    public SafetyTrainer baseModel(CostModel model, Path tokenizerFolder, String name) {
        this.base = model;
        this.tokenizerFolder = tokenizerFolder;
        this.baseName = name;
        config.model = null;
        return this;
    }

    /** The data files: PKU-SafeRLHF pair and/or BeaverTails QA JSONL files. */
    public SafetyTrainer data(Path... files) {
        config.data = String.join(",", Arrays.stream(files).map(Path::toString).toList());
        return this;
    }

    /** LoRA with rank {@code r}, scaling {@code alpha / r} and {@code dropout} on the given modules (e.g. q_proj, v_proj). */
    public SafetyTrainer lora(int r, double alpha, double dropout, String... targetModules) {
        config.trainBase = false;
        config.loraR = r;
        config.loraAlpha = alpha;
        config.loraDropout = dropout;
        if (targetModules.length > 0) config.targets = List.of(targetModules);
        return this;
    }

    /** Trains every base weight and the score head instead of LoRA adapters. */
    public SafetyTrainer fullTraining() {
        config.trainBase = true;
        return this;
    }

    /** Starts LoRA from this PEFT adapter folder (weights and score head) instead of a fresh one. */
    public SafetyTrainer initAdapter(Path folder) {
        config.initAdapter = folder.toString();
        return this;
    }

    /** {@code adamw} (as torch, the default) or {@code adamw_hf} (the older Hugging Face AdamW). */
    public SafetyTrainer optimizer(String name) {
        config.optimizer = name;
        return this;
    }

    /** The peak learning rate. */
    public SafetyTrainer learningRate(double lr) {
        config.lr = lr;
        return this;
    }

    /** Decoupled weight decay. */
    public SafetyTrainer weightDecay(double wd) {
        config.weightDecay = wd;
        return this;
    }

    /** Linear warmup from 0 over this many optimizer steps. */
    public SafetyTrainer warmup(int steps) {
        config.warmupSteps = steps;
        return this;
    }

    /** The learning-rate schedule after warmup: {@code cosine}, {@code linear} or {@code constant}. */
    public SafetyTrainer schedule(String name) {
        config.schedule = name;
        return this;
    }

    /** Clips the global gradient norm to this value; 0 disables clipping. */
    public SafetyTrainer maxGradNorm(double norm) {
        config.maxGradNorm = norm;
        return this;
    }

    /** Passes over the training split. */
    public SafetyTrainer epochs(int epochs) {
        config.epochs = epochs;
        return this;
    }

    /** A fixed number of optimizer steps (overrides {@link #epochs}). */
    public SafetyTrainer maxSteps(long steps) {
        config.maxSteps = steps;
        return this;
    }

    /** Examples (pairs or single responses) per batch. */
    public SafetyTrainer batchSize(int n) {
        config.batchSize = n;
        return this;
    }

    /** Batches per optimizer step. */
    public SafetyTrainer gradAccum(int n) {
        config.gradAccum = n;
        return this;
    }

    /** Tokens per sequence after the template and the end-of-text token (capped by the model's positions). */
    public SafetyTrainer maxLength(int tokens) {
        config.maxLength = tokens;
        return this;
    }

    /**
     * How a pair longer than {@link #maxLength} is cut: {@code KEEP_RESPONSE} (default) cuts the prompt from its start
     * so the judged response stays in the window; {@code FIRST_TOKENS} keeps the first tokens (only to reproduce
     * fixtures computed that way).
     */
    public SafetyTrainer truncation(CostInputs.Truncation truncation) {
        config.truncation = truncation == CostInputs.Truncation.FIRST_TOKENS ? "first-tokens" : "keep-response";
        return this;
    }

    /** Seed of the splits, shuffling, response order, initialisation and dropout. */
    public SafetyTrainer seed(long seed) {
        config.seed = seed;
        return this;
    }

    /** Fractions of prompts held out for validation and for test. */
    public SafetyTrainer split(double validationFraction, double testFraction) {
        config.validationFraction = validationFraction;
        config.testFraction = testFraction;
        return this;
    }

    /** Shuffle the examples and their response order every epoch (the default), or keep file order. */
    public SafetyTrainer shuffle(boolean on) {
        config.shuffle = on;
        return this;
    }

    /**
     * When shuffling, form each batch from examples of similar length so that it pads only to its own longest (the
     * default); off: plain shuffled batches. File order (shuffle off) is never reordered.
     */
    public SafetyTrainer lengthBuckets(boolean on) {
        config.lengthBuckets = on;
        return this;
    }

    /** Recompute activations in backward (less memory, the default) or keep them (faster). */
    public SafetyTrainer gradientCheckpointing(boolean on) {
        config.gradientCheckpointing = on;
        return this;
    }

    /** The output folder. */
    public SafetyTrainer output(Path folder) {
        config.out = folder.toString();
        return this;
    }

    /** Continues from a checkpoint folder, or the newest checkpoint of an earlier run's output folder. */
    public SafetyTrainer resume(Path checkpointOrOutput) {
        config.resume = checkpointOrOutput.toString();
        return this;
    }

    /** Receives every optimizer step and validation pass. */
    public SafetyTrainer onProgress(TrainingListener l) {
        this.listener = l == null ? TrainingListener.NONE : l;
        return this;
    }

    /** Where to print a line per notable event (data skipped, validation, resume); default: nowhere. */
    public SafetyTrainer log(PrintStream out) {
        this.log = out;
        return this;
    }

    /**
     * On SIGINT/SIGTERM, finish the current step, write a checkpoint and only then let the JVM exit (installs a
     * shutdown hook for the run; off by default, the command line turns it on).
     */
    public SafetyTrainer stopOnSignal(boolean on) {
        this.stopOnSignal = on;
        return this;
    }

    /**
     * Uses {@code settings} (every setting, as the command line's flags and {@code --config} file fill it) as this
     * builder's settings; later builder calls change that object.
     */
    public SafetyTrainer settings(TrainConfig settings) {
        this.config = settings;
        return this;
    }

    /**
     * Reads and splits the data, trains, writes the output folder and returns the metrics.
     *
     * @throws GptNeoException when a setting is missing or out of range, or a data line is invalid
     * @throws IOException     when a file cannot be read or written, or the base model cannot be found
     */
    public TrainingResult train() throws IOException {
        TrainConfig c = config;
        if (c.model == null && base == null) throw new GptNeoException("no base model: call baseModel(...) (--model)");
        if (c.data == null) throw new GptNeoException("no data: call data(...) (--data)");
        if (c.out == null) throw new GptNeoException("no output folder: call output(...) (--out)");
        c.validate();
        CostModel model = base;
        Path tokDir = tokenizerFolder;
        String name = baseName;
        if (model == null) {
            tokDir = TrainSetup.resolveModel(c.model);
            model = TrainSetup.loadBase(tokDir, c.precision); // bf16: block weights read straight into bf16
            name = c.model;
        }
        CostInputs inputs = new CostInputs(
                TrainSetup.tokenizer(tokDir),
                Math.min(c.maxLength, model.model().config().maxPositionEmbeddings()),
                CostInputs.Truncation.parse(c.truncation));
        List<Path> files = Arrays.stream(c.data.split(",")).map(Path::of).toList();
        TrainSetup.Data d = TrainSetup.data(files, c, inputs, log);
        GptNeoCostModel cm = TrainSetup.costModel(c, model, name);
        log.printf(
                "train: %d examples, validation %d, held-out test %d pairs + %d responses; %s%n",
                d.train().size(),
                d.validation().size(),
                d.testPairs().size(),
                d.testQa().size(),
                cm.lora() != null
                        ? cm.lora().trainableSummary()
                        : "full training of " + model.model().parameterCount() + " parameters + score head");
        LastValidation last = new LastValidation(listener);
        Trainer t = new Trainer(cm, c, d.train(), d.validation(), Path.of(c.out), log).listener(last);
        Trainer.Result r;
        try (StopSignal sig = stopOnSignal ? new StopSignal(10 * 60_000L).install() : null) {
            r = t.run(sig);
        }
        if (r.stopped()) log.printf("stopped at step %d of %d%n", r.steps(), r.totalSteps());
        else
            log.printf(
                    "trained %d steps; adapter in %s%n",
                    r.steps(), Path.of(c.out).resolve("adapter"));
        return new TrainingResult(
                r.steps(), r.totalSteps(), r.stopped(), r.lastLoss(), last.metrics, r.throughput(), Path.of(c.out));
    }

    /** Passes every event on and keeps the last validation metrics. */
    private static final class LastValidation implements TrainingListener {
        private final TrainingListener next;
        private Map<String, Object> metrics = Map.of();

        LastValidation(TrainingListener next) {
            this.next = next;
        }

        @Override
        public void onStep(TrainingStep s) {
            next.onStep(s);
        }

        @Override
        public void onStart(long step, long totalSteps) {
            next.onStart(step, totalSteps);
        }

        @Override
        public void onValidation(long step, Map<String, Object> m) {
            metrics = Map.copyOf(m);
            next.onValidation(step, m);
        }

        @Override
        public void onEnd() {
            next.onEnd();
        }
    }
}
