package io.gptneo.weights;

/**
 * Bit-exact conversions between float32 and the 16-bit formats IEEE binary16 (F16) and bfloat16 (BF16).
 * Widening is exact (subnormals, signed zeros, infinities, NaN payloads kept); narrowing rounds to nearest even.
 */
public final class HalfFloats {
    private HalfFloats() {}

    /** binary16 bits (sign 1, exponent 5 with bias 15, mantissa 10) to float. */
    public static float halfToFloat(short h) {
        int bits = h & 0xffff;
        int sign = (bits & 0x8000) << 16;
        int exp = (bits >>> 10) & 0x1f;
        int mant = bits & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13)); // inf / NaN (payload kept)
        if (exp == 0) {
            if (mant == 0) return Float.intBitsToFloat(sign); // signed zero
            // Subnormal: value = mant * 2^-24; normalise so the leading 1 sits at bit 10.
            int shift = Integer.numberOfLeadingZeros(mant) - 21; // 1..10
            mant = (mant << shift) & 0x3ff;
            exp = 1 - shift;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13)); // 112 = 127 - 15
    }

    /** bfloat16 bits are the high half of a float32. */
    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xffff) << 16);
    }

    /** float to binary16 bits, round to nearest even; overflow gives infinity, NaN stays NaN (quiet). */
    public static short floatToHalf(float f) {
        int x = Float.floatToRawIntBits(f);
        int sign = (x >>> 16) & 0x8000;
        int exp = (x >>> 23) & 0xff;
        int mant = x & 0x7fffff;
        if (exp == 0xff) {
            if (mant == 0) return (short) (sign | 0x7c00);
            return (short) (sign | 0x7e00 | (mant >>> 13)); // quiet NaN, top payload
        }
        int e = exp - 127 + 15; // binary16 biased exponent
        if (e >= 0x1f) return (short) (sign | 0x7c00);
        if (e <= 0) {
            if (e < -10) return (short) sign; // below half the smallest subnormal
            int m = mant | 0x800000; // implicit bit
            int shift = 14 - e; // 14..24
            int r = m >>> shift;
            int rem = m & ((1 << shift) - 1);
            int half = 1 << (shift - 1);
            if (rem > half || (rem == half && (r & 1) != 0)) r++;
            return (short) (sign | r); // a carry into 0x400 is the smallest normal
        }
        int r = (e << 10) | (mant >>> 13);
        int rem = mant & 0x1fff;
        if (rem > 0x1000 || (rem == 0x1000 && (r & 1) != 0)) r++; // a carry may overflow to inf: correct
        return (short) (sign | r);
    }

    /** float to bfloat16 bits, round to nearest even; NaN stays NaN (quiet). */
    public static short floatToBf16(float f) {
        int x = Float.floatToRawIntBits(f);
        if ((x & 0x7fffffff) > 0x7f800000) return (short) ((x >>> 16) | 0x0040);
        int lsb = (x >>> 16) & 1;
        return (short) ((x + 0x7fff + lsb) >>> 16);
    }
}
