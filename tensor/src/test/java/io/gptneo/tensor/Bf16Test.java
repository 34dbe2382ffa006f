package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * bf16 products: the rounding rule, the fast kernel (oneDNN) against the reference (float32 product of the
 * bf16-rounded operands), {@link Ops#linear} / {@link Ops#loraLinear} on a frozen BFLOAT16 weight, forward and the
 * input gradient, and the documented tolerance against the float32 product.
 */
class Bf16Test {
    /** |bf16 product − float32 product| ≤ BF16_TOL · Σ|a||b| per entry: each operand's rounding is ≤ 2^-9 relative. */
    static final double BF16_TOL = 0x1p-8;
    /** Fast vs reference: same bf16 operands, float32 accumulation in another order. */
    static final double SAME_OPERANDS_TOL = 1e-5;

    @Test
    void roundsToNearestEvenAndKeepsSpecials() {
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 200_000; i++) {
            float f = i < 1000
                    ? Float.intBitsToFloat((r.nextInt(1 << 15) << 16) | 0x8000)
                    : Float.intBitsToFloat(r.nextInt()); // ties first
            if (Float.isNaN(f) || Float.isInfinite(f)) continue;
            int bits = Float.floatToRawIntBits(f);
            float down = Float.intBitsToFloat(bits & 0xffff0000),
                    up = Float.intBitsToFloat((bits & 0xffff0000) + 0x10000);
            float got = Bf16.value(Bf16.round(f));
            double dGot = Math.abs((double) got - f),
                    dDown = Math.abs((double) down - f),
                    dUp = Math.abs((double) up - f);
            assertTrue(
                    got == down || got == up || (Float.isInfinite(got) && Float.isInfinite(up)), "neighbour of " + f);
            assertTrue(dGot <= Math.min(dDown, dUp) || Float.isInfinite(got), "nearest for " + f);
            if (dDown == dUp) assertEquals(0, (Float.floatToRawIntBits(got) >>> 16) & 1, "tie to even for " + f);
        }
        assertTrue(Float.isNaN(Bf16.value(Bf16.round(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Bf16.value(Bf16.round(Float.POSITIVE_INFINITY)));
        assertEquals(Float.NEGATIVE_INFINITY, Bf16.value(Bf16.round(-Float.MAX_VALUE)), "rounds past the largest bf16");
        assertEquals(1.5f, Bf16.value(Bf16.round(1.5f)));
    }

    @Test
    void fastRoundingIsBitExactWithTheReference() {
        SplittableRandom r = new SplittableRandom(8);
        for (int n : new int[] {1, 15, 17, 100_003, 200_000}) { // ragged tails, several parallel blocks
            float[] x = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = switch (i % 7) {
                    case 0 -> Float.intBitsToFloat(r.nextInt()); // anything, NaN and Inf included
                    case 1 -> Float.intBitsToFloat((r.nextInt(1 << 15) << 16) | 0x8000); // exact ties
                    default -> (float) r.nextGaussian();
                };
            }
            try (FloatView v = FloatView.read(Nd4j.createFromArray(x));
                    org.bytedeco.javacpp.ShortPointer fast = new org.bytedeco.javacpp.ShortPointer(n);
                    org.bytedeco.javacpp.ShortPointer ref = new org.bytedeco.javacpp.ShortPointer(n)) {
                FastBf16.roundInto(v.mem, NativeMemory.of(fast.capacity(n).asByteBuffer()), n);
                Bf16.roundIntoReference(v, ref);
                short[] a = new short[n], b = new short[n];
                fast.position(0).get(a);
                ref.position(0).get(b);
                for (int i = 0; i < n; i++) assertEquals(b[i], a[i], "element " + i + " of " + n + ": " + x[i]);
            }
        }
    }

    @Test
    void bf16ArraysHoldTheRoundedValues() {
        INDArray a = Rand.normal(DataType.FLOAT, 5, 1.0, 37, 29);
        INDArray h = Bf16.of(a);
        assertEquals(DataType.BFLOAT16, h.dataType());
        INDArray r = Bf16.rounded(a);
        assertEquals(r, h.castTo(DataType.FLOAT));
        for (int i = 0; i < 37; i += 7)
            for (int j = 0; j < 29; j += 5) assertEquals(Bf16.value(Bf16.round(a.getFloat(i, j))), r.getFloat(i, j));
        assertEquals(r.getRow(3), Bf16.rounded(a.getRow(3)), "a view");
    }

    @Test
    void fastKernelAgreesWithTheReference() {
        Assumptions.assumeTrue(OneDnnBf16.available(), "oneDNN bf16 matmul not available here");
        System.out.println("bf16 products: " + OneDnnBf16.describe());
        int[][] shapes = {{1, 7, 5}, {33, 65, 17}, {3, 1, 2}, {128, 768, 768}, {17, 768, 3072}, {64, 3072, 768}};
        for (int[] s : shapes) {
            for (boolean transB : new boolean[] {true, false}) {
                for (boolean transA : new boolean[] {false, true}) {
                    int m = s[0], k = s[1], n = s[2];
                    INDArray a = Rand.normal(
                            DataType.FLOAT, m * 31L + k, 1.0, transA ? new long[] {k, m} : new long[] {m, k});
                    INDArray w = Bf16.of(Rand.normal(
                            DataType.FLOAT, n * 7L + 1, 0.05, transB ? new long[] {n, k} : new long[] {k, n}));
                    INDArray bias = transA ? null : Rand.normal(DataType.FLOAT, 9, 1.0, n);
                    INDArray fast = OneDnnBf16.mm(a, w, transA, transB, bias);
                    INDArray ref = Reference.bf16mm(a, w, transA, transB, bias);
                    INDArray mag = magnitude(a, w, transA, transB);
                    assertWithin(
                            m + "x" + k + "x" + n + (transA ? " Aᵀ" : "") + (transB ? " Bᵀ" : ""),
                            ref,
                            fast,
                            mag,
                            SAME_OPERANDS_TOL);
                    // and the documented bf16 tolerance against the float32 product of the unrounded operands
                    INDArray fp32 = Gemm.mm(a, w.castTo(DataType.FLOAT), transA, transB, bias);
                    assertWithin("bf16 vs fp32", fp32, fast, mag, BF16_TOL);
                }
            }
        }
    }

    @Test
    void linearAndLoraLinearTakeAFrozenBf16Weight() {
        INDArray w32 = Rand.normal(DataType.FLOAT, 1, 0.05, 48, 40);
        Tensor w = Tensor.constant(Bf16.of(w32));
        Tensor bias = Tensor.constant(Rand.normal(DataType.FLOAT, 2, 0.1, 48));
        Tensor x = Tensor.parameter(Rand.normal(DataType.FLOAT, 3, 1.0, 2, 9, 40));
        Tensor y = Ops.linear(x, w, bias);
        INDArray x2 = x.data().reshape(18, 40);
        INDArray expected =
                Reference.bf16mm(x2, w.data(), false, true, bias.data()).reshape(2, 9, 48);
        INDArray mag = magnitude(x2, w.data(), false, true).reshape(2, 9, 48);
        assertWithin("linear forward", expected, y.data(), mag, SAME_OPERANDS_TOL);
        INDArray g = Rand.normal(DataType.FLOAT, 4, 1.0, 2, 9, 48);
        y.backward(g);
        INDArray dx = Reference.bf16mm(g.reshape(18, 48), w.data(), false, false, null)
                .reshape(2, 9, 40);
        assertWithin(
                "linear dx",
                dx,
                x.grad(),
                magnitude(g.reshape(18, 48), w.data(), false, false).reshape(2, 9, 40),
                SAME_OPERANDS_TOL);

        Tensor a = Tensor.parameter(Rand.normal(DataType.FLOAT, 5, 0.1, 4, 40)),
                b = Tensor.parameter(Rand.normal(DataType.FLOAT, 6, 0.1, 48, 4));
        Tensor xl = Tensor.parameter(x.data().dup());
        Tensor yl = Ops.loraLinear(xl, w, bias, a, b, 2.0, 0, 0);
        INDArray side = Ops.linear(Ops.linear(Tensor.constant(x.data()), a, null), b, null)
                .data()
                .mul(2.0);
        assertWithin("loraLinear forward", expected.add(side), yl.data(), mag.add(1), SAME_OPERANDS_TOL);
        yl.backward(g);
        assertTrue(a.grad() != null && b.grad() != null && xl.grad() != null);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.parameter(Bf16.of(w32)));
        assertTrue(e.getMessage().contains("BFLOAT16"), e.getMessage());
        assertThrows(
                IllegalArgumentException.class,
                () -> Ops.linear(Tensor.constant(x.data().castTo(DataType.DOUBLE)), w, null));
    }

    /** Σ_k |a_ik| |b_kj| [M, N]: the scale of each entry's rounding error. */
    static INDArray magnitude(INDArray a, INDArray b, boolean transA, boolean transB) {
        return Gemm.mm(Transforms.abs(a, true), Transforms.abs(b.castTo(DataType.FLOAT), true), transA, transB);
    }

    static void assertWithin(String what, INDArray expected, INDArray actual, INDArray mag, double tol) {
        assertEquals(
                java.util.Arrays.toString(expected.shape()),
                java.util.Arrays.toString(actual.shape()),
                what + " shape");
        INDArray excess =
                Transforms.abs(expected.sub(actual), false).subi(mag.mul(tol).addi(1e-30));
        double worst = excess.maxNumber().doubleValue();
        assertTrue(worst <= 0, what + ": error exceeds " + tol + "·Σ|a||b| by " + worst);
        assertTrue(Nd4j.getExecutioner() != null);
    }
}
