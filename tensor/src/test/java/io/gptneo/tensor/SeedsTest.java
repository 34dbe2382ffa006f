package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link Seeds} is SplittableRandom's mixing: its stream is SplittableRandom's, draw for draw. */
class SeedsTest {
    @Test
    void streamIsSplittableRandom() {
        for (long seed : new long[] {0, 1, -7, 0x5EED_0002L, Long.MAX_VALUE}) {
            SplittableRandom r = new SplittableRandom(seed);
            for (int i = 0; i < 100; i++)
                assertEquals(r.nextLong(), Seeds.stream(seed, i), "seed " + seed + " draw " + i);
        }
    }

    @Test
    void mixIsTheFinaliserOfTheWeightedSum() {
        assertEquals(Seeds.mix64(3 * Seeds.GOLDEN + 4 * Seeds.M1 + 5 * Seeds.M2), Seeds.mix(3, 4, 5));
        assertEquals(Seeds.stream(11, 0), Seeds.mix64(11 + Seeds.GOLDEN));
        assertNotEquals(Seeds.mix(1, 2, 3), Seeds.mix(1, 3, 2), "keys are not symmetric");
    }
}
