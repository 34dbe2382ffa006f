package io.gptneo.cli;

import java.util.List;
import picocli.CommandLine.Option;

/**
 * Training flags (a public contract). Every field is boxed and null unless given, so that only flags on the command
 * line override the {@code --config} file and the defaults in {@link io.gptneo.train.TrainConfig}; field names
 * match the TrainConfig settings.
 */
public final class TrainOptions {
    @Option(
            names = "--init-adapter",
            paramLabel = "DIR",
            description = "Start from this PEFT adapter (LoRA weights + score head) instead of a fresh one.")
    String initAdapter;

    Boolean shuffle;

    @Option(
            names = "--seed",
            paramLabel = "S",
            description = "Seed of splits, shuffling, response order, init and dropout (default 42).")
    Long seed;

    @Option(
            names = "--skip-invalid",
            description = "Skip invalid data lines (counted in the report) instead of stopping at the first.")
    Boolean skipInvalid;

    @Option(
            names = "--validation-fraction",
            paramLabel = "F",
            description = "Fraction of prompts held out for validation (default 0.1).")
    Double validationFraction;

    @Option(
            names = "--test-fraction",
            paramLabel = "F",
            description = "Fraction of prompts held out for test, never trained on (default 0.1).")
    Double testFraction;

    @Option(names = "--lora-r", paramLabel = "R", description = "LoRA rank (default 8).")
    Integer loraR;

    @Option(names = "--lora-alpha", paramLabel = "A", description = "LoRA alpha; scaling alpha/r (default 16).")
    Double loraAlpha;

    @Option(names = "--lora-dropout", paramLabel = "P", description = "Dropout on the LoRA input (default 0.05).")
    Double loraDropout;

    @Option(
            names = "--targets",
            paramLabel = "M,M",
            split = ",",
            description = "LoRA target modules (default q_proj,v_proj).")
    List<String> targets;

    @Option(names = "--train-base", description = "Train every base weight and the score head (no LoRA).")
    Boolean trainBase;

    @Option(
            names = "--precision",
            paramLabel = "fp32|bf16",
            description =
                    "Base products: fp32 (default) or bf16 (frozen block weights held in bf16, fp32 accumulation; LoRA, head, norms, loss and optimizer fp32).")
    String precision;

    @Option(
            names = "--dropout",
            paramLabel = "P",
            description =
                    "Base-model embedding and residual dropout while training, seeded (default 0, as GPT-Neo's configs).")
    Double dropout;

    @Option(
            names = "--optimizer",
            paramLabel = "adamw|adamw_hf",
            description = "torch AdamW or the older HF AdamW (default adamw).")
    String optimizer;

    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default 1e-5).")
    Double lr;

    @Option(names = "--weight-decay", paramLabel = "WD", description = "Decoupled weight decay (default 0.05).")
    Double weightDecay;

    @Option(names = "--warmup-steps", paramLabel = "N", description = "Linear warmup steps from 0 (default 100).")
    Integer warmupSteps;

    @Option(
            names = "--schedule",
            paramLabel = "cosine|linear|constant",
            description = "Learning-rate schedule after warmup (default cosine).")
    String schedule;

    @Option(names = "--epochs", paramLabel = "N", description = "Passes over the training split (default 2).")
    Integer epochs;

    @Option(names = "--max-steps", paramLabel = "N", description = "Optimizer steps; overrides --epochs.")
    Long maxSteps;

    @Option(
            names = "--batch-size",
            paramLabel = "N",
            description = "Examples (pairs or responses) per batch (default 2).")
    Integer batchSize;

    @Option(names = "--grad-accum", paramLabel = "N", description = "Batches per optimizer step (default 1).")
    Integer gradAccum;

    @Option(
            names = "--max-length",
            paramLabel = "N",
            description = "Tokens per sequence after the template and EOS (default 1024).")
    Integer maxLength;

    @Option(
            names = "--truncation",
            paramLabel = "keep-response|first-tokens",
            description =
                    "Cut of an over-long pair: keep the response and the prompt's end (default), or the first tokens (reproduces the lora-tiny fixture).")
    String truncation;

    @Option(
            names = "--max-grad-norm",
            paramLabel = "X",
            description = "Clip the global gradient norm to X; 0 disables (default 1.0).")
    Double maxGradNorm;

    @Option(names = "--regularization", paramLabel = "L", description = "Add L·mean(cost²) to the loss (default 0).")
    Double regularization;

    Boolean gradientCheckpointing;

    @Option(
            names = "--eval-every",
            paramLabel = "N",
            description = "Validate every N steps; 0 = at each epoch end (default).")
    Long evalEvery;

    @Option(
            names = "--eval-batch-size",
            paramLabel = "N",
            description = "Batch size of validation/evaluation (default 8).")
    Integer evalBatchSize;

    @Option(
            names = "--save-every",
            paramLabel = "N",
            description = "Checkpoint every N steps; 0 = only at the end and on SIGINT/SIGTERM (default 500).")
    Long saveEvery;

    @Option(names = "--keep-checkpoints", paramLabel = "K", description = "Checkpoints kept (newest; default 3).")
    Integer keepCheckpoints;

    @Option(
            names = "--resume",
            paramLabel = "DIR",
            description = "Continue from a checkpoint folder, or the newest checkpoint of a training output.")
    String resume;

    @Option(
            names = "--resume-override",
            paramLabel = "KEY",
            split = ",",
            description =
                    "Settings that --resume may change although they alter the run (e.g. lr,max-steps); recorded in metrics.jsonl.")
    List<String> resumeOverride;

    Boolean progress;

    @Option(
            names = "--length-buckets",
            negatable = true,
            description =
                    "When shuffling, form each batch from rows of similar length, so it pads only to its own longest "
                            + "(default off: plain shuffled batches; on the main job buckets ran 2.2x faster but scored lower on "
                            + "validation). No effect with --no-shuffle.")
    Boolean lengthBuckets;

    @Option(names = "--no-shuffle", description = "Keep file order and response order (no per-epoch shuffling).")
    void noShuffle(boolean on) {
        shuffle = on ? Boolean.FALSE : null;
    }

    @Option(
            names = "--no-gradient-checkpointing",
            description = "Keep activations instead of recomputing them in backward (faster, more memory).")
    void noCheckpointing(boolean on) {
        gradientCheckpointing = on ? Boolean.FALSE : null;
    }

    @Option(names = "--no-progress", description = "Do not draw the progress bar on stderr.")
    void noProgress(boolean on) {
        progress = on ? Boolean.FALSE : null;
    }
}
