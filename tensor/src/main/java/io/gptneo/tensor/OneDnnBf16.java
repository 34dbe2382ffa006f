package io.gptneo.tensor;

import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.ShortPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

/**
 * Fast bf16 product: oneDNN's matmul primitive with bf16 source and weights and an f32 destination (its
 * {@code brg:avx512_core_bf16} implementation where the CPU has AVX512_BF16). {@code a [M, K]} FLOAT is rounded to bf16
 * into a staging buffer; {@code b} is a BFLOAT16 array used in place. Reference: {@link Reference#bf16mm}; agreement:
 * {@code Bf16Test}. Primitives are made once per shape and kept.
 */
final class OneDnnBf16 {
    private OneDnnBf16() {}

    /** The implementation oneDNN picks for a bf16 matmul here (e.g. brg:avx512_core_bf16), or null when unavailable. */
    static final String IMPLEMENTATION = probe();

    private static String probe() {
        try {
            return OneDnnMatmul.available() ? primitive(64, 64, 64, false).impl() : null;
        } catch (RuntimeException | LinkageError e) {
            LoggerFactory.getLogger(OneDnnBf16.class)
                    .info("oneDNN bf16 matmul unavailable ({}); bf16 products use the reference", e.toString());
            return null;
        }
    }

    /** Whether oneDNN loaded and makes bf16 matmuls. */
    static boolean available() {
        return IMPLEMENTATION != null;
    }

    /** Whether the bf16 matmul runs on native bf16 instructions (oneDNN's avx512_core_bf16 or amx kernels). */
    static boolean nativeBf16() {
        return IMPLEMENTATION != null && (IMPLEMENTATION.contains("bf16") || IMPLEMENTATION.contains("amx"));
    }

    /** {@code [M, K] (bf16) · [K, N] (bf16; b stored [N, K] when transposed) -> [M, N]} float32, all row-major. */
    private static OneDnnMatmul.Prim primitive(long m, long k, long n, boolean transB) {
        return primitive(m, k, n, transB, false);
    }

    /** The same, with a float32 bias {@code [1, N]} added inside the kernel when {@code bias}. */
    private static OneDnnMatmul.Prim primitive(long m, long k, long n, boolean transB, boolean bias) {
        var a = new OneDnnMatmul.Operand(new long[] {m, k}, new long[] {k, 1}, true);
        var b = new OneDnnMatmul.Operand(new long[] {k, n}, transB ? new long[] {1, k} : new long[] {n, 1}, true);
        var biasOperand = bias ? OneDnnMatmul.Operand.f32(new long[] {1, n}, n, 1) : null;
        return OneDnnMatmul.primitive(a, b, biasOperand, OneDnnMatmul.Operand.f32(new long[] {m, n}, n, 1));
    }

    /** {@code a [M, K] (FLOAT, or its transpose) · op(b) (BFLOAT16) + bias -> [M, N]} FLOAT, c-order. */
    static INDArray mm(INDArray a, INDArray b, boolean transA, boolean transB, INDArray bias) {
        INDArray ac = transA ? a.transpose().dup('c') : a;
        long m = ac.size(0), k = ac.size(1), n = transB ? b.size(0) : b.size(1);
        INDArray bc = JavaArrays.exactCOrder(b) ? b : b.dup('c');
        // the bias is added inside the kernel: ND4J's row-vector add after it cost 0.4-0.7 ms per [512, N] product
        INDArray biasc = bias == null ? null : JavaArrays.biasRow(bias, n);
        OneDnnMatmul.Prim p = primitive(m, k, n, transB, biasc != null);
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, new long[] {m, n}, 'c');
        execute(
                p,
                ac,
                bc.data().addressPointer(),
                biasc == null ? null : biasc.data().addressPointer(),
                c);
        java.lang.ref.Reference.reachabilityFence(bc);
        java.lang.ref.Reference.reachabilityFence(biasc);
        return c;
    }

    /**
     * {@code c = a · b + bias} on bf16 primitive {@code p}: FLOAT {@code a [M, K]} rounded to bf16 into a staging buffer
     * first; {@code b} (bf16, in the layout p reads) and {@code bias} (float32, or null) at their addresses; FLOAT
     * {@code c [M, N]} c-order, overwritten.
     */
    static void execute(OneDnnMatmul.Prim p, INDArray a, Pointer b, Pointer bias, INDArray c) {
        execute(p, a, b, bias, c, null);
    }

    /** As above, with the addend of a primitive that has one ({@link OneDnnMatmul#primitive}). */
    static void execute(OneDnnMatmul.Prim p, INDArray a, Pointer b, Pointer bias, INDArray c, Pointer addend) {
        long n = a.length();
        Staging kept = STAGING.get();
        ShortPointer a16;
        if (kept != null && kept.elements() >= n) a16 = kept.buffer();
        else if (n <= KEEP) { // grow this thread's staging
            if (kept != null) kept.buffer().close();
            a16 = new ShortPointer(n);
            STAGING.set(new Staging(a16, n));
        } else a16 = new ShortPointer(n); // beyond what a thread keeps: freed below
        try (FloatView av = FloatView.read(a)) {
            Bf16.roundInto(av, a16);
            OneDnnMatmul.execute(p, a16, b, bias, c.data().addressPointer(), addend);
        } finally {
            if (n > KEEP) a16.close();
        }
    }

    /**
     * Each thread's bf16 copy of the activation, kept between products up to {@link #KEEP} elements: a fresh native
     * buffer per product (malloc, JavaCPP's bookkeeping, the first touch of its pages) cost more than the rounding.
     */
    private record Staging(ShortPointer buffer, long elements) {}

    private static final ThreadLocal<Staging> STAGING = new ThreadLocal<>();

    /** Elements (bf16) of the largest staging buffer a thread keeps: 64 MB. */
    static final long KEEP = 32L << 20;

    static String describe() {
        return available() ? "oneDNN " + IMPLEMENTATION : "reference (oneDNN unavailable)";
    }
}
