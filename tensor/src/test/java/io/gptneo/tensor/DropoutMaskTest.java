package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The integer-threshold mask equals the definition (keep iff nextDouble() >= p) draw for draw. */
class DropoutMaskTest {

    @Test
    void keepBitsMatchTheNextDoubleDefinition() {
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
                for (int i = n; i < bits.length * 64; i++)
                    assertTrue(!DropoutMask.kept(bits, i), "bit past the end set: " + i);
                if (n == 1000 && p == 0.5) assertTrue(kept > 400 && kept < 600, "kept " + kept);
            }
        }
        // several parallel blocks of 64K draws, and a ragged end
        int n = 200_003;
        long[] bits = DropoutMask.keep(n, 0.05, 99);
        SplittableRandom rng = new SplittableRandom(99);
        for (int i = 0; i < n; i++)
            assertEquals(rng.nextDouble() >= 0.05, DropoutMask.kept(bits, i), "element " + i + " of " + n);
    }

    @Test
    void keepRowsAreThoseRowsOfTheWholeMask() {
        int width = 77, rowsTotal = 40; // rows straddle words, and the whole mask spans several vector blocks
        long[] whole = DropoutMask.keep(rowsTotal * width, 0.3, 5);
        int[] rows = {39, 0, 17, 17, 1};
        long[] sel = DropoutMask.keepRows(rows, width, 0.3, 5);
        assertEquals((rows.length * width + 63) / 64, sel.length);
        for (int r = 0; r < rows.length; r++)
            for (int c = 0; c < width; c++)
                assertEquals(
                        DropoutMask.kept(whole, rows[r] * width + c),
                        DropoutMask.kept(sel, r * width + c),
                        "row " + rows[r] + " column " + c);
        for (int i = rows.length * width; i < sel.length * 64; i++)
            assertTrue(!DropoutMask.kept(sel, i), "bit past the end set: " + i);
    }

    @Test
    void referenceZeroesDroppedAndScalesKept() {
        long[] bits = DropoutMask.keep(130, 0.4, 3);
        INDArray v = Nd4j.arange(1, 131).castTo(DataType.FLOAT),
                d = Nd4j.arange(1, 131).castTo(DataType.DOUBLE).negi();
        float[] vf = JavaArrays.floats(Reference.dropout(v, bits, 2.5, null));
        double[] dd = JavaArrays.doubles(Reference.dropout(d, bits, 2.5, null));
        for (int i = 0; i < 130; i++) {
            boolean k = DropoutMask.kept(bits, i);
            assertEquals(k ? (i + 1) * 2.5f : 0f, vf[i], 0f);
            assertEquals(k ? -(i + 1) * 2.5 : 0.0, dd[i], 0.0);
        }
    }
}
