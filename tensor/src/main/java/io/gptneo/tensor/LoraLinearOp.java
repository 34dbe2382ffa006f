package io.gptneo.tensor;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A linear layer with a LoRA side path as one tape operation (see {@link Ops#loraLinear}):
 * <pre>
 *   y  = x Wᵀ + b + s · (xd Aᵀ) Bᵀ        x [N, in], W [out, in], A [r, in], B [out, r], xd = dropout(x)
 *   dx = g W + (s · g B) A ⊙ keep/(1-p)   dA = (s · g B)ᵀ xd     dB = s · gᵀ (xd Aᵀ)
 * </pre>
 * Why fused: as separate operations the side path costs a dropout mask array and its multiply, a scale, an add of
 * two [N, out] arrays, and in backward another mask multiply, another scale and a gradient sum for x, all of them
 * full passes over [N, in] or [N, out] arrays, while its products have only r (8) columns. Here the side path's
 * product accumulates onto the base product inside BLAS, the mask is one bit per element, and dx's two terms meet in
 * one BLAS call.
 */
final class LoraLinearOp {
    private LoraLinearOp() {}

    static Tensor apply(Tensor x, Tensor w, Tensor bias, Tensor a, Tensor b, double scaling, double p, long seed) {
        long[] xs = x.shape(), ws = w.shape(), as = a.shape(), bs = b.shape();
        if (ws.length != 2
                || xs.length < 1
                || xs[xs.length - 1] != ws[1]
                || as.length != 2
                || bs.length != 2
                || as[1] != ws[1]
                || bs[0] != ws[0]
                || bs[1] != as[0]) {
            throw new IllegalArgumentException("loraLinear: input " + Arrays.toString(xs) + ", weight [out, in] = "
                    + Arrays.toString(ws)
                    + ", A [r, in] = " + Arrays.toString(as) + ", B [out, r] = " + Arrays.toString(bs) + " do not fit"
                    + (w.name() == null ? "" : " (" + w.name() + ")"));
        }
        Ops.weightDtype("loraLinear", x, w);
        Ops.sameDtype("loraLinear", x, a);
        Ops.sameDtype("loraLinear", x, b);
        if (bias != null && (bias.rank() != 1 || bias.size(0) != ws[0] || bias.dtype() != x.dtype())) {
            throw new IllegalArgumentException("loraLinear: bias " + bias.dtype() + Arrays.toString(bias.shape())
                    + " for weight " + Arrays.toString(ws));
        }
        if (p < 0 || p >= 1) throw new IllegalArgumentException("loraLinear: dropout must be in [0, 1), got " + p);
        long in = ws[1], out = ws[0];
        long rows = x.data().length() / in;
        if (x.data().length() > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("loraLinear: input too large " + Arrays.toString(xs));

        INDArray x2 = x.data().reshape('c', rows, in); // [N, in]
        INDArray wd = w.data(), ad = a.data(), bd = b.data();
        INDArray y = Gemm.mm(x2, wd, false, true, bias == null ? null : bias.data()); // [N, out]
        long[] keep = p > 0 ? DropoutMask.keep((int) (rows * in), p, seed) : null;
        double keepScale = 1.0 / (1.0 - p);
        INDArray xd = keep == null ? x2 : Kernels.get().dropout(x2, keep, keepScale, null); // [N, in]
        INDArray h = Gemm.mm(xd, ad, false, true); // [N, r]
        Gemm.mmAccumulate(h, bd, false, true, scaling, y); // y += s · h Bᵀ

        long[] outShape = xs.clone();
        outShape[xs.length - 1] = out;
        Tensor[] inputs = {x, w, bias, a, b};
        return Tensor.result(
                "loraLinear",
                y.reshape('c', outShape),
                inputs,
                g -> {
                    INDArray g2 = g.reshape('c', rows, out); // [N, out]
                    INDArray[] r = new INDArray[inputs.length];
                    INDArray dh = Gemm.mm(g2, bd, false, false).muli(scaling); // [N, r]
                    if (x.requiresGrad()) {
                        INDArray dx = Gemm.mm(dh, ad, false, false); // [N, in]: side path first,
                        if (keep != null) Kernels.get().dropout(dx, keep, keepScale, dx); // through the dropout mask,
                        Gemm.mmAccumulate(g2, wd, false, false, 1.0, dx); // then the base path onto it
                        r[0] = dx.reshape('c', xs);
                    }
                    if (w.requiresGrad()) r[1] = Gemm.mm(g2, x2, true, false); // [out, in]
                    if (bias != null && bias.requiresGrad()) r[2] = g2.sum(0);
                    if (a.requiresGrad()) r[3] = Gemm.mm(dh, xd, true, false); // [r, in]
                    if (b.requiresGrad()) r[4] = Gemm.mm(g2, h, true, false).muli(scaling); // [out, r]
                    return r;
                },
                xd,
                h);
    }
}
