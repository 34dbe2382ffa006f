package io.gptneo.tensor;

import java.util.HashMap;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The reference operations behind the fast kernels: plain compositions of ND4J ops, float32 or float64, each
 * backward beside its forward. They are the definition: the float64 gradient checks run on them, and every fast
 * kernel is tested against them at float32 tolerance. {@link Kernels} serves them for float64, and for float32 when
 * the Vector API is absent or the reference is asked for.
 */
final class Reference {
    /** gelu_new's constants: c = √(2/π), k = 0.044715. */
    static final double GELU_C = Math.sqrt(2.0 / Math.PI), GELU_K = 0.044715;

    private Reference() {}

    /** gelu_new(x) = 0.5·x·(1 + tanh(c·(x + k·x³))). */
    static INDArray gelu(INDArray x) {
        INDArray t = Transforms.tanh(x.mul(x).muli(GELU_K).addi(1.0).muli(x).muli(GELU_C), false);
        return t.addi(1.0).muli(x).muli(0.5);
    }

    /** g ⊙ gelu_new'(x) = g ⊙ (0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3k·x²)). */
    static INDArray geluBackward(INDArray x, INDArray g) {
        INDArray x2 = x.mul(x);
        INDArray t = Transforms.tanh(x2.mul(GELU_K).addi(1.0).muli(x).muli(GELU_C), false);
        INDArray du = x2.muli(3 * GELU_K).addi(1.0).muli(GELU_C); // du/dx
        INDArray d = t.mul(t).rsubi(1.0).muli(du).muli(x).addi(t.addi(1.0)).muli(0.5);
        return d.muli(g);
    }

    /** LayerNorm over the last dim of {@code x [N, C]}: y = (x − μ)/√(var + eps)·γ + β; x̂ and r are kept for backward. */
    static Kernels.LayerNormForward layerNorm(INDArray x, INDArray gamma, INDArray beta, double eps) {
        INDArray xc = x.subColumnVector(x.mean(true, 1)); // x − μ        [N, C]
        INDArray rstd = Transforms.pow(xc.mul(xc).mean(true, 1).addi(eps), -0.5, false); // r            [N, 1]
        INDArray xhat = xc.muliColumnVector(rstd); // x̂            [N, C]
        INDArray y = xhat.mulRowVector(gamma).addiRowVector(beta);
        return new Kernels.LayerNormForward(y, (g, wantX, wantGamma, wantBeta, addToDx) -> {
            INDArray dx = null;
            if (wantX) { // r·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
                INDArray dxhat = g.mulRowVector(gamma);
                INDArray a2 = dxhat.mul(xhat).mean(true, 1);
                dx = dxhat.subiColumnVector(dxhat.mean(true, 1))
                        .subi(xhat.mulColumnVector(a2))
                        .muliColumnVector(rstd);
                if (addToDx != null) dx.addi(addToDx);
            }
            return new Kernels.LayerNormGrads(dx, wantGamma ? g.mul(xhat).sum(0) : null, wantBeta ? g.sum(0) : null);
        });
    }

    /** x ⊙ mask, mask = keepScale where {@code keep} has the element's bit and 0 elsewhere, written into {@code into} if given. */
    static INDArray dropout(INDArray x, long[] keep, double keepScale, INDArray into) {
        int n = (int) x.length();
        double[] m = new double[n];
        for (int i = 0; i < n; i++) m[i] = DropoutMask.kept(keep, i) ? keepScale : 0;
        INDArray mask = JavaArrays.array(m, x.shape()).castTo(x.dataType());
        return into == x ? x.muli(mask) : into == null ? x.mul(mask) : into.assign(x.mul(mask));
    }

    /**
     * Zeros of {@code [N, C]} with row {@code index[i]} += {@code g[i]}: duplicate indices are first summed by a
     * one-hot product ([rows, len] · g [len, C]), so that libnd4j's scatter_add sees each row once (given duplicates
     * it sums them in a thread-dependent order).
     */
    static INDArray scatterAddRows(long[] tableShape, int[] index, INDArray g) {
        INDArray out = Nd4j.zeros(g.dataType(), tableShape);
        if (index.length == 0) return out;
        Slots s = Slots.of(index);
        int[] rows = s.rows(), slot = s.slot();
        INDArray oneHot = Nd4j.zeros(g.dataType(), rows.length, index.length);
        for (int i = 0; i < index.length; i++) oneHot.putScalar(slot[i], i, 1.0);
        INDArray sums = Gemm.mm(oneHot, g.reshape('c', index.length, tableShape[1]), false, false);
        scatterAdd(out, rows, sums);
        return out;
    }

    /** The distinct values of {@code index} in first-seen order ({@code rows}), and each position's place among them. */
    record Slots(int[] rows, int[] slot) {
        static Slots of(int[] index) {
            Map<Integer, Integer> slotOf = new HashMap<>();
            int[] slot = new int[index.length];
            for (int i = 0; i < index.length; i++) slot[i] = slotOf.computeIfAbsent(index[i], k -> slotOf.size());
            int[] rows = new int[slotOf.size()];
            slotOf.forEach((row, k) -> rows[k] = row);
            return new Slots(rows, slot);
        }
    }

    /** out[rows[k]] += sums[k] (each row once). */
    static void scatterAdd(INDArray out, int[] rows, INDArray sums) {
        Nd4j.exec(DynamicCustomOp.builder("scatter_add")
                .addInputs(out, Nd4j.createFromArray(rows), sums)
                .addOutputs(out)
                .build());
    }

    /**
     * bf16 product reference: the float32 product of {@code a} rounded to bf16 and the BFLOAT16 {@code b} (exact in
     * float32), {@code op(a) · op(b) + bias} -> FLOAT. What {@link OneDnnBf16} computes up to summation order.
     */
    static INDArray bf16mm(INDArray a, INDArray b, boolean transA, boolean transB, INDArray bias) {
        return Gemm.mm(Bf16.rounded(a), b.castTo(DataType.FLOAT), transA, transB, bias);
    }
}
