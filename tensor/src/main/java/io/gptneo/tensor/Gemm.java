package io.gptneo.tensor;

import java.lang.ref.Reference;
import java.util.Arrays;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

/**
 * Matrix products of 2-D FLOAT/DOUBLE arrays, {@code C = op(A)·op(B)}, handed straight to OpenBLAS's
 * {@code cblas_sgemm}/{@code cblas_dgemm} (the library ND4J's CPU backend itself links) on the arrays' own buffers.
 *
 * <p>Why not {@code Nd4j.gemm} / {@code mmul}: the wrapper around the same OpenBLAS call costs 1-8% at the model's
 * shapes when the result comes from a reused workspace ({@code ./gptneo bench gemm}; figures in bench/RESULTS.md),
 * and it copies views that BLAS can read in place.
 *
 * <p>Operands may be c-order, f-order (a transpose view) or row slices with a larger leading dimension: those map to
 * a BLAS layout without a copy; anything else is copied to c-order first. The result is a new c-order array in the
 * current workspace, if any. With another backend (the CUDA profile) or {@code -Dgptneo.gemm=nd4j} every call goes
 * to {@code Nd4j.gemm} instead, with the same results up to summation order. With {@code -Dgptneo.gemm=onednn} float32
 * products go to oneDNN's AVX-512 sgemm ({@link OneDnnGemm}; 1.4-1.9x OpenBLAS's pinned AVX2 kernels at the model's
 * shapes here), again the same results up to summation order.
 */
public final class Gemm {
    /** System property: {@code openblas} (default), {@code onednn} (float32 products on {@link OneDnnGemm}) or {@code nd4j}. */
    public static final String PROPERTY = "gptneo.gemm";

    /** Who computes the products. */
    public enum Backend {
        /** cblas_sgemm/cblas_dgemm of the OpenBLAS ND4J links, on the arrays' own buffers. */
        OPENBLAS,
        /** float32 on oneDNN's sgemm ({@link OneDnnGemm}), float64 on OpenBLAS. */
        ONEDNN,
        /** {@code Nd4j.gemm} (another backend, or no OpenBLAS natives). */
        ND4J
    }

    private static final Backend BACKEND = detect();
    /** Whether calls go to a BLAS directly (not through Nd4j.gemm). */
    private static final boolean DIRECT = BACKEND != Backend.ND4J;

    private Gemm() {}

    private static Backend detect() {
        String want = System.getProperty(PROPERTY, "openblas").trim().toLowerCase(java.util.Locale.ROOT);
        if (!want.equals("openblas") && !want.equals("onednn") && !want.equals("nd4j"))
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + want + ": expected openblas, onednn or nd4j");
        if (want.equals("nd4j")) return Backend.ND4J;
        try {
            if (!Nd4j.getBackend().getClass().getName().endsWith("CpuBackend")) return Backend.ND4J;
            Loader.load(openblas.class);
        } catch (Throwable t) { // no OpenBLAS natives on this platform: ND4J's own gemm still works
            LoggerFactory.getLogger(Gemm.class)
                    .warn("direct OpenBLAS gemm unavailable ({}); using Nd4j.gemm", t.toString());
            return Backend.ND4J;
        }
        if (want.equals("onednn")) {
            if (OneDnnGemm.available()) {
                LoggerFactory.getLogger(Gemm.class).info("float32 products: oneDNN sgemm ({})", OneDnnGemm.isa());
                return Backend.ONEDNN;
            }
            LoggerFactory.getLogger(Gemm.class)
                    .warn("-D{}=onednn but oneDNN is unavailable ({}); using OpenBLAS", PROPERTY, OneDnnGemm.isa());
        }
        return Backend.OPENBLAS;
    }

    /** The backend chosen at startup. */
    public static Backend backend() {
        return BACKEND;
    }

    /** Who computes float32 products, for logs and benchmark records, e.g. {@code oneDNN sgemm (avx512_core_bf16)}. */
    public static String describe() {
        return switch (BACKEND) {
            case ONEDNN -> "oneDNN sgemm (" + OneDnnGemm.isa() + ")";
            case OPENBLAS -> "OpenBLAS sgemm (OPENBLAS_CORETYPE="
                    + System.getenv().getOrDefault("OPENBLAS_CORETYPE", "unset: autodetected") + ")";
            case ND4J -> "Nd4j.gemm";
        };
    }

    /**
     * How products with a frozen weight run, for benchmark records: e.g. {@code packed for oneDNN in training steps
     * (train)}, or {@code plain (off)}.
     */
    public static String describeFrozenWeights() {
        return PackedWeights.describe();
    }

    /**
     * Whether this is a bf16 product (a FLOAT activation times a BFLOAT16 weight, {@link Bf16}); any other use of a
     * BFLOAT16 array is an error naming the shapes.
     */
    private static boolean bf16(INDArray a, INDArray b, INDArray bias) {
        if (a.dataType() != DataType.BFLOAT16 && b.dataType() != DataType.BFLOAT16) return false;
        if (a.rank() != 2
                || b.rank() != 2
                || a.dataType() != DataType.FLOAT
                || b.dataType() != DataType.BFLOAT16
                || (bias != null && bias.dataType() != DataType.FLOAT)) {
            throw new IllegalArgumentException(
                    "gemm: a bf16 product needs a FLOAT [M, K] activation times a BFLOAT16 2-D weight (FLOAT bias), got "
                            + a.dataType() + Arrays.toString(a.shape()) + " and " + b.dataType()
                            + Arrays.toString(b.shape()));
        }
        return true;
    }

    /** Whether products go straight to a BLAS (false: through {@code Nd4j.gemm}). */
    public static boolean direct() {
        return DIRECT;
    }

    /**
     * {@code op(a) · op(b)}, op = transpose when the flag is set: {@code [M, K] · [K, N] -> [M, N]} (c-order).
     *
     * @throws IllegalArgumentException on rank, dtype or inner-dimension mismatch, naming the shapes
     */
    public static INDArray mm(INDArray a, INDArray b, boolean transA, boolean transB) {
        return mm(a, b, transA, transB, null);
    }

    /**
     * {@code op(a) · op(b) + bias} with {@code bias [N]} added to every row (null: none). The direct path writes the
     * bias rows first, as a K = 1 product of a ones column and the bias row, and lets the main product accumulate onto
     * them (beta = 1): one BLAS pass instead of a separate broadcast add over [M, N].
     */
    public static INDArray mm(INDArray a, INDArray b, boolean transA, boolean transB, INDArray bias) {
        if (bf16(a, b, bias)) return Kernels.get().bf16mm(a, b, transA, transB, bias);
        if (a.rank() != 2
                || b.rank() != 2
                || a.dataType() != b.dataType()
                || (a.dataType() != DataType.FLOAT && a.dataType() != DataType.DOUBLE)) {
            throw new IllegalArgumentException("gemm: needs two 2-D FLOAT or DOUBLE arrays of one dtype, got "
                    + a.dataType() + Arrays.toString(a.shape()) + " and " + b.dataType() + Arrays.toString(b.shape()));
        }
        long m = transA ? a.size(1) : a.size(0), k = transA ? a.size(0) : a.size(1);
        long kb = transB ? b.size(1) : b.size(0), n = transB ? b.size(0) : b.size(1);
        if (k != kb) {
            throw new IllegalArgumentException("gemm: inner dimensions differ: op(A) "
                    + Arrays.toString(new long[] {m, k}) + " · op(B) " + Arrays.toString(new long[] {kb, n}));
        }
        if (bias != null && (bias.dataType() != a.dataType() || bias.length() != n || bias.rank() > 2)) {
            throw new IllegalArgumentException("gemm: bias " + bias.dataType() + Arrays.toString(bias.shape()) + " for "
                    + n + " output columns of " + a.dataType());
        }
        if (!DIRECT || m == 0 || n == 0 || k == 0 || Math.max(Math.max(m, n), k) > Integer.MAX_VALUE) {
            INDArray c = Nd4j.gemm(a, b, transA, transB);
            return bias == null ? c : c.addiRowVector(bias.reshape(n));
        }
        Operand pa = Operand.of(a, transA), pb = Operand.of(b, transB);
        INDArray c = Nd4j.createUninitialized(a.dataType(), new long[] {m, n}, 'c');
        int im = (int) m, in = (int) n, ik = (int) k;
        if (bias != null && BACKEND == Backend.ONEDNN && a.dataType() == DataType.FLOAT) {
            biasedOnOneDnn(pa, pb, bias, c, m, n, k);
            return c;
        }
        if (bias != null) { // C = ones [M, 1] · bias [1, N]
            blas(
                    new Operand(ones(a.dataType(), m), openblas.CblasNoTrans, 1),
                    Operand.of(bias.reshape(1, n), false),
                    im,
                    in,
                    1,
                    1.0,
                    0.0,
                    c,
                    in);
        }
        blas(pa, pb, im, in, ik, 1.0, bias == null ? 0.0 : 1.0, c, in);
        return c;
    }

    /**
     * {@code a · op(w) + bias} for a weight tensor (bias null: none): on w's packed copy where {@link PackedWeights}
     * applies (a frozen weight in a training step, oneDNN present), else {@link #mm}. {@code wd} is the array the caller
     * read from w when it recorded the operation; a packed copy is used only while it is still w's array.
     */
    public static INDArray mmWeight(INDArray a, Tensor w, INDArray wd, boolean transW, INDArray bias) {
        if (PackedWeights.applies(a, w, wd)) {
            INDArray c = PackedWeights.mm(a, w, wd, transW, bias);
            if (c != null) return c;
        }
        return mm(a, wd, false, transW, bias);
    }

    /**
     * {@link #mmWeight} over the rows of an N-D input: {@code x [..., K] · op(w) + bias -> [..., N]}, every leading
     * dimension kept. On w's packed copy (an exact c-order x) the product reads x and writes the result in their own
     * shapes, without the two reshapes (each a new ND4J view, some 30 µs) that a 2-D product needs around it.
     */
    public static INDArray mmWeightRows(INDArray x, Tensor w, INDArray wd, boolean transW, INDArray bias) {
        if (x.rank() == 2) return mmWeight(x, w, wd, transW, bias);
        if (PackedWeights.applies(x, w, wd)) {
            INDArray c = PackedWeights.mm(x, w, wd, transW, bias);
            if (c != null) return c;
        }
        long k = x.size(x.rank() - 1);
        INDArray c = mm(x.reshape('c', x.length() / k, k), wd, false, transW, bias);
        long[] shape = x.shape().clone();
        shape[shape.length - 1] = c.size(1);
        return c.reshape('c', shape);
    }

    /**
     * {@code c += alpha · op(a) · op(b)} in place; {@code c [M, N]} must be a 2-D array whose rows BLAS can address
     * (c-order, or rows of a larger c-order matrix) and must not overlap {@code a} or {@code b}. Lets a second product
     * land on the first one's result (a LoRA side path on its base projection) without a separate add.
     */
    public static void mmAccumulate(INDArray a, INDArray b, boolean transA, boolean transB, double alpha, INDArray c) {
        if (bf16(a, b, null)) {
            c.addi(Kernels.get().bf16mm(a, b, transA, transB, null).muli(alpha));
            return;
        }
        if (a.rank() != 2
                || b.rank() != 2
                || c.rank() != 2
                || a.dataType() != b.dataType()
                || c.dataType() != a.dataType()
                || (a.dataType() != DataType.FLOAT && a.dataType() != DataType.DOUBLE)) {
            throw new IllegalArgumentException("gemm accumulate: needs 2-D FLOAT or DOUBLE arrays of one dtype, got "
                    + a.dataType() + Arrays.toString(a.shape()) + ", " + b.dataType() + Arrays.toString(b.shape())
                    + " into " + c.dataType() + Arrays.toString(c.shape()));
        }
        long m = transA ? a.size(1) : a.size(0), k = transA ? a.size(0) : a.size(1);
        long kb = transB ? b.size(1) : b.size(0), n = transB ? b.size(0) : b.size(1);
        if (k != kb || c.size(0) != m || c.size(1) != n) {
            throw new IllegalArgumentException("gemm accumulate: op(A) " + Arrays.toString(new long[] {m, k})
                    + " · op(B) " + Arrays.toString(new long[] {kb, n}) + " into C " + Arrays.toString(c.shape()));
        }
        if (m == 0 || n == 0 || k == 0) return;
        boolean rowsAddressable = c.ordering() == 'c' && (c.stride(1) == 1 || n == 1) && (c.stride(0) >= n || m == 1);
        if (!DIRECT || !rowsAddressable || Math.max(Math.max(m, n), k) > Integer.MAX_VALUE) {
            c.addi(Nd4j.gemm(a, b, transA, transB).muli(alpha));
            return;
        }
        blas(Operand.of(a, transA), Operand.of(b, transB), (int) m, (int) n, (int) k, alpha, 1.0, c, (int)
                Math.max(n, m == 1 ? n : c.stride(0)));
    }

    /**
     * {@code C = alpha · op(A) · op(B) + beta · C} (row-major, C's rows ldc apart) through cblas_sgemm (oneDNN's sgemm
     * with the ONEDNN backend) or cblas_dgemm.
     */
    private static void blas(
            Operand pa, Operand pb, int m, int n, int k, double alpha, double beta, INDArray c, int ldc) {
        if (c.dataType() == DataType.FLOAT) {
            FloatPointer a = floatPointer(pa.array), b = floatPointer(pb.array), out = floatPointer(c);
            boolean ta = pa.trans == openblas.CblasTrans, tb = pb.trans == openblas.CblasTrans;
            float al = (float) alpha, be = (float) beta;
            if (BACKEND == Backend.ONEDNN) OneDnnGemm.sgemm(ta, tb, m, n, k, al, a, pa.ld, b, pb.ld, be, out, ldc);
            else
                openblas.cblas_sgemm(
                        openblas.CblasRowMajor, pa.trans, pb.trans, m, n, k, al, a, pa.ld, b, pb.ld, be, out, ldc);
        } else {
            openblas.cblas_dgemm(
                    openblas.CblasRowMajor,
                    pa.trans,
                    pb.trans,
                    m,
                    n,
                    k,
                    alpha,
                    doubles(pa.array),
                    pa.ld,
                    doubles(pb.array),
                    pb.ld,
                    beta,
                    doubles(c),
                    ldc);
        }
        Reference.reachabilityFence(pa); // the arrays own the buffers: keep them alive past the native call
        Reference.reachabilityFence(pb);
        Reference.reachabilityFence(c);
    }

    /**
     * {@code c = op(A) · op(B) + bias} on oneDNN's matmul primitive, which adds the bias inside its kernel: no K = 1
     * pre-pass over C and no beta = 1 re-read of it (and at [512, 3072]·[3072, 768], the model's c_proj, its brgemm
     * kernel runs 1.3x dnnl_sgemm here; bench/RESULTS.md).
     */
    private static void biasedOnOneDnn(Operand pa, Operand pb, INDArray bias, INDArray c, long m, long n, long k) {
        INDArray bc = JavaArrays.biasRow(bias, n);
        OneDnnMatmul.run(
                OneDnnMatmul.Operand.f32(new long[] {m, k}, pa.strides()),
                floatPointer(pa.array),
                OneDnnMatmul.Operand.f32(new long[] {k, n}, pb.strides()),
                floatPointer(pb.array),
                OneDnnMatmul.Operand.f32(new long[] {1, n}, n, 1),
                floatPointer(bc),
                OneDnnMatmul.Operand.f32(new long[] {m, n}, n, 1),
                floatPointer(c));
        Reference.reachabilityFence(pa);
        Reference.reachabilityFence(pb);
        Reference.reachabilityFence(bc);
        Reference.reachabilityFence(c);
    }

    /**
     * An operand as BLAS sees it, row-major: the array (perhaps a c-order copy), whether to transpose it and its
     * leading dimension. An f-order [r, c] array is a row-major [c, r] one, so it is passed with the flag flipped.
     */
    private record Operand(INDArray array, int trans, int ld) {
        static Operand of(INDArray x, boolean t) {
            long r = x.size(0), c = x.size(1), s0 = x.stride(0), s1 = x.stride(1);
            if ((s1 == 1 || c == 1) && (s0 >= c || r == 1))
                return new Operand(x, flag(t), (int) Math.max(c, r == 1 ? c : s0));
            if ((s0 == 1 || r == 1) && (s1 >= r || c == 1))
                return new Operand(x, flag(!t), (int) Math.max(r, c == 1 ? r : s1));
            INDArray d = x.dup('c');
            return new Operand(d, flag(t), (int) c);
        }

        /** Element strides of op(array) as a row-major [rows, cols] matrix. */
        long[] strides() {
            return trans == openblas.CblasTrans ? new long[] {1, ld} : new long[] {ld, 1};
        }

        private static int flag(boolean t) {
            return t ? openblas.CblasTrans : openblas.CblasNoTrans;
        }
    }

    /**
     * Batched {@code op(a) · op(b)} over the last two dimensions, {@code [..., M, K] · [..., K, N] -> [..., N]} c-order,
     * the leading dimensions equal. FLOAT operands run as one oneDNN matmul that reads both in place through their
     * strides (a permuted or transposed view costs no copy); other dtypes, or no oneDNN, take {@code Nd4j.matmul}.
     * Why: ND4J's batched matmul over the cost head's last-token attention ([B, H, 1, D] · [B, H, D, T] views) and its
     * backward cost about 0.5% of a bf16 training step for a few hundred kFLOP.
     */
    public static INDArray bmm(INDArray a, INDArray b, boolean transA, boolean transB) {
        int r = a.rank();
        if (r < 3
                || b.rank() != r
                || !Arrays.equals(Arrays.copyOf(a.shape(), r - 2), Arrays.copyOf(b.shape(), r - 2))
                || a.size(transA ? r - 2 : r - 1) != b.size(transB ? r - 1 : r - 2)) {
            throw new IllegalArgumentException("bmm: incompatible shapes " + Arrays.toString(a.shape())
                    + (transA ? "ᵀ" : "") + " @ " + Arrays.toString(b.shape()) + (transB ? "ᵀ" : ""));
        }
        long[] sa = a.dataType() == DataType.FLOAT ? strides(a) : null,
                sb = b.dataType() == DataType.FLOAT ? strides(b) : null;
        if (sa == null || sb == null || !OneDnnMatmul.available() || a.length() == 0 || b.length() == 0)
            return Nd4j.matmul(a, b, null, transA, transB, false);
        var ao = OneDnnMatmul.Operand.f32(a.shape(), sa);
        var bo = OneDnnMatmul.Operand.f32(b.shape(), sb);
        if (transA) ao = ao.transposed();
        if (transB) bo = bo.transposed();
        long[] cs = ao.dims().clone();
        cs[r - 1] = bo.dims()[r - 1];
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, cs, 'c');
        OneDnnMatmul.run(
                ao, floatPointer(a), bo, floatPointer(b), OneDnnMatmul.Operand.f32(cs, c.stride()), floatPointer(c));
        java.lang.ref.Reference.reachabilityFence(a);
        java.lang.ref.Reference.reachabilityFence(b);
        return c;
    }

    /**
     * {@code a}'s strides for a oneDNN descriptor: a dimension of size 1 gets the whole extent (ND4J leaves anything
     * there, and oneDNN checks that dimensions do not overlap); null when another stride is below 1 (a broadcast view).
     */
    private static long[] strides(INDArray a) {
        long[] st = a.stride().clone();
        long extent = 1;
        for (int i = 0; i < st.length; i++) {
            if (a.size(i) == 1) continue;
            if (st[i] < 1) return null;
            extent += (a.size(i) - 1) * st[i];
        }
        for (int i = 0; i < st.length; i++) if (a.size(i) == 1) st[i] = extent;
        return st;
    }

    /** A column of at least {@code m} ones per thread and dtype, outside any workspace (the bias product's left factor). */
    private static INDArray ones(DataType dt, long m) {
        INDArray[] o = ONES.get();
        int i = dt == DataType.DOUBLE ? 1 : 0;
        if (o[i] == null || o[i].length() < m) {
            try (var ws = Workspaces.outside()) {
                o[i] = Nd4j.ones(dt, Math.max(m, 1024));
            }
        }
        return o[i];
    }

    private static final ThreadLocal<INDArray[]> ONES = ThreadLocal.withInitial(() -> new INDArray[2]);

    /** Pointer to the first element of FLOAT {@code a} (its buffer's address already includes the buffer's own offset). */
    public static FloatPointer floatPointer(INDArray a) {
        FloatPointer p = new FloatPointer(a.data().addressPointer());
        return p.position(p.position() + a.offset() - a.data().offset());
    }

    private static DoublePointer doubles(INDArray a) {
        DoublePointer p = new DoublePointer(a.data().addressPointer());
        return p.position(p.position() + a.offset() - a.data().offset());
    }
}
