package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.GptNeoWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Safety cost model: GPT-Neo body plus a one-output {@link ScoreHead}; the cost of a sequence is
 * {@code score · h} at its last real token. Position ids come from the mask (cumsum − 1), so a left-padded batch
 * gives the same costs as the right-padded one (for right padding they equal 0..T−1 on real tokens).
 */
public final class CostModel {
    /** Seed of the score head's normal(0, 0.02) init when the checkpoint has no {@code score.weight}. */
    public static final long DEFAULT_HEAD_SEED = 42;

    private final GptNeoModel model;
    private final ScoreHead head;

    public CostModel(GptNeoModel model, ScoreHead head) {
        if (head.weight().size(1) != model.config().hiddenSize()) {
            throw new IllegalArgumentException(
                    "score head hidden " + head.weight().size(1) + " != model hidden "
                            + model.config().hiddenSize());
        }
        this.model = model;
        this.head = head;
    }

    /**
     * Loads a model directory. Uses the checkpoint's {@code score.weight} [1, H] when present; otherwise the head is
     * drawn from normal(0, 0.02) with seed {@link #DEFAULT_HEAD_SEED} (HF's init of the score layer).
     */
    public static CostModel load(Path dir, DataType dtype) throws IOException {
        return fromWeights(GptNeoWeights.load(dir, dtype), dir);
    }

    /** As {@link #load}, with the block linear weights read straight into bf16 ({@link GptNeoModel#loadBf16Base}). */
    public static CostModel loadBf16Base(Path dir) throws IOException {
        return fromWeights(GptNeoWeights.load(dir, DataType.FLOAT, true), dir);
    }

    /** As {@link #load}, from weights already read from {@code dir} (named in messages). */
    public static CostModel fromWeights(GptNeoWeights w, Path dir) {
        GptNeoModel m = GptNeoModel.fromWeights(w);
        INDArray score = w.tensors().get(GptNeoWeights.SCORE);
        if (score != null && score.size(0) != 1) {
            throw new IllegalArgumentException(
                    dir + ": score.weight has " + score.size(0) + " labels; a cost model needs 1");
        }
        ScoreHead head = score != null
                ? new ScoreHead(Tensor.constant(score))
                : ScoreHead.normal(1, m.config().hiddenSize(), DEFAULT_HEAD_SEED, m.dtype());
        return new CostModel(m, head);
    }

    /**
     * Costs {@code [B]} of a padded batch (either side): ids, mask [B][T]. The body runs its last block only at each
     * row's last real token ({@link GptNeoModel#forwardLast}); {@link #costsFull} is the same over every position.
     */
    public Tensor costs(int[][] ids, int[][] mask) {
        int[][] pos = mask == null ? null : GptNeoModel.positionsFromMask(mask);
        int[] last = ScoreHead.lastRealIndex(mask, ids.length, ids.length == 0 ? 0 : ids[0].length);
        if (head.numLabels() != 1)
            throw new IllegalStateException("costs need a score head with 1 label, this one has " + head.numLabels());
        return Ops.reshape(head.scoresAtLast(model.forwardLast(ids, mask, pos, last)), ids.length);
    }

    /** {@link #costs} with the whole last block computed (the definition the fast path is tested against). */
    public Tensor costsFull(int[][] ids, int[][] mask) {
        int[][] pos = mask == null ? null : GptNeoModel.positionsFromMask(mask);
        return head.costs(model.forward(ids, mask, pos), mask);
    }

    public GptNeoModel model() {
        return model;
    }

    public ScoreHead head() {
        return head;
    }

    /** The body's parameters plus {@code score.weight}. */
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> m = new LinkedHashMap<>(model.parameters());
        m.put("score.weight", head.weight());
        return m;
    }
}
