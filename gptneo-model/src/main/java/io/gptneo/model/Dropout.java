package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Seeds;
import io.gptneo.tensor.Tensor;

/**
 * GPT-Neo's training dropout on the embeddings ({@code embed_dropout}) and on each block's two residual branches
 * ({@code resid_dropout}, as HF applies it after out_proj and after the MLP). Attention-probability dropout is not
 * modelled: the fused kernel never materialises the probabilities. EleutherAI's released configs set all of these
 * to 0, so this matters for training from scratch only.
 *
 * <p>Each mask is drawn from a seed that is a pure function of (step seed, layer, site), never of a call count, so a
 * checkpointed block recomputed in backward draws the same mask as its forward did.
 */
record Dropout(double embed, double resid, boolean training, long stepSeed) {
    static final Dropout NONE = new Dropout(0, 0, false, 0);

    Dropout {
        if (embed < 0 || embed >= 1 || resid < 0 || resid >= 1)
            throw new IllegalArgumentException("dropout must be in [0, 1), got embed " + embed + ", resid " + resid);
    }

    /** Whether {@link #apply} at layer {@code layer} returns its input as it is. */
    boolean identity(int layer) {
        return !training || (layer < 0 ? embed : resid) == 0;
    }

    /** Site {@code site} of layer {@code layer} (layer -1: the embeddings). */
    Tensor apply(Tensor x, int layer, int site) {
        if (identity(layer)) return x;
        return Ops.dropout(x, layer < 0 ? embed : resid, Seeds.mixShort(stepSeed, layer + 2, site + 1));
    }
}
