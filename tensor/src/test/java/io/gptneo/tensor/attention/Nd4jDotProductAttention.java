package io.gptneo.tensor.attention;

import static org.nd4j.linalg.indexing.NDArrayIndex.all;
import static org.nd4j.linalg.indexing.NDArrayIndex.interval;

import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.impl.transforms.custom.DotProductAttention;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * ND4J's {@code dot_product_attention} op (libnd4j), see tensor/ATTENTION.md for what it can express. It takes
 * [B,(H,)D,T] layouts, a per-key mask [B,Tk] only (a [B,Tq,Tk] mask is rejected), and no causal flag. So causal and
 * local masks are expressed exactly by one op call per query row i over the keys [firstKey(i), i]
 * (Tq = 1, so the per-key mask is the whole mask). That is T op calls per forward or backward: it exists as a
 * cross-check of the op, not for speed. Scale: the op's {@code scaled} flag means 1/sqrt(D); any other scale is
 * folded into q. Rows with no allowed key get 0 (the op would return an unmasked softmax there).
 */
public final class Nd4jDotProductAttention implements AttentionKernel {

    @Override
    public String name() {
        return "nd4j";
    }

    /** [B,H,T,D] -> [B,H,D,T] c-order copy. */
    private static INDArray featuresFirst(INDArray a) {
        return a.permute(0, 1, 3, 2).dup('c');
    }

    /** [B,1,1,T] mask broadcast over heads, flattened with them: the op masks per [batch, key]. */
    private static INDArray maskFor(INDArray keyMask, int b, int h, int lo, int hi, DataType dt) {
        if (keyMask == null) return null;
        INDArray m = keyMask.castTo(dt).get(all(), interval(lo, hi)).reshape('c', b, 1, hi - lo);
        return m.repeat(1, h).reshape('c', (long) b * h, hi - lo);
    }

    /** rowValid[b][i]: query i of batch b has at least one allowed key. */
    private static boolean[][] rowValid(boolean[][] keyOk, int b, int t, int window) {
        boolean[][] r = new boolean[b][t];
        for (int bi = 0; bi < b; bi++)
            for (int i = 0; i < t; i++) {
                boolean any = false;
                for (int j = AttentionMasks.firstKey(i, window); j <= i && !any; j++)
                    any = keyOk == null || keyOk[bi][j];
                r[bi][i] = any;
            }
        return r;
    }

    @Override
    public Forward forward(
            INDArray q, INDArray k, INDArray v, INDArray keyMask, int window, double scale, boolean needBackward) {
        long[] s = AttentionMasks.checkShapes(q, k, v, keyMask);
        int b = (int) s[0], h = (int) s[1], t = (int) s[2], d = (int) s[3];
        // [B*H, D, T]: the op's 3-d layout; the mask is per (batch entry, key)
        INDArray qT = featuresFirst(q).reshape('c', (long) b * h, d, t);
        if (scale != 1.0) qT.muli(scale);
        INDArray kT = featuresFirst(k).reshape('c', (long) b * h, d, t);
        INDArray vT = featuresFirst(v).reshape('c', (long) b * h, d, t);
        INDArray outT = Nd4j.create(q.dataType(), (long) b * h, d, t);
        for (int i = 0; i < t; i++) {
            int lo = AttentionMasks.firstKey(i, window);
            INDArray oi = Nd4j.exec(new DotProductAttention(
                    qT.get(all(), all(), interval(i, i + 1)).dup('c'),
                    kT.get(all(), all(), interval(lo, i + 1)).dup('c'),
                    vT.get(all(), all(), interval(lo, i + 1)).dup('c'),
                    maskFor(keyMask, b, h, lo, i + 1, q.dataType()),
                    false,
                    false))[0]; // [B*H, D, 1]
            outT.get(all(), all(), interval(i, i + 1)).assign(oi);
        }
        INDArray out = outT.reshape('c', b, h, d, t).permute(0, 1, 3, 2).dup('c');
        zeroInvalidRows(out, rowValid(AttentionMasks.keyAllowed(keyMask, b, t), b, t, window));
        return new Forward(out, null);
    }

    private static void zeroInvalidRows(INDArray x, boolean[][] valid) {
        for (int bi = 0; bi < valid.length; bi++)
            for (int i = 0; i < valid[bi].length; i++)
                if (!valid[bi][i])
                    x.get(NDArrayIndex.point(bi), all(), NDArrayIndex.point(i), all())
                            .assign(0);
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
        int b = (int) s[0], h = (int) s[1], t = (int) s[2], d = (int) s[3];
        INDArray qT = featuresFirst(q).reshape('c', (long) b * h, d, t);
        if (scale != 1.0) qT.muli(scale);
        INDArray kT = featuresFirst(k).reshape('c', (long) b * h, d, t);
        INDArray vT = featuresFirst(v).reshape('c', (long) b * h, d, t);
        INDArray dO = dOut.castTo(q.dataType()).dup('c');
        boolean[][] valid = rowValid(AttentionMasks.keyAllowed(keyMask, b, t), b, t, window);
        zeroInvalidRows(dO, valid); // no grad from them
        INDArray eT = featuresFirst(dO).reshape('c', (long) b * h, d, t);
        INDArray dqT = Nd4j.create(q.dataType(), (long) b * h, d, t);
        INDArray dkT = Nd4j.create(q.dataType(), (long) b * h, d, t);
        INDArray dvT = Nd4j.create(q.dataType(), (long) b * h, d, t);
        for (int i = 0; i < t; i++) {
            int lo = AttentionMasks.firstKey(i, window);
            INDArray m = maskFor(keyMask, b, h, lo, i + 1, q.dataType());
            List<INDArray> in = new ArrayList<>(List.of(
                    qT.get(all(), all(), interval(i, i + 1)).dup('c'),
                    kT.get(all(), all(), interval(lo, i + 1)).dup('c'),
                    vT.get(all(), all(), interval(lo, i + 1)).dup('c'),
                    eT.get(all(), all(), interval(i, i + 1)).dup('c')));
            if (m != null) in.add(m); // inputs: q, k, v, eps[, mask]
            DynamicCustomOp op = DynamicCustomOp.builder("dot_product_attention_bp")
                    .addInputs(in.toArray(new INDArray[0]))
                    .addIntegerArguments(0)
                    .build(); // iArg 0: unscaled
            INDArray[] g = Nd4j.exec(op); // dq, dk, dv
            // The bp op yields NaN for a row whose keys are all masked, even with eps = 0: such rows contribute
            // nothing.
            for (int bi = 0; bi < b; bi++) {
                if (valid[bi][i]) continue;
                for (INDArray gi : g)
                    gi.get(interval((long) bi * h, (long) (bi + 1) * h), all(), all())
                            .assign(0);
            }
            dqT.get(all(), all(), interval(i, i + 1)).assign(g[0]);
            dkT.get(all(), all(), interval(lo, i + 1)).addi(g[1]);
            dvT.get(all(), all(), interval(lo, i + 1)).addi(g[2]);
        }
        if (scale != 1.0) dqT.muli(scale); // op's dq is w.r.t. scale*q; its dk = dS^T (scale q) already scaled
        return new Grads(back(dqT, b, h, d, t), back(dkT, b, h, d, t), back(dvT, b, h, d, t));
    }

    private static INDArray back(INDArray xT, int b, int h, int d, int t) {
        return xT.reshape('c', b, h, d, t).permute(0, 1, 3, 2).dup('c');
    }
}
