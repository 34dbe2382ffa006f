package io.gptneo;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.lora.PeftAdapter;
import io.gptneo.model.CostModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainSetup;
import io.gptneo.weights.GptNeoWeights;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * A Safe-RLHF safety cost model: GPT-Neo plus a score head (and optionally LoRA adapters) that gives a (prompt,
 * response) pair one number, the cost; {@code cost > 0} means the response is unsafe.
 *
 * <pre>{@code
 * try (SafetyModel model = SafetyModel.load(Path.of("runs/cost-model"))) {   // a ./gptneo train or pipeline output
 *     float cost = model.score("How do I pick a lock?", "I can't help with that.");
 * }
 * }</pre>
 *
 * <p>The text scored is {@code BEGINNING OF CONVERSATION: USER: {prompt} ASSISTANT:{response}} followed by the
 * end-of-text token, cut to {@link #maxLength()} tokens (default: 1024 or the model's positions, the smaller).
 *
 * <p><b>Thread safety:</b> every method may be called from any number of threads. Tokenization runs in the calling
 * thread; the forward passes of concurrent calls run one at a time (an internal lock), each using all cores through
 * OpenBLAS, and record no autodiff tape. For throughput, pass several pairs to {@link #score(List)}.
 */
public final class SafetyModel implements Scorer, AutoCloseable {
    /** Tokens per pair unless the model has fewer positions or {@link #withMaxLength} says otherwise. */
    public static final int DEFAULT_MAX_LENGTH = 1024;

    private final GptNeoCostModel model;
    private final CostInputs inputs;
    private final Object lock;
    private volatile boolean closed;

    private SafetyModel(
            GptNeoCostModel model,
            Gpt2Tokenizer tokenizer,
            int maxLength,
            CostInputs.Truncation truncation,
            Object lock) {
        if (maxLength < 1) throw new GptNeoException("maxLength must be >= 1, got " + maxLength);
        this.model = model;
        this.inputs = new CostInputs(
                tokenizer,
                Math.min(maxLength, model.costModel().model().config().maxPositionEmbeddings()),
                truncation);
        this.lock = lock;
    }

    /**
     * Loads a trained cost model from a folder written by {@code ./gptneo train} or {@code ./gptneo pipeline} (its
     * {@code adapter/} subfolder is used), a PEFT adapter folder whose {@code adapter_config.json} names its base
     * model in {@code base_model_name_or_path}, or a model folder whose weights include {@code score.weight}.
     *
     * @throws GptNeoException when the folder is none of these, or a base model folder has no score head
     * @throws IOException     when a file cannot be read or is malformed, or the base model cannot be found
     */
    public static SafetyModel load(Path folder) throws IOException {
        Path dir = Files.isDirectory(folder.resolve("adapter")) ? folder.resolve("adapter") : folder;
        Path adapterConfig = dir.resolve(PeftAdapter.CONFIG_FILE);
        if (Files.isRegularFile(adapterConfig)) {
            JsonNode base = new ObjectMapper().readTree(adapterConfig.toFile()).path("base_model_name_or_path");
            if (!base.isTextual() || base.textValue().isBlank()) {
                throw new GptNeoException(adapterConfig
                        + ": no base_model_name_or_path; load it with SafetyModel.load(baseModel, adapterFolder)");
            }
            return load(base.textValue(), dir);
        }
        if (!Files.isRegularFile(dir.resolve("config.json"))) {
            throw new GptNeoException(folder + ": not a training output (adapter/), a PEFT adapter ("
                    + PeftAdapter.CONFIG_FILE + ") or a model folder (config.json)");
        }
        GptNeoWeights w = GptNeoWeights.load(dir, DataType.FLOAT);
        if (!w.tensors().containsKey(GptNeoWeights.SCORE)) {
            throw new GptNeoException(
                    dir + ": no " + GptNeoWeights.SCORE + ", so this is a base model, not a trained cost model; "
                            + "load it with SafetyModel.load(baseModel, adapterFolder)");
        }
        return of(
                GptNeoCostModel.forInference(CostModel.fromWeights(w, dir), null),
                TrainSetup.tokenizer(dir),
                DEFAULT_MAX_LENGTH);
    }

    /**
     * Loads a base model (folder or Hub id) with a PEFT adapter folder (LoRA weights and the score head), as
     * {@code ./gptneo train} writes it. With a null adapter the base model's own {@code score.weight} is used, or a
     * seeded random head when it has none (an untrained baseline).
     *
     * @throws IOException when a file cannot be read or is malformed, or the base model cannot be found
     */
    public static SafetyModel load(String baseModel, Path adapter) throws IOException {
        Path dir = TrainSetup.resolveModel(baseModel);
        return of(
                GptNeoCostModel.forInference(TrainSetup.loadBase(dir), adapter),
                TrainSetup.tokenizer(dir),
                DEFAULT_MAX_LENGTH);
    }

    /** As {@link #load(String, Path)} with a base model folder. */
    public static SafetyModel load(Path baseModel, Path adapter) throws IOException {
        return load(baseModel.toString(), adapter);
    }

    /** Wraps a cost model held in memory (e.g. just trained) with its tokenizer, keeping {@code maxLength} tokens per pair. */
    public static SafetyModel of(GptNeoCostModel model, Gpt2Tokenizer tokenizer, int maxLength) {
        return new SafetyModel(model, tokenizer, maxLength, CostInputs.Truncation.KEEP_RESPONSE, new Object());
    }

    /** A builder that trains a cost model: {@code SafetyModel.trainer().baseModel(..).data(..).output(..).train()}. */
    public static SafetyTrainer trainer() {
        return new SafetyTrainer();
    }

    /** The same model (same weights, same lock) keeping at most {@code maxLength} tokens per pair. */
    public SafetyModel withMaxLength(int maxLength) {
        return new SafetyModel(model, tokenizerOf(), maxLength, inputs.truncation(), lock);
    }

    /**
     * The same model (same weights, same lock) cutting over-long pairs as {@code truncation} says. The default,
     * {@link CostInputs.Truncation#KEEP_RESPONSE}, keeps the response whole (or its end) and cuts the prompt from its
     * start, so a stuffed prompt cannot push the judged response out of the window; {@code FIRST_TOKENS} (the first
     * {@code maxLength} tokens) exists only to reproduce fixtures computed that way.
     */
    public SafetyModel withTruncation(CostInputs.Truncation truncation) {
        return new SafetyModel(model, tokenizerOf(), inputs.maxLen(), truncation, lock);
    }

    /** Tokens kept per pair (the model's positions at most). */
    public int maxLength() {
        return inputs.maxLen();
    }

    /**
     * The cost of one response to one prompt; {@code > 0} means unsafe.
     *
     * @throws NonFiniteCostException when the model produces a non-finite cost (never reported as safe)
     */
    public float score(String prompt, String response) {
        return score(List.of(new PromptResponse(prompt, response)))[0];
    }

    /**
     * Costs of a batch of pairs, in order, from one forward pass over the right-padded batch.
     *
     * @throws NonFiniteCostException when the model produces a non-finite cost (never reported as safe)
     */
    @Override
    public float[] score(List<PromptResponse> batch) {
        if (batch.isEmpty()) return new float[0];
        List<int[]> seqs =
                batch.stream().map(p -> inputs.encode(p.prompt(), p.response())).toList();
        CostInputs.Batch b = CostInputs.pad(seqs);
        float[] c;
        synchronized (lock) {
            if (closed) throw new IllegalStateException("this SafetyModel is closed");
            try (var off = GradMode.off()) {
                c = model.costs(b.ids(), b.mask()).data().castTo(DataType.FLOAT).toFloatVector();
            }
        }
        return NonFiniteCostException.check(c);
    }

    /** Tokens of this pair as {@link #score(List)} feeds it (for length-bucketed batching). */
    @Override
    public int tokens(PromptResponse row) {
        return inputs.encode(row.prompt(), row.response()).length;
    }

    /** Whether each pair is longer than {@link #maxLength()}, so that its prompt is cut (see {@link #withTruncation}). */
    @Override
    public boolean[] truncated(List<PromptResponse> batch) {
        boolean[] t = new boolean[batch.size()];
        for (int i = 0; i < t.length; i++)
            t[i] = inputs.encodeChecked(batch.get(i).prompt(), batch.get(i).response())
                    .truncated();
        return t;
    }

    /** The verdict (cost and unsafe flag) for one pair. */
    public Verdict verdict(String prompt, String response) {
        return Verdict.of(score(prompt, response));
    }

    /** The low-level cost model (autodiff costs of token ids, LoRA, score head); not guarded by this object's lock. */
    public GptNeoCostModel costModel() {
        return model;
    }

    /** Marks this model closed; later calls throw {@link IllegalStateException}. Memory goes with the garbage collector. */
    @Override
    public void close() {
        closed = true;
    }

    private Gpt2Tokenizer tokenizerOf() {
        return inputs.tokenizer();
    }
}
