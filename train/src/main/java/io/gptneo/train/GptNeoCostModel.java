package io.gptneo.train;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

import io.gptneo.lora.LoraConfig;
import io.gptneo.lora.LoraModel;
import io.gptneo.lora.PeftAdapter;
import io.gptneo.model.CostModel;
import io.gptneo.model.ScoreHead;
import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.weights.SafeTensorsWriter;

/**
 * A {@link CostModel} (GPT-Neo + score head) as the training loop and the scorers see it. Trained either through
 * LoRA (adapters + score head, saved as a PEFT folder) or in full ({@code --train-base}: every base tensor + score
 * head, saved as a model folder whose {@code model.safetensors} includes {@code score.weight}).
 */
public final class GptNeoCostModel implements TrainableCostModel, Scorer {
    private final CostModel model;
    private final LoraModel lora;          // null when training in full or scoring a full model
    private final boolean fullTraining;
    private final String baseName;
    private CostInputs inputs;

    private GptNeoCostModel(CostModel model, LoraModel lora, boolean fullTraining, String baseName) {
        this.model = model;
        this.lora = lora;
        this.fullTraining = fullTraining;
        this.baseName = baseName;
    }

    /** LoRA training: adapters from {@code cfg} ("score" saved), optionally initialised from a PEFT folder. */
    public static GptNeoCostModel withLora(CostModel model, LoraConfig cfg, Path initAdapter, long seed, String baseName) throws IOException {
        LoraConfig c = cfg.modulesToSave().contains("score") ? cfg
                : new LoraConfig(cfg.r(), cfg.alpha(), cfg.dropout(), cfg.targetModules(), cfg.useRsLora(), cfg.init(), List.of("score"));
        LoraModel lora = LoraModel.inject(model, c, seed);
        if (initAdapter != null) PeftAdapter.loadWeights(initAdapter, lora);
        return new GptNeoCostModel(model, lora, false, baseName);
    }

    /** Full training of every base tensor and the score head. */
    public static GptNeoCostModel full(CostModel model, String baseName) {
        model.model().setTrainable(true);
        model.head().setTrainable(true);
        return new GptNeoCostModel(model, null, true, baseName);
    }

    /** For scoring: with an adapter folder (LoRA + score head), or the model's own score head. */
    public static GptNeoCostModel forInference(CostModel model, Path adapter) throws IOException {
        if (adapter == null) return new GptNeoCostModel(model, null, false, null);
        LoraModel lora = PeftAdapter.load(adapter, model);
        lora.setTraining(false);
        return new GptNeoCostModel(model, lora, false, null);
    }

    public CostModel costModel() { return model; }

    public LoraModel lora() { return lora; }

    /** Tokenization for {@link #score(List)}. */
    public GptNeoCostModel withInputs(Gpt2Tokenizer tok, int maxLength) {
        this.inputs = new CostInputs(tok, Math.min(maxLength, model.model().config().maxPositionEmbeddings()));
        return this;
    }

    @Override public Tensor costs(int[][] ids, int[][] mask) { return model.costs(ids, mask); }

    @Override public Map<String, Tensor> trainable() {
        if (lora != null) return lora.namedTrainable();
        if (!fullTraining) return Map.of();
        return new LinkedHashMap<>(model.parameters()); // body + score.weight
    }

    @Override public void setTraining(boolean on) {
        if (lora != null) lora.setTraining(on);
        model.model().setTraining(on);
    }

    @Override public void setStepSeed(long seed) {
        if (lora != null) lora.setStepSeed(seed);
        model.model().setStepSeed(seed);
    }

    @Override public void save(Path dir) throws IOException {
        if (lora != null) {
            PeftAdapter.save(dir, lora, model.head(), baseName);
            return;
        }
        if (!fullTraining) throw new IllegalStateException("nothing trained to save");
        Files.createDirectories(dir);
        Map<String, INDArray> w = new LinkedHashMap<>();
        model.parameters().forEach((k, v) -> w.put(k, v.data()));
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), w, Map.of("format", "pt"));
        model.model().config().save(dir.resolve("config.json"));
    }

    /** Costs of (prompt, response) rows, no tape (serve/eval/classify). */
    @Override public float[] score(List<PromptResponse> batch) {
        if (inputs == null) throw new IllegalStateException("call withInputs(tokenizer, maxLength) first");
        List<int[]> seqs = batch.stream().map(p -> inputs.encode(p.prompt(), p.response())).toList();
        CostInputs.Batch b = CostInputs.pad(seqs);
        try (var off = GradMode.off()) {
            return costs(b.ids(), b.mask()).data().castTo(DataType.FLOAT).toFloatVector();
        }
    }

    @Override public int tokens(PromptResponse row) {
        return inputs == null ? -1 : inputs.encode(row.prompt(), row.response()).length;
    }

    /** A new score head for a randomly initialised body: normal(0, 0.02) from {@code seed}. */
    public static ScoreHead newHead(int hidden, long seed, DataType dtype) { return ScoreHead.normal(1, hidden, seed, dtype); }
}
