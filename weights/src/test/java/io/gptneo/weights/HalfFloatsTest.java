package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Exhaustive checks of the 16-bit conversions against references computed with exact arithmetic (Math.scalb). */
class HalfFloatsTest {

    /** binary16 value by definition: (-1)^s × 2^(e−15) × 1.m, subnormals 2^−14 × 0.m; e = 31 is inf/NaN. */
    static double refHalf(int bits) {
        int s = bits >>> 15 & 1, e = bits >>> 10 & 0x1f, m = bits & 0x3ff;
        double mag;
        if (e == 31) mag = m == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        else if (e == 0) mag = Math.scalb((double) m, -24);
        else mag = Math.scalb((double) (1024 + m), e - 25);
        return s == 1 ? -mag : mag;
    }

    /** bfloat16: (-1)^s × 2^(e−127) × 1.m with a 7-bit mantissa; subnormals 2^−126 × 0.m. */
    static double refBf16(int bits) {
        int s = bits >>> 15 & 1, e = bits >>> 7 & 0xff, m = bits & 0x7f;
        double mag;
        if (e == 255) mag = m == 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        else if (e == 0) mag = Math.scalb((double) m, -133);
        else mag = Math.scalb((double) (128 + m), e - 134);
        return s == 1 ? -mag : mag;
    }

    @Test
    void halfToFloatAllPatterns() {
        for (int b = 0; b < 65536; b++) {
            float got = HalfFloats.halfToFloat((short) b);
            double want = refHalf(b);
            if (Double.isNaN(want)) {
                assertTrue(Float.isNaN(got), "0x" + Integer.toHexString(b));
                // payload and sign carried into the top mantissa bits
                assertEquals(((b & 0x8000) << 16) | 0x7f800000 | ((b & 0x3ff) << 13), Float.floatToRawIntBits(got));
            } else {
                assertEquals(want, (double) got, 0.0, "0x" + Integer.toHexString(b));
                assertEquals(
                        Double.doubleToRawLongBits(want) < 0,
                        Float.floatToRawIntBits(got) < 0,
                        "sign of 0x" + Integer.toHexString(b));
            }
        }
        assertEquals(5.9604644775390625E-8f, HalfFloats.halfToFloat((short) 1)); // smallest subnormal 2^-24
        assertEquals(65504f, HalfFloats.halfToFloat((short) 0x7bff));
    }

    @Test
    void bf16ToFloatAllPatterns() {
        for (int b = 0; b < 65536; b++) {
            float got = HalfFloats.bf16ToFloat((short) b);
            double want = refBf16(b);
            if (Double.isNaN(want)) assertTrue(Float.isNaN(got));
            else {
                assertEquals(want, (double) got, 0.0, "0x" + Integer.toHexString(b));
                assertEquals(Double.doubleToRawLongBits(want) < 0, Float.floatToRawIntBits(got) < 0);
            }
        }
    }

    @Test
    void narrowingRoundTripsEveryPattern() {
        for (int b = 0; b < 65536; b++) {
            short s = (short) b;
            float h = HalfFloats.halfToFloat(s);
            float f = HalfFloats.bf16ToFloat(s);
            if (Float.isNaN(h)) assertTrue(Float.isNaN(HalfFloats.halfToFloat(HalfFloats.floatToHalf(h))));
            else assertEquals(s, HalfFloats.floatToHalf(h), "half 0x" + Integer.toHexString(b));
            if (Float.isNaN(f)) assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(f))));
            else assertEquals(s, HalfFloats.floatToBf16(f), "bf16 0x" + Integer.toHexString(b));
        }
    }

    /** Nearest representable value with ties to the even pattern, by search over the sorted positive patterns. */
    static int refRound(double x, double[] table) {
        double a = Math.abs(x);
        int sign = Double.doubleToRawLongBits(x) < 0 ? 0x8000 : 0;
        int i = Arrays.binarySearch(table, a);
        if (i >= 0) return sign | i;
        int hi = -i - 1;
        if (hi >= table.length) return sign | (table.length - 1); // beyond the infinity entry
        int lo = hi - 1;
        double dl = a - table[lo], dh = table[hi] - a;
        return sign | (dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi));
    }

    @Test
    void narrowingRoundsToNearestEven() {
        // positive finite patterns in increasing order, plus infinity standing for the next power of two
        double[] half = new double[0x7c01];
        for (int b = 0; b < 0x7c00; b++) half[b] = refHalf(b);
        half[0x7c00] = 65536.0;
        double[] bf = new double[0x7f81];
        for (int b = 0; b < 0x7f80; b++) bf[b] = refBf16(b);
        bf[0x7f80] = Math.scalb(1.0, 128);
        SplittableRandom r = new SplittableRandom(42);
        float[] edge = {
            0f,
            -0f,
            65504f,
            65519.99f,
            65520f,
            65536f,
            1e-8f,
            2.98e-8f,
            2.9802322e-8f,
            3e-8f,
            6.1035156e-5f,
            6.097555e-5f,
            Float.MIN_VALUE,
            Float.MAX_VALUE,
            1.00048828125f,
            1.00146484375f,
            3.3961776e38f,
            3.3961778e38f
        };
        for (int k = 0; k < 2_000_000 + edge.length; k++) {
            float f;
            if (k < edge.length) f = edge[k];
            else if (k % 2 == 0) f = Float.intBitsToFloat(r.nextInt()); // any float
            else f = (float) (r.nextDouble(-70000, 70000) * Math.pow(2, -r.nextInt(30))); // the half range
            if (Float.isNaN(f)) continue;
            assertEquals(refRound(f, half), HalfFloats.floatToHalf(f) & 0xffff, "half of " + f);
            assertEquals(refRound(f, bf), HalfFloats.floatToBf16(f) & 0xffff, "bf16 of " + f);
        }
        // ties: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10 and goes to the even pattern (1.0)
        assertEquals((short) 0x3c00, HalfFloats.floatToHalf(1.00048828125f));
        assertEquals((short) 0x3c02, HalfFloats.floatToHalf(1.00146484375f));
        assertEquals((short) 0x7c00, HalfFloats.floatToHalf(65520f));
        assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(Float.intBitsToFloat(0x7f800001)))));
        assertTrue(Float.isNaN(HalfFloats.halfToFloat(HalfFloats.floatToHalf(Float.intBitsToFloat(0x7f800001)))));
    }
}
