package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.eval.BinaryMetrics;
import io.gptneo.train.eval.Bootstrap;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BootstrapTest {
    /** n noisy costs: unsafe rows centred at +0.5, safe at -0.5, unit noise. */
    static double[] costs(boolean[] unsafe, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] c = new double[unsafe.length];
        for (int i = 0; i < c.length; i++) {
            unsafe[i] = r.nextBoolean();
            c[i] = (unsafe[i] ? 0.5 : -0.5) + r.nextGaussian();
        }
        return c;
    }

    @Test
    void intervalsContainThePointEstimateAndRepeatForASeed() {
        boolean[] u = new boolean[400];
        double[] c = costs(u, 1);
        Bootstrap.Interval[] m = Bootstrap.responses(c, u, 1000, 42);
        BinaryMetrics all = BinaryMetrics.of(c, u);
        assertEquals(all.accuracy(), m[0].value());
        assertEquals(all.auroc(), m[1].value());
        assertEquals(all.f1(), m[2].value());
        for (Bootstrap.Interval i : m) {
            assertTrue(i.lo() <= i.value() && i.value() <= i.hi(), i.toString());
            assertTrue(i.hi() - i.lo() > 0.01, "a real spread: " + i);
        }
        Bootstrap.Interval[] again = Bootstrap.responses(c, u, 1000, 42);
        assertArrayEquals(m, again);
        assertNotEquals(m[0], Bootstrap.responses(c, u, 1000, 43)[0]);
    }

    @Test
    void moreRowsGiveANarrowerInterval() {
        boolean[] us = new boolean[200], ul = new boolean[3200];
        Bootstrap.Interval small = Bootstrap.responses(costs(us, 2), us, 1000, 42)[0];
        Bootstrap.Interval large = Bootstrap.responses(costs(ul, 2), ul, 1000, 42)[0];
        double ws = small.hi() - small.lo(), wl = large.hi() - large.lo();
        // the width shrinks as 1/sqrt(n): 16x the rows, about a quarter of the width
        assertTrue(wl < 0.4 * ws, "widths " + ws + " and " + wl);
    }

    @Test
    void pairsAreResampledAsUnits() {
        // 100 pairs, the first 70 ranked right; signs right for both responses in the first 50 only
        double[] c = new double[200];
        boolean[] u = new boolean[200];
        int[] safer = new int[100];
        for (int p = 0; p < 100; p++) {
            safer[p] = p % 2;
            u[2 * p + safer[p]] = false;
            u[2 * p + 1 - safer[p]] = true;
            double lo = p < 50 ? -1 : 0.5, hi = p < 50 ? 1 : 2;
            c[2 * p + safer[p]] = p < 70 ? lo : hi;
            c[2 * p + 1 - safer[p]] = p < 70 ? hi : lo;
        }
        Bootstrap.Interval[] m = Bootstrap.pairs(c, u, safer, 500, 3);
        assertEquals(0.70, m[1].value(), 1e-12);
        assertEquals(BinaryMetrics.of(c, u).accuracy(), m[0].value(), 1e-12);
        assertTrue(m[1].lo() < 0.70 && m[1].hi() > 0.70 && m[1].lo() > 0.55 && m[1].hi() < 0.85, m[1].toString());
    }
}
