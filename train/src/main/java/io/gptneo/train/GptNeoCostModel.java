package io.gptneo.train;

import io.gptneo.lora.LoraConfig;
import io.gptneo.lora.LoraLinear;
import io.gptneo.lora.LoraModel;
import io.gptneo.lora.PeftAdapter;
import io.gptneo.model.CostModel;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A {@link CostModel} (GPT-Neo + score head) with its trainable part: LoRA adapters + score head (saved as a PEFT
 * folder), every base tensor + score head ({@code --train-base}, saved as a model folder whose
 * {@code model.safetensors} includes {@code score.weight}), or nothing (inference). Scoring text goes through
 * {@link io.gptneo.SafetyModel}, which wraps one of these with a tokenizer.
 */
public final class GptNeoCostModel implements TrainableCostModel {
    private final CostModel model;
    private final LoraModel lora; // null when training in full or scoring a full model
    private final boolean fullTraining;
    private final String baseName;

    private GptNeoCostModel(CostModel model, LoraModel lora, boolean fullTraining, String baseName) {
        this.model = model;
        this.lora = lora;
        this.fullTraining = fullTraining;
        this.baseName = baseName;
    }

    /** LoRA training: adapters from {@code cfg} ("score" saved), optionally initialised from a PEFT folder. */
    public static GptNeoCostModel withLora(
            CostModel model, LoraConfig cfg, Path initAdapter, long seed, String baseName) throws IOException {
        LoraConfig c = cfg.modulesToSave().contains("score")
                ? cfg
                : new LoraConfig(
                        cfg.r(),
                        cfg.alpha(),
                        cfg.dropout(),
                        cfg.targetModules(),
                        cfg.useRsLora(),
                        cfg.init(),
                        List.of("score"));
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

    /**
     * For scoring: with an adapter folder (LoRA + score head), or the model's own score head. LoRA on float32 base
     * weights is merged into them ({@link #mergeForScoring}); on bf16 ones it stays a float32 side path.
     */
    public static GptNeoCostModel forInference(CostModel model, Path adapter) throws IOException {
        if (adapter == null) return new GptNeoCostModel(model, null, false, null);
        LoraModel lora = PeftAdapter.load(adapter, model);
        lora.setTraining(false);
        GptNeoCostModel m = new GptNeoCostModel(model, lora, false, null);
        m.mergeForScoring();
        return m;
    }

    /**
     * Scoring only: folds every LoRA adapter into its base weight ({@code W += B·A·scaling}, PEFT's
     * {@code merge_and_unload}), so each adapted layer is one product instead of the product and its side path (the
     * side paths were about 2.5% of a float32 125M cost-model forward). The costs agree with the unmerged model to
     * float32 rounding. Only where every adapted weight is float32: a bf16 weight would round the update into bf16,
     * and the bf16 mode keeps LoRA in float32. Returns whether the adapters are merged now. A merged model is not
     * trained further ({@link #setTraining} refuses); {@link #save} still writes the adapter.
     */
    public boolean mergeForScoring() {
        if (lora == null) return false;
        if (lora.isMerged()) return true;
        for (LoraLinear l : lora.adapters()) if (l.base().weight().dtype() != DataType.FLOAT) return false;
        setTraining(false);
        lora.merge();
        return true;
    }

    public CostModel costModel() {
        return model;
    }

    public LoraModel lora() {
        return lora;
    }

    @Override
    public Tensor costs(int[][] ids, int[][] mask) {
        return model.costs(ids, mask);
    }

    @Override
    public Map<String, Tensor> trainable() {
        if (lora != null) return lora.namedTrainable();
        if (!fullTraining) return Map.of();
        return new LinkedHashMap<>(model.parameters()); // body + score.weight
    }

    @Override
    public void setTraining(boolean on) {
        if (on && lora != null && lora.isMerged())
            throw new IllegalStateException(
                    "this cost model's LoRA is merged into its weights for scoring (forInference); load it with"
                            + " withLora(..., initAdapter, ...) to train it");
        if (lora != null) lora.setTraining(on);
        model.model().setTraining(on);
    }

    @Override
    public void setStepSeed(long seed) {
        if (lora != null) lora.setStepSeed(seed);
        model.model().setStepSeed(seed);
    }

    @Override
    public void save(Path dir) throws IOException {
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

    /** A new score head for a randomly initialised body: normal(0, 0.02) from {@code seed}. */
    public static ScoreHead newHead(int hidden, long seed, DataType dtype) {
        return ScoreHead.normal(1, hidden, seed, dtype);
    }
}
