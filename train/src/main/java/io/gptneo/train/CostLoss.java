package io.gptneo.train;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Safe-RLHF cost-model losses, built from {@link Ops} so autodiff differentiates them. A cost is high for unsafe
 * text; the sign of a response is s = +1 when it is unsafe and −1 when it is safe.
 */
public final class CostLoss {
    private CostLoss() {}

    /**
     * Pairwise cost loss, mean over N pairs:
     * {@code −log σ(c_unsafer − c_safer) − log σ(s_safer·c_safer) − log σ(s_unsafer·c_unsafer)}, plus
     * {@code lambda · mean(c²)} over all 2N costs when lambda > 0.
     *
     * @param costSafer     [N] costs of the safer response of each pair
     * @param costUnsafer   [N] costs of the other response
     * @param saferIsSafe   [N] safety label of the safer response
     * @param unsaferIsSafe [N] safety label of the other response
     * @param lambda        cost regularization weight (0 = none)
     * @return scalar loss
     */
    public static Tensor pairLoss(
            Tensor costSafer, Tensor costUnsafer, boolean[] saferIsSafe, boolean[] unsaferIsSafe, double lambda) {
        int n = checkVector("costSafer", costSafer, saferIsSafe.length);
        checkVector("costUnsafer", costUnsafer, unsaferIsSafe.length);
        if (unsaferIsSafe.length != n)
            throw new IllegalArgumentException(
                    "pairLoss: " + n + " safer labels, " + unsaferIsSafe.length + " unsafer labels");
        Tensor rank = Ops.logSigmoid(Ops.sub(costUnsafer, costSafer));
        Tensor signSafer = Ops.logSigmoid(Ops.mul(costSafer, signs(saferIsSafe, costSafer.dtype())));
        Tensor signUnsafer = Ops.logSigmoid(Ops.mul(costUnsafer, signs(unsaferIsSafe, costUnsafer.dtype())));
        Tensor loss = Ops.neg(Ops.mean(Ops.add(Ops.add(rank, signSafer), signUnsafer)));
        if (lambda > 0)
            loss = Ops.add(loss, Ops.scale(Ops.mean(Ops.square(Ops.concat(0, costSafer, costUnsafer))), lambda));
        return loss;
    }

    /** {@link #pairLoss(Tensor, Tensor, boolean[], boolean[], double)} without regularization. */
    public static Tensor pairLoss(
            Tensor costSafer, Tensor costUnsafer, boolean[] saferIsSafe, boolean[] unsaferIsSafe) {
        return pairLoss(costSafer, costUnsafer, saferIsSafe, unsaferIsSafe, 0);
    }

    /**
     * Single-response loss (BeaverTails): mean of {@code −log σ(s·c)}, plus {@code lambda · mean(c²)}.
     *
     * @param costs  [N]
     * @param isSafe [N]
     */
    public static Tensor signLoss(Tensor costs, boolean[] isSafe, double lambda) {
        checkVector("costs", costs, isSafe.length);
        Tensor loss = Ops.neg(Ops.mean(Ops.logSigmoid(Ops.mul(costs, signs(isSafe, costs.dtype())))));
        if (lambda > 0) loss = Ops.add(loss, Ops.scale(Ops.mean(Ops.square(costs)), lambda));
        return loss;
    }

    public static Tensor signLoss(Tensor costs, boolean[] isSafe) {
        return signLoss(costs, isSafe, 0);
    }

    /** [N] constant: +1 where unsafe, −1 where safe. */
    static Tensor signs(boolean[] isSafe, DataType dt) {
        double[] s = new double[isSafe.length];
        for (int i = 0; i < s.length; i++) s[i] = isSafe[i] ? -1 : 1;
        return Tensor.constant(Nd4j.createFromArray(s).castTo(dt));
    }

    private static int checkVector(String what, Tensor t, int n) {
        if (t.rank() != 1 || t.size(0) != n) {
            throw new IllegalArgumentException(
                    "cost loss: " + what + " must be [" + n + "], got " + java.util.Arrays.toString(t.shape()));
        }
        if (n == 0) throw new IllegalArgumentException("cost loss: empty batch");
        return n;
    }
}
