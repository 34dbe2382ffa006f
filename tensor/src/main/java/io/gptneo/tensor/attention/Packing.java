package io.gptneo.tensor.attention;

import java.util.Arrays;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Layout changes between packed {@code [B, T, H*D]} and heads-major {@code [B, H, T, D]} (c-order copies). */
final class Packing {
    private Packing() {}

    /** {@code [B, T, H*D] -> [B, H, T, D]}. */
    static INDArray toHeads(INDArray x, int heads) {
        long[] s = checkPacked(x, heads);
        return x.reshape('c', s[0], s[1], heads, s[2] / heads)
                .permute(0, 2, 1, 3)
                .dup('c');
    }

    /** {@code [B, H, T, D] -> [B, T, H*D]}. */
    static INDArray fromHeads(INDArray x) {
        if (x.rank() != 4)
            throw new IllegalArgumentException("attention: expected [B, H, T, D], got " + Arrays.toString(x.shape()));
        long b = x.size(0), h = x.size(1), t = x.size(2), d = x.size(3);
        return x.permute(0, 2, 1, 3).dup('c').reshape('c', b, t, h * d);
    }

    /** The shape of a packed operand, checked: rank 3 with a last dimension divisible by {@code heads}. */
    static long[] checkPacked(INDArray x, int heads) {
        if (x.rank() != 3 || heads <= 0 || x.size(2) % heads != 0) {
            throw new IllegalArgumentException("attention: packed operand must be [B, T, H*D] with H = " + heads
                    + ", got " + Arrays.toString(x.shape()));
        }
        return x.shape();
    }
}
