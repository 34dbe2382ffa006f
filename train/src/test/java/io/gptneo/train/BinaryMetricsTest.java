package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.eval.BinaryMetrics;
import java.util.List;
import org.junit.jupiter.api.Test;

class BinaryMetricsTest {

    @Test
    void confusionPrecisionRecallF1() {
        double[] c = {2.0, 0.5, -1.0, -0.2, 0.0, 3.0};
        boolean[] u = {true, false, true, false, false, true};
        BinaryMetrics m = BinaryMetrics.of(c, u);
        // predicted unsafe (cost > 0): 0,1,5 ; 0.0 counts as safe
        assertEquals(2, m.tp());
        assertEquals(1, m.fp());
        assertEquals(2, m.tn());
        assertEquals(1, m.fn());
        assertEquals(3, m.positives());
        assertEquals(4.0 / 6, m.accuracy(), 1e-12);
        assertEquals(2.0 / 3, m.precision(), 1e-12);
        assertEquals(2.0 / 3, m.recall(), 1e-12);
        assertEquals(2.0 / 3, m.f1(), 1e-12);
    }

    @Test
    void aurocMatchesPairCountingWithTies() {
        assertEquals(
                0.75,
                BinaryMetrics.auroc(new double[] {0.1, 0.4, 0.35, 0.8}, new boolean[] {false, false, true, true}),
                1e-12);
        // pos {1,2} vs neg {1,0}: (0.5 + 1 + 1 + 1) / 4
        assertEquals(
                0.875, BinaryMetrics.auroc(new double[] {1, 1, 2, 0}, new boolean[] {true, false, true, false}), 1e-12);
        assertEquals(
                0.5, BinaryMetrics.auroc(new double[] {3, 3, 3, 3}, new boolean[] {true, false, true, false}), 1e-12);
        assertEquals(0.0, BinaryMetrics.auroc(new double[] {0, 1}, new boolean[] {true, false}), 1e-12);
        assertTrue(Double.isNaN(BinaryMetrics.auroc(new double[] {0, 1}, new boolean[] {true, true})));
        // brute force on random scores with many ties
        java.util.Random r = new java.util.Random(3);
        double[] s = new double[300];
        boolean[] p = new boolean[300];
        for (int i = 0; i < s.length; i++) {
            s[i] = r.nextInt(20);
            p[i] = r.nextDouble() < 0.4 + s[i] / 50;
        }
        double num = 0, den = 0;
        for (int i = 0; i < s.length; i++)
            for (int j = 0; j < s.length; j++) {
                if (p[i] && !p[j]) {
                    den++;
                    num += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
                }
            }
        assertEquals(num / den, BinaryMetrics.auroc(s, p), 1e-12);
    }

    @Test
    void rocCurveEndpointsAndTrapezoidArea() {
        double[] s = {0.1, 0.4, 0.35, 0.8, 0.4};
        boolean[] p = {false, false, true, true, true};
        List<double[]> pts = BinaryMetrics.rocCurve(s, p);
        assertArrayEquals(new double[] {0, 0}, pts.get(0), 0);
        assertArrayEquals(new double[] {1, 1}, pts.get(pts.size() - 1), 0);
        double area = 0;
        for (int i = 1; i < pts.size(); i++)
            area += (pts.get(i)[0] - pts.get(i - 1)[0]) * (pts.get(i)[1] + pts.get(i - 1)[1]) / 2;
        assertEquals(BinaryMetrics.auroc(s, p), area, 1e-12, "trapezoids over tie groups = rank AUROC");
    }

    @Test
    void rankingAccuracyIsStrict() {
        assertEquals(0.5, BinaryMetrics.rankingAccuracy(new double[] {0, 1, 2, 3}, new double[] {1, 1, 3, 2}), 1e-12);
        assertTrue(Double.isNaN(BinaryMetrics.rankingAccuracy(new double[0], new double[0])));
    }
}
