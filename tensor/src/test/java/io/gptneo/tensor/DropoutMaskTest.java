package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/** The integer-threshold mask equals the definition (keep iff nextDouble() >= p) draw for draw. */
class DropoutMaskTest {

    @Test void keepBitsMatchTheNextDoubleDefinition() {
        double[] ps = {0.05, 0.3, 0.5, 0.999, 1e-9, Math.nextUp(0.25), 0x1.0p-53 * 3};
        int[] sizes = {1, 63, 64, 65, 1000};
        long seed = 17;
        for (double p : ps) {
            for (int n : sizes) {
                long[] bits = DropoutMask.keep(n, p, ++seed);
                SplittableRandom rng = new SplittableRandom(seed);
                int kept = 0;
                for (int i = 0; i < n; i++) {
                    boolean want = rng.nextDouble() >= p;
                    assertEquals(want, DropoutMask.kept(bits, i), "p=" + p + " n=" + n + " element " + i);
                    if (want) kept++;
                }
                for (int i = n; i < bits.length * 64; i++) assertTrue(!DropoutMask.kept(bits, i), "bit past the end set: " + i);
                if (n == 1000 && p == 0.5) assertTrue(kept > 400 && kept < 600, "kept " + kept);
            }
        }
        // several parallel blocks of 64K draws, and a ragged end
        int n = 200_003;
        long[] bits = DropoutMask.keep(n, 0.05, 99);
        SplittableRandom rng = new SplittableRandom(99);
        for (int i = 0; i < n; i++) assertEquals(rng.nextDouble() >= 0.05, DropoutMask.kept(bits, i), "element " + i + " of " + n);
    }

    @Test void applyNativeMatchesTheArrayLoop() {
        for (int n : new int[] {16, 1000, 200_003}) {
            org.nd4j.linalg.api.ndarray.INDArray x = Rand.normal(org.nd4j.linalg.api.buffer.DataType.FLOAT, n, 1.0, n);
            long[] bits = DropoutMask.keep(n, 0.3, n);
            float[] want = JavaArrays.floats(x);
            DropoutMask.apply(want, n, bits, 1f / 0.7f);
            org.nd4j.linalg.api.ndarray.INDArray out = org.nd4j.linalg.factory.Nd4j.createUninitialized(org.nd4j.linalg.api.buffer.DataType.FLOAT, n);
            if (!DropoutMask.applyNative(x, out, bits, 1f / 0.7f)) return;     // no 16-float vectors on this CPU: nothing to check
            org.junit.jupiter.api.Assertions.assertArrayEquals(want, JavaArrays.floats(out), "into another array, n=" + n);
            DropoutMask.applyNative(x, x, bits, 1f / 0.7f);
            org.junit.jupiter.api.Assertions.assertArrayEquals(want, JavaArrays.floats(x), "in place, n=" + n);
        }
    }

    @Test void applyZeroesDroppedAndScalesKept() {
        long[] bits = DropoutMask.keep(130, 0.4, 3);
        float[] v = new float[130];
        double[] d = new double[130];
        for (int i = 0; i < v.length; i++) { v[i] = i + 1; d[i] = -(i + 1); }
        DropoutMask.apply(v, v.length, bits, 2.5f);
        DropoutMask.apply(d, d.length, bits, 2.5);
        for (int i = 0; i < v.length; i++) {
            boolean k = DropoutMask.kept(bits, i);
            assertEquals(k ? (i + 1) * 2.5f : 0f, v[i], 0f);
            assertEquals(k ? -(i + 1) * 2.5 : 0.0, d[i], 0.0);
        }
    }
}
