package io.gptneo.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector-API exp, tanh and lane sums built only from IEEE-exact lane operations (add, mul, fma, compare, bit shifts).
 *
 * <p>Why not {@code VectorOperators.EXP}/{@code TANH} and {@code reduceLanes(ADD)}: their results depend on the JIT
 * tier. Compiled code calls Intel's SVML stubs and a tree-shaped reduction; the interpreter and C1 fall back to
 * per-lane {@code Math} calls and another summation order. The same JVM therefore computed different float bits for the
 * first training step than for later ones, and a fresh JVM (a resumed run) diverged from an uninterrupted one.
 * These give one answer everywhere.
 */
public final class VectorMath {
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f; // LN2_HI has 10 bits: k·LN2_HI is exact
    private static final float ROUND = 12582912f; // 1.5·2^23: x + ROUND - ROUND rounds to nearest
    private static final float MAX_ARG = 88.3762626647949f, MIN_ARG = -87.3365447505531f;

    private VectorMath() {}

    /**
     * e^x per lane: x = k·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial (relative error {@literal <} 1e-8 there),
     * times 2^k built in the exponent bits. Below −87.34 (including −∞) gives 0, above 88.38 +∞.
     */
    public static FloatVector exp(FloatVector x) {
        VectorMask<Float> under = x.lt(MIN_ARG), over = x.compare(VectorOperators.GT, MAX_ARG);
        // out-of-range lanes compute exp(0) and are blended away below; clamped to MIN_ARG they would produce a
        // subnormal product (masked attention scores are -inf), which x86 may handle with a slow microcode assist
        FloatVector c = x.blend(0f, under.or(over));
        FloatVector kr = c.mul(LOG2E).add(ROUND); // k + 1.5·2^23: k sits in the low mantissa bits
        FloatVector k = kr.sub(ROUND);
        FloatVector p = reducedExp(c, k);
        // 2^k: k in [-126, 128], read from kr's bits without a float-to-int conversion (kr's bits are
        // 0x4B400000 + k, and shifting by 23 below drops the constant); split in two factors so k = 128 and
        // k = -126 stay representable
        IntVector ki = kr.reinterpretAsInts().sub(0x4B400000);
        IntVector half = ki.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = half.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 =
                ki.sub(half).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector e = p.mul(s1).mul(s2);
        return e.blend(0f, under).blend(Float.POSITIVE_INFINITY, over);
    }

    /** Below this, {@link #expSoftmax} gives exactly 0: e^-80 ≈ 1.8e-35 is far from float's subnormals. */
    public static final float SOFTMAX_MIN_ARG = -80f;

    /**
     * e^x for the shifted scores of a softmax, {@code x = s - max} or {@code s - logsumexp}: x at most a few ulps above
     * 0 (any x up to 88 is exact as in {@link #exp}); below {@link #SOFTMAX_MIN_ARG}, −∞ included, exactly 0; NaN stays
     * NaN. The same reduction and polynomial as {@link #exp} (so the same accuracy where both are non-zero), in about
     * half the lane operations: with k in [-116, 127] one power of two 2^k is a normal float, built by one add and one
     * shift, and only one bound needs a mask. Softmax probabilities under 1.8e-35 become 0, which changes no sum.
     */
    public static FloatVector expSoftmax(FloatVector x) {
        VectorSpecies<Float> sp = x.species();
        VectorMask<Float> under = x.lt(SOFTMAX_MIN_ARG);
        FloatVector c = x.max(SOFTMAX_MIN_ARG); // −∞ lanes compute e^-80 and are blended to 0 below
        FloatVector kr = c.fma(FloatVector.broadcast(sp, LOG2E), FloatVector.broadcast(sp, ROUND)); // k + 1.5·2^23
        FloatVector k = kr.sub(ROUND);
        FloatVector p = reducedExp(c, k);
        // kr's bits are 0x4B400000 + k; shifting (bits + 127) left by 23 drops 0x4B400000 (its lowest set bit is
        // bit 22) and leaves k + 127 in the exponent field: 2^k
        FloatVector scale = kr.reinterpretAsInts()
                .add(127)
                .lanewise(VectorOperators.LSHL, 23)
                .reinterpretAsFloats();
        return p.mul(scale).blend(0f, under);
    }

    /**
     * e^r for r = c − k·ln2 (|r| ≤ ln2/2 when k is c/ln2 rounded), by its degree-7 Taylor polynomial: the part that
     * {@link #exp} and {@link #expSoftmax} share.
     */
    private static FloatVector reducedExp(FloatVector c, FloatVector k) {
        VectorSpecies<Float> sp = c.species();
        FloatVector r = k.fma(FloatVector.broadcast(sp, -LN2_HI), c);
        r = k.fma(FloatVector.broadcast(sp, -LN2_LO), r);
        FloatVector p = FloatVector.broadcast(sp, 1f / 5040);
        p = p.fma(r, FloatVector.broadcast(sp, 1f / 720));
        p = p.fma(r, FloatVector.broadcast(sp, 1f / 120));
        p = p.fma(r, FloatVector.broadcast(sp, 1f / 24));
        p = p.fma(r, FloatVector.broadcast(sp, 1f / 6));
        p = p.fma(r, FloatVector.broadcast(sp, 0.5f));
        p = p.fma(r, FloatVector.broadcast(sp, 1f));
        p = p.fma(r, FloatVector.broadcast(sp, 1f));
        return p;
    }

    /** tanh per lane as sign(u)·(1 − 2/(e^{2|u|} + 1)); absolute error ~1e-7 (it is used as 1 + tanh). */
    public static FloatVector tanh(FloatVector u) {
        FloatVector a = u.abs();
        FloatVector e = exp(a.add(a));
        FloatVector t = FloatVector.broadcast(u.species(), 1f)
                .sub(FloatVector.broadcast(u.species(), 2f).div(e.add(1f)));
        return t.blend(t.neg(), u.lt(0f));
    }

    /**
     * Sum of the lanes in a fixed pairwise tree: lane i plus lane i + n/2, then the same on the first half, down to
     * lane 0 (n the lane count). Every step is an exact lane-wise add of a fixed rearrangement, so the interpreter, C1
     * and C2 give the same bits, unlike {@code reduceLanes(ADD)}; and, unlike a loop over {@code toArray()}, C2 keeps
     * it in registers (the array version was a call and an allocation per reduction in the attention kernel's rows).
     */
    public static float sum(FloatVector v) {
        VectorShuffle<Float>[] halves = Halves.of(v.species());
        if (halves == null) { // a species we have no shuffles for: the same tree, lane by lane
            float[] a = v.toArray();
            return sumLanes(a, 0, a.length);
        }
        for (VectorShuffle<Float> h : halves) v = v.add(v.rearrange(h));
        return v.lane(0);
    }

    /**
     * {@link #sum}'s rearrangements for the preferred species ({@code null} for another), for kernels that write the
     * tree out themselves: {@code for (h : halves) v = v.add(v.rearrange(h)); v.lane(0)}. Why: a vector passed to a
     * method that C2 does not inline is boxed, an allocation per call, and in a large kernel (the fused attention's
     * per-head loops) C2's inlining budget runs out before such calls; there, calls to {@link #sum} cost 12 MB of
     * garbage per attention forward at B=2,T=256. The loop over an array of shuffles crosses no call.
     */
    public static VectorShuffle<Float>[] halves(VectorSpecies<Float> species) {
        return Halves.of(species);
    }

    /**
     * The same tree over {@code n} (a power of two) lanes stored at {@code a[at ..]}, in place (the lanes are
     * overwritten): the same bits as {@link #sum} of a vector holding them. For hot kernels, which store an
     * accumulator with {@code intoArray} and sum here, so that no vector crosses a call C2 might not inline.
     */
    public static float sumLanes(float[] a, int at, int n) {
        for (int h = n / 2; h >= 1; h /= 2) for (int i = 0; i < h; i++) a[at + i] += a[at + i + h];
        return a[at];
    }

    /** The tree's rearrangements for the preferred species: lane i takes lane (i + n) mod L for n = L/2, L/4, ..., 1. */
    private static final class Halves {
        private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
        private static final VectorShuffle<Float>[] PREFERRED = make(SP);

        static VectorShuffle<Float>[] of(VectorSpecies<Float> sp) {
            return sp.equals(SP) ? PREFERRED : null;
        }

        @SuppressWarnings("unchecked")
        private static VectorShuffle<Float>[] make(VectorSpecies<Float> sp) {
            int lanes = sp.length(), steps = Integer.numberOfTrailingZeros(lanes);
            VectorShuffle<Float>[] h = new VectorShuffle[steps];
            for (int k = 0, n = lanes / 2; k < steps; k++, n /= 2) {
                int shift = n;
                h[k] = VectorShuffle.fromOp(sp, i -> (i + shift) % lanes);
            }
            return h;
        }
    }
}
