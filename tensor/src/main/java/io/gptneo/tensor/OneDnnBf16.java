package io.gptneo.tensor;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.HashMap;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
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
        return primitive(m, k, n, transB, bias, false);
    }

    /** ... and with {@code packedB}, reading b from a packed copy ({@link #packed}). */
    private static OneDnnMatmul.Prim primitive(long m, long k, long n, boolean transB, boolean bias, boolean packedB) {
        var a = new OneDnnMatmul.Operand(new long[] {m, k}, new long[] {k, 1}, true);
        var c = OneDnnMatmul.Operand.f32(new long[] {m, n}, n, 1);
        return OneDnnMatmul.primitive(
                a, weights(k, n, transB), bias ? OneDnnMatmul.Operand.f32(new long[] {1, n}, n, 1) : null, c, packedB);
    }

    /** {@code [K, N]} bf16 weights, stored row-major as [K, N], or as [N, K] when transposed. */
    private static OneDnnMatmul.Operand weights(long k, long n, boolean transB) {
        return new OneDnnMatmul.Operand(new long[] {k, n}, transB ? new long[] {1, k} : new long[] {n, 1}, true);
    }

    /**
     * System property: {@code auto} (default), {@code always} or {@code never}. oneDNN's bf16 kernel reads weights in a
     * blocked layout and, given our plain [N, K] arrays, repacks them inside every call; a copy packed once ran the
     * 125M model's products 10-20% faster (bench/RESULTS.md, session 5). {@code auto} keeps packed copies where a
     * weight is used over and over and memory is less tight: the input-gradient direction (training only) and the
     * forward while a tape is recorded ({@link GradMode}); an inference forward reads the plain array (a bf16
     * forward's peak memory stays as it was).
     */
    public static final String PACKED_PROPERTY = "gptneo.bf16.packed";

    private static final String PACKED_MODE = packedMode();

    private static String packedMode() {
        String m = System.getProperty(PACKED_PROPERTY, "auto").trim().toLowerCase(java.util.Locale.ROOT);
        if (!m.equals("auto") && !m.equals("always") && !m.equals("never"))
            throw new IllegalArgumentException("-D" + PACKED_PROPERTY + "=" + m + ": expected auto, always or never");
        return m;
    }

    private static boolean usePacked(boolean transB) {
        return switch (PACKED_MODE) {
            case "always" -> true;
            case "never" -> false;
            default -> !transB || GradMode.isEnabled();
        };
    }

    /** A weight array (by identity, held weakly) and the direction it is read in. */
    private static final class WeightKey extends WeakReference<INDArray> {
        private final int hash;
        private final boolean transB;

        WeightKey(INDArray w, boolean transB, ReferenceQueue<INDArray> queue) {
            super(w, queue);
            this.hash = 31 * System.identityHashCode(w) + (transB ? 1 : 0);
            this.transB = transB;
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) return true;
            if (!(o instanceof WeightKey k) || k.transB != transB) return false;
            INDArray w = get();
            return w != null && w == k.get();
        }
    }

    private record Packed(OneDnnMatmul.Prim prim, BytePointer buf) {}

    /**
     * Packed copies per weight array and direction, made on first use and again when a primitive reads another layout;
     * freed once the weight array is garbage. Keyed by identity, as the stacked q/k/v weight is: code that changes a
     * weight replaces its array (adapter merge, bf16 conversion), and a weight written in place would need
     * {@link #forgetPacked}.
     */
    private static final Map<WeightKey, Packed> PACKED = new HashMap<>();

    private static final ReferenceQueue<INDArray> GONE = new ReferenceQueue<>();

    private static boolean warnedDisagreement;

    /** The packed copy of {@code w} that primitive {@code p} reads, or null when w is packed for another layout. */
    private static synchronized Pointer packed(
            INDArray w, boolean transB, OneDnnMatmul.Prim p, long m, long k, long n) {
        for (Reference<? extends INDArray> r; (r = GONE.poll()) != null; ) {
            Packed gone = PACKED.remove(r);
            if (gone != null && gone.buf() != null) gone.buf().close();
        }
        WeightKey key = new WeightKey(w, transB, GONE);
        Packed have = PACKED.get(key);
        if (have != null) { // another caller may be reading it: a second layout gets none, and the plain path
            return have.buf() != null && OneDnnMatmul.sameWeightsLayout(have.prim(), p) ? have.buf() : null;
        }
        Packed made = new Packed(
                p, OneDnnMatmul.pack(p, weights(k, n, transB), w.data().addressPointer()));
        if (!agrees(made, w, m, k, n, transB)) { // kept as a marker: this weight and direction stay plain
            made.buf().close();
            made = new Packed(p, null);
            if (!warnedDisagreement) { // once: a model with such shapes has many of them
                warnedDisagreement = true;
                LoggerFactory.getLogger(OneDnnBf16.class)
                        .info(
                                "bf16 weights [{}, {}]{}: the packed copy disagreed with the plain layout; such weights"
                                        + " use the plain one",
                                k,
                                n,
                                transB ? " (transposed)" : "");
            }
        }
        PACKED.put(key, made);
        return made.buf();
    }

    /**
     * Whether the packed copy gives the plain product: both layouts times one deterministic [M, K] input, without
     * bias, within float32 summation-order noise. A check, once per weight and direction, because a probe found a
     * shape (N = 48) where oneDNN 2.5.2's packed layout gave wrong products; the model's shapes agree exactly.
     */
    private static boolean agrees(Packed made, INDArray w, long m, long k, long n, boolean transB) {
        OneDnnMatmul.Prim packed = primitive(m, k, n, transB, false, true);
        if (!OneDnnMatmul.sameWeightsLayout(packed, made.prim())) return false;
        OneDnnMatmul.Prim plain = primitive(m, k, n, transB, false, false);
        try (ShortPointer x = new ShortPointer(m * k);
                FloatPointer viaPacked = new FloatPointer(m * n);
                FloatPointer viaPlain = new FloatPointer(m * n)) {
            for (long i = 0; i < m * k; i++) x.put(i, Bf16.round((((i * 7919) % 17) - 8) * 0.125f));
            OneDnnMatmul.execute(packed, x, made.buf(), null, viaPacked);
            OneDnnMatmul.execute(plain, x, w.data().addressPointer(), null, viaPlain);
            double worst = 0, scale = 0;
            for (long i = 0; i < m * n; i++) {
                worst = Math.max(worst, Math.abs(viaPacked.get(i) - viaPlain.get(i)));
                scale = Math.max(scale, Math.abs(viaPlain.get(i)));
            }
            return Double.isFinite(worst) && worst <= 1e-5 * scale * Math.sqrt(k);
        }
    }

    /** Drops the packed copies of {@code w} (for code that writes a bf16 weight in place). */
    static synchronized void forgetPacked(INDArray w) {
        for (boolean t : new boolean[] {false, true}) {
            Packed p = PACKED.remove(new WeightKey(w, t, null));
            if (p != null && p.buf() != null) p.buf().close();
        }
    }

    /** Number of packed weight copies held (for tests). */
    static synchronized int packedCount() {
        return PACKED.size();
    }

    /** {@code a [M, K] (FLOAT, or its transpose) · op(b) (BFLOAT16) + bias -> [M, N]} FLOAT, c-order. */
    static INDArray mm(INDArray a, INDArray b, boolean transA, boolean transB, INDArray bias) {
        INDArray ac = transA ? a.transpose().dup('c') : a;
        long m = ac.size(0), k = ac.size(1), n = transB ? b.size(0) : b.size(1);
        INDArray bc = JavaArrays.exactCOrder(b) ? b : b.dup('c');
        // the bias is added inside the kernel: ND4J's row-vector add after it cost 0.4-0.7 ms per [512, N] product
        INDArray biasc = bias == null ? null : JavaArrays.contiguous(bias.reshape(1, n));
        boolean pack = bc == b && usePacked(transB); // a copied (non-c-order) weight is new on every call
        OneDnnMatmul.Prim p = primitive(m, k, n, transB, biasc != null, pack);
        Pointer wb = pack ? packed(b, transB, p, m, k, n) : null;
        if (wb == null) {
            p = primitive(m, k, n, transB, biasc != null, false);
            wb = bc.data().addressPointer();
        }
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, new long[] {m, n}, 'c');
        try (ShortPointer a16 = new ShortPointer(m * k);
                FloatView av = FloatView.read(ac)) {
            Bf16.roundInto(av, a16);
            OneDnnMatmul.execute(
                    p,
                    a16,
                    wb,
                    biasc == null ? null : biasc.data().addressPointer(),
                    c.data().addressPointer());
        }
        java.lang.ref.Reference.reachabilityFence(bc);
        java.lang.ref.Reference.reachabilityFence(biasc);
        return c;
    }

    static String describe() {
        return available() ? "oneDNN " + IMPLEMENTATION : "reference (oneDNN unavailable)";
    }
}
