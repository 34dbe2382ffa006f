package io.gptneo.tensor.attention;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Reference attention (float32 and float64) as a composition of ND4J ops, materialising the [B,H,T,T] scores:
 * {@code P = softmax(scale q k^T + bias)}, {@code out = P v}, with the HF additive mask (float32 minimum).
 * Query rows with no allowed key get P = 0 (so out = 0 and zero gradients) rather than HF's uniform garbage;
 * callers ignore those rows, and all kernels agree on them this way.
 * Saved for backward: P [B*H,T,T].
 */
public final class ReferenceAttention implements AttentionKernel {

    @Override
    public String name() {
        return "reference";
    }

    @Override
    public Forward forward(
            INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        int b = (int) s[0], h = (int) s[1], t = (int) s[2], d = (int) s[3];
        INDArray q3 = AttentionMasks.contiguous(q).reshape('c', b * h, t, d);
        INDArray k3 = AttentionMasks.contiguous(k).reshape('c', b * h, t, d);
        INDArray v3 = AttentionMasks.contiguous(v).reshape('c', b * h, t, d);

        INDArray scores = Nd4j.matmul(q3, k3, false, true, false); // [BH,T,T]
        if (scale != 1.0) scores.muli(scale);
        AttentionMasks.Masks masks =
                AttentionMasks.masks(AttentionMasks.keyAllowed(keyMask, b, t), b, t, 0, t, window, q.dataType());
        INDArray scores4 = scores.reshape('c', b, h, t, t);
        scores4.addi(masks.bias()); // + [B,1,T,T] broadcast over heads
        Nd4j.exec(new SoftMax(scores4, scores4, -1)); // softmax over keys, in place
        if (masks.rowValid() != null) scores4.muli(masks.rowValid()); // rows without any key -> 0
        INDArray p = scores4.reshape('c', b * h, t, t);
        INDArray out = Nd4j.matmul(p, v3, false, false, false).reshape('c', b, h, t, d);
        return new Forward(out, needBackward ? p : null);
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
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        if (!(fwd.saved() instanceof INDArray p))
            throw new IllegalStateException("reference backward needs forward(..., needBackward=true)");
        int b = (int) s[0], h = (int) s[1], t = (int) s[2], d = (int) s[3];
        INDArray q3 = AttentionMasks.contiguous(q).reshape('c', b * h, t, d);
        INDArray k3 = AttentionMasks.contiguous(k).reshape('c', b * h, t, d);
        INDArray v3 = AttentionMasks.contiguous(v).reshape('c', b * h, t, d);
        INDArray dO = AttentionMasks.contiguous(dOut.castTo(q.dataType())).reshape('c', b * h, t, d);

        INDArray dV = Nd4j.matmul(p, dO, true, false, false); // P^T dO      [BH,T,D]
        INDArray dP = Nd4j.matmul(dO, v3, false, true, false); // dO V^T      [BH,T,T]
        // dS = P * (dP - rowsum(dP * P)); masked entries have P = 0, so dS = 0 there.
        INDArray rows = dP.mul(p).sum(true, 2); // [BH,T,1]
        dP.subi(rows).muli(p);
        INDArray dQ = Nd4j.matmul(dP, k3, false, false, false); // dS K        [BH,T,D]
        INDArray dK = Nd4j.matmul(dP, q3, true, false, false); // dS^T Q      [BH,T,D]
        if (scale != 1.0) {
            dQ.muli(scale);
            dK.muli(scale);
        }
        return new Grads(dQ.reshape('c', b, h, t, d), dK.reshape('c', b, h, t, d), dV.reshape('c', b, h, t, d));
    }
}
