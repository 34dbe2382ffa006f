package io.gptneo.tensor;

import static io.gptneo.tensor.NativeVectors.LOAD_FLOATS;
import static io.gptneo.tensor.NativeVectors.STORE_FLOATS;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Which elements inverted dropout keeps: element i is kept iff the i-th draw of {@code SplittableRandom(seed)}'s
 * {@code nextDouble()} is {@code >= p}. One definition for {@link Ops#dropout} and {@link Ops#loraLinear}, so a
 * fused LoRA layer drops exactly what the unfused composition drops for the same seed.
 */
final class DropoutMask {
    private DropoutMask() {}

    /** 512-bit lanes available (the Vector API module is in the boot layer and the CPU has them); else scalar. */
    private static final boolean VECTOR = VectorApi.PRESENT && Lanes.wide();

    /**
     * Keep bits for {@code n} elements, bit i of word i/64 set when element i is kept.
     *
     * <p>{@code SplittableRandom(seed)}'s i-th {@code nextLong()} is {@code mix64(seed + (i+1)·γ)} and
     * {@code nextDouble()} is {@code (nextLong() >>> 11)·2^-53}, so {@code nextDouble() >= p} is exactly
     * {@code (mix64(seed + (i+1)·γ) >>> 11) >= ceil(p·2^53)}: every draw is independent of the others, so they are
     * computed eight at a time in 64-bit vector lanes, in parallel blocks (the test checks them against
     * SplittableRandom itself).
     */
    static long[] keep(int n, double p, long seed) {
        long threshold = threshold(p);
        long[] bits = new long[(n + 63) >>> 6];
        Blocks.run(bits.length, WORDS_PER_BLOCK, (w0, w1) -> fill(bits, w0, w1, n, threshold, seed));
        return bits;
    }

    /**
     * Keep bits of selected rows: the mask {@link #keep} draws over a {@code [*, width]} input, read at rows
     * {@code rows} only, as a {@code [rows.length, width]} mask (bit {@code i·width + c} is element
     * {@code rows[i]·width + c} of the whole mask). For a product over gathered rows whose dropout must be the one
     * drawn over every row (the cost head's last-token queries); draws only what it returns.
     */
    static long[] keepRows(int[] rows, int width, double p, long seed) {
        long threshold = threshold(p);
        long[] bits = new long[(int) (((long) rows.length * width + 63) >>> 6)];
        for (int r = 0; r < rows.length; r++) {
            if (rows[r] < 0) throw new IllegalArgumentException("dropout: negative row " + rows[r]);
            long from = (long) rows[r] * width;
            for (int c = 0; c < width; c++) {
                int i = r * width + c;
                bits[i >>> 6] |= keptBit(seed, from + c, threshold) << i;
            }
        }
        return bits;
    }

    /** ceil(p·2^53), in [1, 2^53]: draw i is kept iff its top 53 bits are at least this. */
    private static long threshold(double p) {
        if (!(p > 0 && p < 1)) throw new IllegalArgumentException("dropout: p must be in (0, 1), got " + p);
        return (long) Math.ceil(p * 0x1.0p53);
    }

    /** 1 iff element i of the mask with this seed is kept (u >= threshold: the sign bit of threshold - 1 - u), else 0. */
    private static long keptBit(long seed, long i, long threshold) {
        long u = Seeds.stream(seed, i) >>> 11;
        return (threshold - 1 - u) >>> 63;
    }

    /** 64K draws per parallel block: a [512, 768] activation is 6 blocks. */
    private static final int WORDS_PER_BLOCK = 1024;

    /** Words [w0, w1) of the keep bits. */
    private static void fill(long[] bits, int w0, int w1, int n, long threshold, long seed) {
        int w = VECTOR ? Lanes.fill(bits, w0, w1, n, threshold, seed) : w0;
        for (int i = w << 6, end = Math.min(n, w1 << 6);
                i < end;
                i++) { // the tail (and everything without 512-bit lanes)
            bits[i >>> 6] |= keptBit(seed, i, threshold) << i;
        }
    }

    /**
     * Fast float32 masking: {@code dst = kept ? src·keepScale : 0} over two FLOAT arrays (they may be the same), on
     * their own memory, 16 elements per keep-bit chunk; {@link Reference#dropout} is its reference. Only where
     * {@link #FAST} holds. Why: a [512, 768] mask is one pass, against a mask array and an ND4J multiply.
     */
    static INDArray apply(INDArray src, long[] bits, float keepScale, INDArray into) {
        try (FloatView s = FloatView.read(src);
                FloatView d = into == null ? FloatView.create(src.shape()) : FloatView.update(into)) {
            NativeMemory sb = s.mem, db = d.mem;
            Blocks.run(s.length(), 1 << 16, (lo, hi) -> Lanes.apply(sb, db, bits, keepScale, lo, hi));
            return into == null ? d.array() : into;
        }
    }

    /** {@link #apply} is available: 16-float vectors (the mask of 16 elements is 16 bits of one keep word). */
    static final boolean FAST = VECTOR && VectorApi.NATIVE_LOADS && Lanes.floats16();

    /** The vector path, in its own class so that nothing loads jdk.incubator.vector when the module is absent. */
    static final class Lanes {
        private static final VectorSpecies<Long> LS = LongVector.SPECIES_512; // 8 draws per vector

        static boolean wide() {
            return LongVector.SPECIES_PREFERRED.length() >= 8;
        }

        /** Whole words from w0 while below w1 and n; returns the first word not done. */
        static int fill(long[] bits, int w0, int w1, int n, long threshold, long seed) {
            LongVector step = LongVector.broadcast(LS, 8 * Seeds.GOLDEN);
            LongVector index = LongVector.zero(LS).addIndex(1); // lane j = 0..7
            LongVector lane = index.mul(Seeds.GOLDEN); // j·γ
            LongVector below = LongVector.broadcast(LS, threshold - 1);
            int w = w0;
            for (; w < w1 && (w + 1) << 6 <= n; w++) {
                LongVector z = lane.add(seed + (((long) w << 6) + 1) * Seeds.GOLDEN); // seed + (i+1)·γ
                LongVector acc = LongVector.zero(LS);
                for (int j = 0; j < 64; j += 8, z = z.add(step)) {
                    // lane j of draw i: 1 iff u >= threshold, i.e. the sign bit of (threshold - 1 - u), at bit j + lane
                    LongVector u = mix64(z).lanewise(VectorOperators.LSHR, 11);
                    acc = acc.or(below.sub(u)
                            .lanewise(VectorOperators.LSHR, 63)
                            .lanewise(VectorOperators.LSHL, index.add(j)));
                }
                bits[w] = acc.reduceLanes(VectorOperators.OR);
            }
            return w;
        }

        private static final VectorSpecies<Float> FS = FloatVector.SPECIES_512;
        private static final VectorSpecies<Integer> IS = IntVector.SPECIES_512;

        static boolean floats16() {
            return FloatVector.SPECIES_PREFERRED.length() == 16;
        }

        private static final IntVector LANE_BIT = IntVector.broadcast(IS, 1)
                .lanewise(VectorOperators.LSHL, IntVector.zero(IS).addIndex(1));

        /** Elements i..i+15 (i a multiple of 16): keepScale where kept, 0 where dropped (the factor to multiply by). */
        static FloatVector keepFactor(long[] bits, int i, float keepScale) {
            int chunk = (int) (bits[i >>> 6] >>> (i & 63)) & 0xFFFF;
            VectorMask<Float> keep = IntVector.broadcast(IS, chunk)
                    .and(LANE_BIT)
                    .compare(VectorOperators.NE, 0)
                    .cast(FS);
            return FloatVector.zero(FS).blend(keepScale, keep);
        }

        /** Elements [lo, hi) (lo a multiple of 16): 16 keep bits become a lane mask, kept lanes scaled, others 0. */
        static void apply(NativeMemory src, NativeMemory dst, long[] bits, float keepScale, int lo, int hi) {
            int i = lo, end = lo + ((hi - lo) & ~15);
            try {
                for (; i < end; i += 16) { // x·factor, as the array loop: −0 and NaN kept
                    FloatVector x = (FloatVector) LOAD_FLOATS.invokeExact(FS, src, i * 4);
                    STORE_FLOATS.invokeExact(x.mul(keepFactor(bits, i, keepScale)), dst, i * 4);
                }
            } catch (Throwable t) {
                throw NativeVectors.rethrow(t);
            }
            for (; i < hi; i++) dst.buf.putFloat(i * 4, src.buf.getFloat(i * 4) * (kept(bits, i) ? keepScale : 0f));
        }

        private static LongVector mix64(LongVector z) {
            z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 30))
                    .mul(0xbf58476d1ce4e5b9L);
            z = z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 27))
                    .mul(0x94d049bb133111ebL);
            return z.lanewise(VectorOperators.XOR, z.lanewise(VectorOperators.LSHR, 31));
        }
    }

    /** Whether element i is kept. */
    static boolean kept(long[] bits, int i) {
        return (bits[i >>> 6] & (1L << i)) != 0;
    }
}
