package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import java.util.Map;
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
        if (drop.identity(index)) { // each residual add inside its branch's last product
            Tensor h = attn.forward(ln1.forward(x), keyMask, cache, index, x);
            return mlp.forwardAdd(ln2.forward(h), h);
        }
        Tensor h =
                Ops.add(x, drop.apply(attn.forward(ln1.forward(x), keyMask, cache, index), index, 0)); // resid_dropout
        return Ops.add(h, drop.apply(mlp.forward(ln2.forward(h)), index, 1)); // MLP dropout
    }

    /**
     * This block's output at one position per row, {@code [B, H]}: row i of the result is row {@code rows[i]} of
     * {@link #forward}'s flattened {@code [B·T, H]} (query at sequence index {@code last[i]}). Keys and values are
     * still computed at every position; the query, attention output, residual and MLP only at those rows. Only where
     * {@link #rowwiseAfterAttention} holds; elsewhere the caller runs the full block.
     */
    Tensor forwardLast(Tensor x, INDArray keyMask, int[] rows, int[] last) {
        long c = x.size(2);
        Tensor xLast = Ops.gatherRows(Ops.reshape(x, x.size(0) * x.size(1), c), rows); // [B, H]
        Tensor h = Ops.add(xLast, attn.forwardLast(ln1.forward(x), keyMask, rows, last));
        return Ops.add(h, mlp.forward(ln2.forward(h)));
    }

    /**
     * Whether {@link #forwardLast} gives exactly the rows of {@link #forward}: no residual dropout and no stochastic
     * adapter after attention (their masks are drawn over every position; q's is handled in {@link Attention}).
     */
    boolean rowwiseAfterAttention(Dropout drop) {
        if (drop.training() && drop.resid() > 0) return false;
        for (Linear l : new Linear[] {attn.outProj, mlp.cFc, mlp.cProj})
            if (l.adapter() != null && l.adapter().stochastic()) return false;
        return true;
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
        for (Linear l : new Linear[] {attn.qProj, attn.kProj, attn.vProj, attn.outProj, mlp.cFc, mlp.cProj})
            out.put(l.name(), l);
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
