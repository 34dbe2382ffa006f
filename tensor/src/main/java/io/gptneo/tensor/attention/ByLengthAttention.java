package io.gptneo.tensor.attention;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Short sequences to {@link MatmulAttention} (scores materialised, products on oneDNN), longer ones to {@link
 * FusedAttention} (flash-style, O(T·D) memory, local layers only visit their band). The choice depends on the sequence
 * length alone, so a backward always runs on the kernel of its forward.
 */
public final class ByLengthAttention implements AttentionKernel {
    private final int maxShort;
    private final AttentionKernel shortKernel = new MatmulAttention(), longKernel = new FusedAttention();

    /** @param maxShort the longest sequence that goes to {@link MatmulAttention} */
    public ByLengthAttention(int maxShort) {
        this.maxShort = maxShort;
    }

    @Override
    public String name() {
        return "matmul (T <= " + maxShort + ") / fused";
    }

    private AttentionKernel pick(long t) {
        return t <= maxShort ? shortKernel : longKernel;
    }

    @Override
    public Forward forward(
            INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        return pick(q.size(2)).forward(q, k, v, keyMask, window, scale, needBackward);
    }

    @Override
    public Grads backward(
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        return pick(q.size(2)).backward(fwd, q, k, v, keyMask, window, scale, dOut);
    }

    @Override
    public Forward forwardPacked(
            INDArray q,
            INDArray k,
            INDArray v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            boolean needBackward) {
        return pick(q.size(1)).forwardPacked(q, k, v, heads, keyMask, window, scale, needBackward);
    }

    @Override
    public Grads backwardPacked(
            Forward fwd,
            INDArray q,
            INDArray k,
            INDArray v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            INDArray dOut) {
        return pick(q.size(1)).backwardPacked(fwd, q, k, v, heads, keyMask, window, scale, dOut);
    }
}
