package io.gptneo.tensor;

import static org.bytedeco.dnnl.global.dnnl.*;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.slf4j.LoggerFactory;

/**
 * float32 products on oneDNN's {@code dnnl_sgemm}: row-major {@code C = alpha·op(A)·op(B) + beta·C}, the same contract
 * as {@code cblas_sgemm(CblasRowMajor, ...)}. oneDNN JIT-compiles its kernels for the widest instruction set the CPU
 * has (AVX-512 here), independently of the {@code OPENBLAS_CORETYPE} that pins OpenBLAS to AVX2.
 *
 * <p>{@link Gemm} routes float32 products here only when asked ({@code -Dgptneo.gemm=onednn}); the launcher asks after
 * a self-check of this call against a float64 reference in a child JVM ({@code GPTNEO_GEMM=auto}, the default there).
 * Double products always stay on OpenBLAS: oneDNN has no dgemm.
 */
public final class OneDnnGemm {
    private OneDnnGemm() {}

    /** Whether the oneDNN natives loaded; when not, why (null when they did). */
    private static final String UNAVAILABLE = load();

    private static String load() {
        try {
            Loader.load(org.bytedeco.dnnl.global.dnnl.class);
            return null;
        } catch (Throwable t) { // no dnnl jar or natives for this platform
            LoggerFactory.getLogger(OneDnnGemm.class).info("oneDNN sgemm unavailable ({})", t.toString());
            return t.toString();
        }
    }

    /** Whether {@link #sgemm} can run here. */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /** The instruction set oneDNN's kernels use here, e.g. {@code avx512_core_bf16} (or why oneDNN is unavailable). */
    public static String isa() {
        if (!available()) return "unavailable: " + UNAVAILABLE;
        int isa = dnnl_get_effective_cpu_isa();
        if (isa == dnnl_cpu_isa_avx512_core_amx) return "avx512_core_amx";
        if (isa == dnnl_cpu_isa_avx512_core_bf16) return "avx512_core_bf16";
        if (isa == dnnl_cpu_isa_avx512_core_vnni) return "avx512_core_vnni";
        if (isa == dnnl_cpu_isa_avx512_core) return "avx512_core";
        if (isa == dnnl_cpu_isa_avx2_vnni) return "avx2_vnni";
        if (isa == dnnl_cpu_isa_avx2) return "avx2";
        if (isa == dnnl_cpu_isa_avx) return "avx";
        return "isa " + isa;
    }

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C}, row-major: A is [M, K] ([K, M] when transposed) with rows lda apart, B
     * [K, N] ([N, K]) with rows ldb apart, C [M, N] with rows ldc apart.
     *
     * @throws IllegalStateException when oneDNN is unavailable or rejects the call (naming the shapes)
     */
    public static void sgemm(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            FloatPointer a,
            int lda,
            FloatPointer b,
            int ldb,
            float beta,
            FloatPointer c,
            int ldc) {
        if (!available()) throw new IllegalStateException("oneDNN sgemm unavailable: " + UNAVAILABLE);
        int status = dnnl_sgemm(
                (byte) (transA ? 'T' : 'N'), (byte) (transB ? 'T' : 'N'), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        if (status != dnnl_success)
            throw new IllegalStateException("dnnl_sgemm failed with status " + status + " for op(A) [" + m + ", " + k
                    + "] · op(B) [" + k + ", " + n + "] (lda " + lda + ", ldb " + ldb + ", ldc " + ldc + ")");
    }
}
