package io.gptneo.tensor;

import static io.gptneo.tensor.NativeVectors.LOAD_INTS;
import static io.gptneo.tensor.NativeVectors.STORE_SHORTS;

import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Fast float32 → bf16 rounding ({@link Bf16#round}'s rule, bit for bit) from native float memory into native short
 * memory, a vector of ints at a time, in parallel blocks. Reference: {@link Bf16#roundInto}'s scalar loop; agreement:
 * {@code Bf16Test}. Why: a bf16 step rounds every activation that enters a base product (tens of millions per 125M
 * step), which as a scalar loop through a Java staging array costs a sizeable part of what bf16 saves.
 */
final class FastBf16 {
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(I.vectorBitSize() / 2));
    private static final int CHUNK = 1 << 16;

    private FastBf16() {}

    /** dst[i] = round(src[i]) for i in [0, n): src n floats, dst n shorts. */
    static void roundInto(NativeMemory src, NativeMemory dst, int n) {
        Blocks.run(n, CHUNK, (lo, hi) -> round(src, dst, lo, hi));
    }

    private static void round(NativeMemory src, NativeMemory dst, int lo, int hi) {
        int i = lo;
        try {
            for (int end = lo + I.loopBound(hi - lo); i < end; i += I.length()) {
                IntVector b = (IntVector) LOAD_INTS.invokeExact(I, src, i * 4);
                IntVector hiBits = b.lanewise(VectorOperators.LSHR, 16);
                IntVector r =
                        b.add(hiBits.and(1)).add(0x7fff).lanewise(VectorOperators.LSHR, 16); // nearest, ties to even
                VectorMask<Integer> nan = b.and(0x7fffffff).compare(VectorOperators.GT, 0x7f800000);
                r = r.blend(hiBits.or(0x40), nan); // NaN stays a quiet NaN
                STORE_SHORTS.invokeExact((ShortVector) r.convertShape(VectorOperators.I2S, S, 0), dst, i * 2);
            }
        } catch (Throwable t) {
            throw NativeVectors.rethrow(t);
        }
        for (; i < hi; i++) dst.buf.putShort(i * 2, Bf16.round(src.buf.getFloat(i * 4)));
    }
}
