package io.gptneo.model;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.LowRank;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import io.gptneo.tensor.Workspaces;
import io.gptneo.tensor.attention.AttentionKernel;
import io.gptneo.tensor.attention.AttentionMasks;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.impl.transforms.custom.SoftMax;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * GPT-Neo self-attention of one layer: q/k/v projections without bias, unscaled scores {@code q·kᵀ} (GPT-Neo has
 * no 1/√d), causal mask (global layers) or causal band of {@code window} keys (local layers), padding keys masked,
 * then {@code out_proj} (with bias).
 */
final class Attention {
    final Linear qProj, kProj, vProj, outProj;
    private final int heads;
    private final int headDim;
    private final int window; // 0 = global (causal), else local window size
    private AttentionKernel kernel;
    private boolean fuseQkv = true;
    private Tensor stacked; // [3H, H]: k, v, q weights stacked (frozen), or null
    private Tensor stackedKv; // [2H, H]: its first 2H rows (k, v), a view, for the last-token path
    private Object[] stackedFrom; // the weight tensors and arrays it was stacked from

    Attention(Linear q, Linear k, Linear v, Linear out, int heads, int window, AttentionKernel kernel) {
        this.qProj = q;
        this.kProj = k;
        this.vProj = v;
        this.outProj = out;
        this.heads = heads;
        this.headDim = (int) (q.outFeatures() / heads);
        this.window = window;
        this.kernel = kernel;
    }

    void setKernel(AttentionKernel k) {
        this.kernel = k;
    }

    /** Whether q, k and v may be one product ({@link #project}); off: three, as before (for comparisons). */
    void setFuseQkv(boolean on) {
        this.fuseQkv = on;
    }

    /**
     * q, k, v of {@code x [..., H]}, each {@code [..., H]}. One product with the stacked weights and LoRA side paths
     * ({@link Ops#linearSplit}) where q, k and v are frozen, bias-free and any adapter on them is a plain LoRA
     * path; else one product each. Trainable q/k/v (full training) take the three products, so their gradients stay
     * those of the named weights.
     */
    Tensor[] project(Tensor x) {
        Tensor w = stackedWeight();
        if (w == null) return new Tensor[] {qProj.forward(x), kProj.forward(x), vProj.forward(x)};
        long h = qProj.outFeatures();
        Tensor[] kvq =
                Ops.linearSplit(x, w, new long[] {h, h, h}, new LowRank[] {side(kProj), side(vProj), side(qProj)});
        return new Tensor[] {kvq[2], kvq[0], kvq[1]};
    }

    private static boolean sameObjects(Object[] a, Object[] b) {
        for (int i = 0; i < a.length; i++) if (a[i] != b[i]) return false;
        return true;
    }

    private static LowRank side(Linear l) {
        return l.adapter() == null ? null : l.adapter().lowRank();
    }

    /**
     * The frozen {@code [k; v; q]} weights stacked into one {@code [3H, H]} array, made on first use and again
     * whenever a weight tensor or its array is replaced (LoRA merge, setTrainable, bf16); null when the projections
     * cannot share one product. A derived copy: the named q/k/v weights stay what checkpoints and adapters see.
     */
    private synchronized Tensor stackedWeight() {
        Linear[] kvq = {kProj, vProj, qProj};
        boolean fusable = fuseQkv;
        for (Linear l : kvq) {
            fusable &= !l.weight().requiresGrad()
                    && l.bias() == null
                    && (l.adapter() == null || l.adapter().lowRank() != null);
        }
        if (!fusable) {
            stacked = null; // e.g. trainable now: a stale copy would be wrong later
            stackedKv = null;
            stackedFrom = null;
            return null;
        }
        Object[] from = {
            kProj.weight(),
            vProj.weight(),
            qProj.weight(),
            kProj.weight().data(),
            vProj.weight().data(),
            qProj.weight().data()
        };
        if (stacked == null || !sameObjects(from, stackedFrom)) {
            try (var out = Workspaces.outside()) {
                INDArray w = Nd4j.concat(
                        0,
                        kProj.weight().data(),
                        vProj.weight().data(),
                        qProj.weight().data());
                stacked = Tensor.constant(w).named(qProj.name().replace("q_proj", "kvq_proj") + ".weight");
                long h = kProj.outFeatures();
                stackedKv = Tensor.constant(w.get(NDArrayIndex.interval(0, 2 * h), NDArrayIndex.all()))
                        .named(qProj.name().replace("q_proj", "kv_proj") + ".weight");
            }
            stackedFrom = from;
        }
        return stacked;
    }

    /**
     * {@code x [B, T, H] -> [B, T, H]}.
     *
     * @param keyMask [B, L] (1 real, 0 pad) over all keys including cached ones, or null for none
     * @param cache   null (no cache), an empty cache (prefill: keys are stored) or a filled one (decode step)
     */
    Tensor forward(Tensor x, INDArray keyMask, KvCache cache, int layer) {
        return forward(x, keyMask, cache, layer, null);
    }

    /** As above, plus {@code residual} (null: none) added to out_proj's result ({@link Linear#forwardAdd}). */
    Tensor forward(Tensor x, INDArray keyMask, KvCache cache, int layer, Tensor residual) {
        long b = x.size(0), t = x.size(1), c = x.size(2);
        Tensor[] qkv = project(x); // each [B, T, nh*D]: heads side by side in each row
        Tensor q = qkv[0], k = qkv[1], v = qkv[2];
        Tensor y; // [B, T, nh*D]
        if (cache == null || cache.length() == 0) {
            y = Ops.attentionPacked(q, k, v, heads, keyMask, window, 1.0, kernel);
            if (cache != null) cache.write(layer, splitHeads(k.data(), b, t), splitHeads(v.data(), b, t));
        } else {
            if (GradMode.isEnabled() && q.requiresGrad()) {
                throw new IllegalStateException(
                        "KV-cached attention is inference-only (records no tape): run it under GradMode.off()");
            }
            INDArray o = cachedAttention(
                    splitHeads(q.data(), b, t),
                    splitHeads(k.data(), b, t),
                    splitHeads(v.data(), b, t),
                    keyMask,
                    cache,
                    layer);
            y = Tensor.constant(o.permute(0, 2, 1, 3).dup('c').reshape('c', b, t, c));
        }
        return residual == null ? outProj.forward(y) : outProj.forwardAdd(y, residual);
    }

    /**
     * Attention output at one query per row ({@link Block#forwardLast}): {@code x [B, T, H]} (the block's normed
     * input) gives keys and values at every position; the query of row i is at {@code rows[i] = i·T + last[i]}.
     * Returns {@code [B, H]}, equal (to float32 rounding) to row {@code last[i]} of {@link #forward}: same mask rule
     * ({@link AttentionMasks#firstKey}, padding keys), same unscaled scores. The query is projected only at those
     * rows. Where q, k and v share a stacked weight ({@link #project}), k and v are one product over the first 2H
     * rows of that weight, and q's LoRA dropout, if any, takes those rows of the mask drawn over the whole input
     * ({@link LowRank#atRows}); else a stochastic q adapter gets the whole q/k/v product.
     */
    Tensor forwardLast(Tensor x, INDArray keyMask, int[] rows, int[] last) {
        int b = (int) x.size(0), t = (int) x.size(1), c = (int) x.size(2);
        Tensor q;
        Tensor[] kv;
        Tensor kvw = stackedWeight() != null ? stackedKv : null;
        if (kvw != null) { // k and v in one product; q's product (and side path) only at the query rows
            long h = kProj.outFeatures();
            kv = Ops.linearSplit(x, kvw, new long[] {h, h}, new LowRank[] {side(kProj), side(vProj)});
            LowRank qSide = side(qProj);
            Tensor xq = Ops.gatherRows(Ops.reshape(x, (long) b * t, c), rows); // [B, H]
            q = Ops.linearSplit(xq, qProj.weight(), new long[] {h}, new LowRank[] {
                qSide == null ? null : qSide.atRows(rows) // q's dropout as drawn over every row
            })[0];
        } else if (qProj.adapter() != null && qProj.adapter().stochastic()) {
            Tensor[] qkv = project(x);
            q = Ops.gatherRows(Ops.reshape(qkv[0], (long) b * t, c), rows);
            kv = new Tensor[] {qkv[1], qkv[2]};
        } else {
            q = qProj.forward(Ops.gatherRows(Ops.reshape(x, (long) b * t, c), rows)); // [B, H]
            kv = new Tensor[] {kProj.forward(x), vProj.forward(x)}; // one layer: not worth a second stacked copy
        }
        Tensor k = Ops.permute(Ops.reshape(kv[0], b, t, heads, headDim), 0, 2, 3, 1); // [B, nh, D, T]
        Tensor v = Ops.permute(Ops.reshape(kv[1], b, t, heads, headDim), 0, 2, 1, 3); // [B, nh, T, D]
        Tensor q4 = Ops.reshape(q, b, heads, 1, headDim); // [B, nh, 1, D]
        Tensor scores = Ops.add(
                Ops.matmul(q4, k), Tensor.constant(lastQueryBias(keyMask, last, b, t, x.dtype()))); // [B, nh, 1, T]
        Tensor y = Ops.matmul(Ops.softmax(scores), v); // [B, nh, 1, D]
        return outProj.forward(Ops.reshape(y, b, c));
    }

    /** Score bias {@code [B, 1, 1, T]}: 0 where row i's query at {@code last[i]} may see key j, the mask value elsewhere. */
    private INDArray lastQueryBias(INDArray keyMask, int[] last, int b, int t, DataType dt) {
        boolean[][] keyOk = AttentionMasks.keyAllowed(keyMask, b, t);
        float[] bias = new float[b * t];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t; j++) {
                boolean ok =
                        j >= AttentionMasks.firstKey(last[i], window) && j <= last[i] && (keyOk == null || keyOk[i][j]);
                bias[i * t + j] = ok ? 0f : AttentionMasks.MASK_VALUE;
            }
        }
        return Nd4j.create(bias, new long[] {b, 1, 1, t}, 'c').castTo(dt);
    }

    /** [B, T, nh*D] -> a [B, nh, T, D] view. */
    private INDArray splitHeads(INDArray a, long b, long t) {
        return a.reshape('c', b, t, heads, headDim).permute(0, 2, 1, 3);
    }

    /**
     * Inference path for Tn new queries against the cache plus themselves (query i at absolute index
     * {@code past + i}). Scores are taken against the whole preallocated buffer; positions not yet filled are
     * masked like any disallowed key, which avoids copying the cached prefix every step.
     *
     * @return [B, nh, Tn, D]
     */
    private INDArray cachedAttention(INDArray q, INDArray k, INDArray v, INDArray keyMask, KvCache cache, int layer) {
        int b = (int) q.size(0), tn = (int) q.size(2), past = cache.length(), total = past + tn, cap = cache.capacity();
        if (keyMask != null && keyMask.size(1) != total) {
            throw new IllegalArgumentException(
                    "attention mask covers " + keyMask.size(1) + " positions, expected past + new = " + total);
        }
        cache.write(layer, k, v);
        INDArray q3 = q.dup('c').reshape('c', (long) b * heads, tn, headDim);
        INDArray kAll = cache.keys(layer).reshape('c', (long) b * heads, cap, headDim);
        INDArray vAll = cache.values(layer).reshape('c', (long) b * heads, cap, headDim);
        INDArray scores = Nd4j.matmul(q3, kAll, false, true, false).reshape('c', b, heads, tn, cap); // [B, nh, Tn, cap]

        // the one GPT-Neo mask rule (positions past.. against the whole buffer; unfilled positions are never allowed)
        AttentionMasks.Masks masks = AttentionMasks.masks(
                AttentionMasks.keyAllowed(keyMask, b, total), b, tn, past, cap, window, q.dataType());
        scores.addi(masks.bias()); // + [B, 1, Tn, cap] broadcast over heads
        Nd4j.exec(new SoftMax(scores, scores, -1));
        if (masks.rowValid() != null) scores.muli(masks.rowValid());
        INDArray p = scores.reshape('c', (long) b * heads, tn, cap);
        return Nd4j.matmul(p, vAll, false, false, false).reshape('c', b, heads, tn, headDim);
    }
}
