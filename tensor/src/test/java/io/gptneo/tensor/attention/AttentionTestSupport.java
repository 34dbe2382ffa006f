package io.gptneo.tensor.attention;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Random inputs and masks for the attention tests. */
final class AttentionTestSupport {
    private AttentionTestSupport() {}

    enum Pad {
        NONE,
        RIGHT,
        LEFT
    }

    /** [B,H,T,D] standard normal, seeded. */
    static INDArray randn(long seed, DataType dt, int b, int h, int t, int d) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.randn(DataType.DOUBLE, b, h, t, d).castTo(dt);
    }

    /**
     * [B,T] key mask: RIGHT pads the tail of batch 1 (T/3 tokens), LEFT pads the head of batch 0 (T/3, at least 1
     * when T > 1), which leaves query rows with no allowed key under causal masking.
     */
    static INDArray keyMask(Pad pad, int b, int t) {
        if (pad == Pad.NONE) return null;
        float[][] m = new float[b][t];
        for (float[] row : m) Arrays.fill(row, 1f);
        int n = Math.max(t > 1 ? 1 : 0, t / 3);
        if (pad == Pad.RIGHT) for (int j = t - n; j < t; j++) m[Math.min(1, b - 1)][j] = 0f;
        else for (int j = 0; j < n; j++) m[0][j] = 0f;
        return Nd4j.createFromArray(m);
    }

    /** max |a - b| / max(1, max |b|): difference relative to the scale of the values. */
    static double relDiff(INDArray a, INDArray b) {
        double scale = Math.max(1.0, b.amaxNumber().doubleValue());
        return a.castTo(DataType.DOUBLE)
                        .sub(b.castTo(DataType.DOUBLE))
                        .amaxNumber()
                        .doubleValue()
                / scale;
    }

    static boolean allFinite(INDArray a) {
        for (double x : a.dup('c').data().asDouble()) if (!Double.isFinite(x)) return false;
        return true;
    }
}
