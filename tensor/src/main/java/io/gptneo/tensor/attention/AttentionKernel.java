package io.gptneo.tensor.attention;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Causal (optionally banded) multi-head attention as one operation, with its backward.
 *
 * <p>Semantics (HuggingFace GPT-Neo): {@code out = softmax(scale * q k^T + mask) v} per (batch, head), where the
 * mask allows key j for query i iff {@code j <= i} and, when {@code window > 0}, {@code j > i - window}
 * (window positions including itself), and {@code keyMask[b, j] != 0}. GPT-Neo uses {@code scale = 1}.
 * A query row with no allowed key (a padding row) must produce finite values (never NaN), and gradients
 * through it must be finite too; such rows are ignored by callers.
 *
 * <p>Shapes: q, k, v, out are {@code [B, H, T, D]} (c-order; same dtype, FLOAT or DOUBLE);
 * keyMask is {@code [B, T]} with 1 for real tokens and 0 for padding, or null for none.
 */
public interface AttentionKernel {

    /** Short name for logs and benchmarks, e.g. "reference", "fused". */
    String name();

    /**
     * @param window        {@code <= 0} for global (causal) attention, otherwise the local window size
     * @param needBackward  whether {@link #backward} will be called (kernels may then keep statistics)
     */
    Forward forward(
            INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward);

    /** Gradients of a scalar loss with respect to q, k, v given {@code dOut = dL/dout}. */
    Grads backward(
            Forward fwd, INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, INDArray dOut);

    /**
     * The same attention on the packed layout the model's projections produce: q, k, v and out {@code [B, T, H*D]}
     * (head h in columns {@code [h*D, (h+1)*D)} of every row, c-order). This default permutes to {@code [B, H, T, D]},
     * runs {@link #forward} and permutes back; kernels that can index the packed rows directly override it and save
     * those copies. Pair it with {@link #backwardPacked}.
     */
    default Forward forwardPacked(
            INDArray q,
            INDArray k,
            INDArray v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            boolean needBackward) {
        Forward f = forward(
                Packing.toHeads(q, heads),
                Packing.toHeads(k, heads),
                Packing.toHeads(v, heads),
                keyMask,
                window,
                scale,
                needBackward);
        return new Forward(Packing.fromHeads(f.out()), needBackward ? f : null);
    }

    /** Gradients for {@link #forwardPacked}, in the packed layout; {@code dOut [B, T, H*D]}. */
    default Grads backwardPacked(
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        if (!(fwd.saved() instanceof Forward inner))
            throw new IllegalStateException(name() + ": backwardPacked needs forwardPacked(..., needBackward=true)");
        Grads g = backward(
                inner,
                Packing.toHeads(q, heads),
                Packing.toHeads(k, heads),
                Packing.toHeads(v, heads),
                keyMask,
                window,
                scale,
                Packing.toHeads(dOut, heads));
        return new Grads(Packing.fromHeads(g.dq()), Packing.fromHeads(g.dk()), Packing.fromHeads(g.dv()));
    }

    /** Output plus whatever the kernel keeps for backward (e.g. log-sum-exp per row, or the probabilities). */
    record Forward(INDArray out, Object saved) {}

    record Grads(INDArray dq, INDArray dk, INDArray dv) {}
}
