package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;

/** GPT-Neo MLP: {@code c_proj(gelu_new(c_fc(x)))}, H -> I -> H. */
final class Mlp {
    final Linear cFc; // [I, H] + bias [I]
    final Linear cProj; // [H, I] + bias [H]

    Mlp(Linear cFc, Linear cProj) {
        this.cFc = cFc;
        this.cProj = cProj;
    }

    /** {@code x [B, T, H] -> [B, T, H]}. */
    Tensor forward(Tensor x) {
        return cProj.forward(Ops.gelu(cFc.forward(x)));
    }

    /** {@code r + forward(x)}: the residual added in c_proj's product where it can be ({@link Linear#forwardAdd}). */
    Tensor forwardAdd(Tensor x, Tensor r) {
        return cProj.forwardAdd(Ops.gelu(cFc.forward(x)), r);
    }
}
