package io.gptneo.train.optim;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

class LrScheduleTest {
    @Test
    void cosineWithWarmupGivesTheFixtureTrajectoryRates() {
        // lora-tiny/expected.json trajectory: lr 0.005, warmup 2, 6 steps
        double[] expected = {0.0, 0.0025, 0.005, 0.004267766952966369, 0.0025, 0.0007322330470336313};
        LrSchedule s = LrSchedule.of("cosine", 2, 6);
        for (int k = 0; k < 6; k++) assertEquals(expected[k], s.lr(0.005, k), 1e-18, "step " + k);
        assertEquals(0.0, s.factor(6), 1e-18);
        // HF's formula is not clamped to the range: past `total` it rises again (progress > 1)
        assertEquals(0.5, s.factor(8), 1e-12);
    }

    @Test
    void linearWithWarmup() {
        LrSchedule s = LrSchedule.linear(4, 10);
        assertEquals(0.0, s.factor(0));
        assertEquals(0.25, s.factor(1));
        assertEquals(0.75, s.factor(3));
        assertEquals(1.0, s.factor(4));
        assertEquals(5.0 / 6, s.factor(5), 1e-15);
        assertEquals(1.0 / 6, s.factor(9), 1e-15);
        assertEquals(0.0, s.factor(10));
        assertEquals(0.0, s.factor(12));
        assertEquals(1.0, LrSchedule.linear(0, 10).factor(0), "no warmup: first step at full rate");
    }

    @Test
    void constantWithAndWithoutWarmup() {
        assertEquals(1.0, LrSchedule.of("constant", 0, 10).factor(0));
        LrSchedule w = LrSchedule.of("constant_with_warmup", 3, 10);
        assertEquals(0.0, w.factor(0));
        assertEquals(2.0 / 3, w.factor(2), 1e-15);
        assertEquals(1.0, w.factor(3));
        assertEquals(1.0, w.factor(1000));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.of("polynomial", 0, 10));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.linear(-1, 10));
    }

    @Test
    void cosineWithoutWarmupStartsAtOneAndHalvesAtMidpoint() {
        LrSchedule s = LrSchedule.cosine(0, 100);
        assertEquals(1.0, s.factor(0), 1e-15);
        assertEquals(0.5, s.factor(50), 1e-15);
        assertEquals(0.0, s.factor(100), 1e-15);
    }
}
