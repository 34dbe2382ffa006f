package io.gptneo.model;

import java.util.Map;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Pre-LayerNorm transformer block: {@code x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))}. */
final class Block {
    final int index;
    final LayerNorm ln1;
    final Attention attn;
    final LayerNorm ln2;
    final Mlp mlp;

    Block(int index, LayerNorm ln1, Attention attn, LayerNorm ln2, Mlp mlp) {
        this.index = index;
        this.ln1 = ln1;
        this.attn = attn;
        this.ln2 = ln2;
        this.mlp = mlp;
    }

    /** {@code x [B, T, H] -> [B, T, H]}; keyMask/cache as in {@link Attention#forward}; dropout only when training. */
    Tensor forward(Tensor x, INDArray keyMask, KvCache cache, Dropout drop) {
        Tensor h = Ops.add(x, drop.apply(attn.forward(ln1.forward(x), keyMask, cache, index), index, 0));   // resid_dropout
        return Ops.add(h, drop.apply(mlp.forward(ln2.forward(h)), index, 1));                             // MLP dropout
    }

    void collect(Map<String, Tensor> out) {
        ln1.collect(out);
        for (Linear l : new Linear[] {attn.qProj, attn.kProj, attn.vProj, attn.outProj}) put(out, l);
        ln2.collect(out);
        put(out, mlp.cFc);
        put(out, mlp.cProj);
    }

    private static void put(Map<String, Tensor> out, Linear l) {
        out.put(l.name() + ".weight", l.weight());
        if (l.bias() != null) out.put(l.name() + ".bias", l.bias());
    }

    void collectLinears(Map<String, Linear> out) {
        for (Linear l : new Linear[] {attn.qProj, attn.kProj, attn.vProj, attn.outProj, mlp.cFc, mlp.cProj}) out.put(l.name(), l);
    }

    void setTrainable(boolean on) {
        ln1.setTrainable(on);
        ln2.setTrainable(on);
        for (Linear l : new Linear[] {attn.qProj, attn.kProj, attn.vProj, attn.outProj, mlp.cFc, mlp.cProj}) {
            l.setWeight(Params.leaf(l.weight(), on));
            l.setBias(Params.leaf(l.bias(), on));
        }
    }
}
