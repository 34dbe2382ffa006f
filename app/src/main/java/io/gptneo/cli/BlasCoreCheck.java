package io.gptneo.cli;

import io.gptneo.tensor.Gemm;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.OneDnnGemm;
import io.gptneo.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The self-check {@link BlasCore} runs in a child JVM under a candidate {@code OPENBLAS_CORETYPE}: cblas_sgemm and
 * cblas_dgemm over the model's product shapes, odd and tiny sizes, every transpose pair, with 1 and 2 threads,
 * each result against a float64 product computed here. With the argument {@code onednn} it checks oneDNN's sgemm
 * ({@link OneDnnGemm}) over the same products instead, once, on oneDNN's own threads, and then the products
 * {@link Gemm#mmWeight} runs on oneDNN's matmul with a frozen weight packed into its blocked layout (the model's weight
 * shapes, both orientations, with a bias): what {@code GPTNEO_GEMM=auto} runs (the child has
 * {@code -Dgptneo.gemm=onednn}). Prints one line {@code BLAS-CHECK ok|fail ...}; exit 0 only when every product is
 * within its bound.
 *
 * <p>Bound per entry: {@code |c − ref| ≤ 32·√K·ε·Σ|a||b| + tiny} (ε of the precision). Blocked BLAS summation stays
 * well inside it; the failures this guards against (wrong blocks, zeros, NaN from a broken kernel) do not.
 */
public final class BlasCoreCheck {
    static final String TAG = "BLAS-CHECK ";

    private BlasCoreCheck() {}

    /** One product {@code C [M, N] = op(A) · op(B)}, with op = transpose per flag; {@code accumulate}: beta = 1 onto C. */
    record Product(int m, int n, int k, boolean transA, boolean transB, boolean accumulate) {
        @Override
        public String toString() {
            return m + "x" + n + "x" + k + (transA ? " Aᵀ" : "") + (transB ? " Bᵀ" : "") + (accumulate ? " +C" : "");
        }
    }

    /** The products checked: model shapes (rows 1..256 of 768→768/2304/3072 and 3072→768), odd and tiny sizes, all transposes. */
    static List<Product> products() {
        List<Product> ps = new ArrayList<>();
        int[][] model = {{768, 768}, {768, 2304}, {768, 3072}, {3072, 768}};
        int[] tiny = {1, 2, 3, 5, 8, 15, 16, 17, 31, 33, 64, 65, 127};
        int[] tinyK = {1, 3, 17, 65, 127};
        for (int t = 0; t < 4; t++) {
            boolean ta = (t & 1) != 0, tb = (t & 2) != 0;
            for (int m : new int[] {1, 17, 256})
                for (int[] kn : model) ps.add(new Product(m, kn[1], kn[0], ta, tb, m == 17));
            ps.add(new Product(512, 512, 512, ta, tb, false));
            for (int m : tiny)
                for (int n : tiny) for (int k : tinyK) ps.add(new Product(m, n, k, ta, tb, (m + n + k) % 5 == 0));
        }
        return ps;
    }

    /** {@code BlasCoreCheck [onednn]}: OpenBLAS's sgemm and dgemm, or (onednn) oneDNN's sgemm, over {@link #products}. */
    public static void main(String[] args) {
        Loader.load(openblas.class);
        boolean onednn = args.length > 0 && args[0].equals("onednn");
        String what = onednn
                ? "gemm=onednn isa=" + OneDnnGemm.isa()
                : "core=" + System.getenv().getOrDefault("OPENBLAS_CORETYPE", "(unset)");
        if (onednn && !OneDnnGemm.available()) {
            System.out.println(TAG + "fail " + what);
            System.exit(1);
        }
        List<Product> ps = products();
        int checked = 0;
        double worst = 0;
        // oneDNN runs on its OpenMP threads (all cores), so it is checked once; OpenBLAS with 1 and 2 threads
        for (int threads : onednn ? new int[] {0} : new int[] {1, 2}) {
            if (!onednn) openblas.blas_set_num_threads(threads);
            for (boolean dbl : onednn ? new boolean[] {false} : new boolean[] {false, true}) {
                long seed = 1;
                for (Product p : ps) {
                    double r = check(p, dbl, onednn, seed++);
                    checked++;
                    worst = Math.max(worst, r);
                    if (!(r <= 1)) {
                        System.out.println(TAG + "fail " + what + " " + (dbl ? "dgemm " : "sgemm ") + p
                                + (onednn ? "" : " threads=" + threads) + " error/bound=" + r);
                        System.exit(1);
                    }
                }
            }
        }
        if (onednn) { // the products Gemm runs on oneDNN's matmul: frozen weights packed, with and without a bias
            long seed = 1 << 20;
            for (WeightProduct p : weightProducts()) {
                double r = checkWeightProduct(p, seed++);
                checked++;
                worst = Math.max(worst, r);
                if (!(r <= 1)) {
                    System.out.println(TAG + "fail " + what + " " + p + " error/bound=" + r);
                    System.exit(1);
                }
            }
        }
        System.out.printf("%sok %s products=%d worst error/bound=%.3g%n", TAG, what, checked, worst);
    }

    /** x [M, in] · Wᵀ (+ bias) or g [M, out] · W, W [out, in] a frozen weight: what a training step's Linear runs. */
    record WeightProduct(int m, int out, int in, boolean transW, boolean bias) {
        @Override
        public String toString() {
            return "weight product " + m + "x"
                    + (transW ? in + " · W" + out + "x" + in + "ᵀ" : out + " · W" + out + "x" + in)
                    + (bias ? " + bias" : "");
        }
    }

    /** The model's weight shapes at 64 (the fewest rows packed), 100 and 256 rows, both orientations. */
    static List<WeightProduct> weightProducts() {
        List<WeightProduct> ps = new ArrayList<>();
        int[][] model = {{768, 768}, {2304, 768}, {3072, 768}, {768, 3072}};
        for (int m : new int[] {64, 100, 256})
            for (int[] w : model) {
                ps.add(new WeightProduct(m, w[0], w[1], true, false));
                ps.add(new WeightProduct(m, w[0], w[1], true, true));
                ps.add(new WeightProduct(m, w[0], w[1], false, false));
            }
        return ps;
    }

    /** One {@link Gemm#mmWeight} in a training step's grad mode against float64, as {@link #check}'s bound. */
    static double checkWeightProduct(WeightProduct p, long seed) {
        int m = p.m(), k = p.transW() ? p.in() : p.out(), n = p.transW() ? p.out() : p.in();
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[m * k], w = new float[p.out() * p.in()], bias = new float[n];
        for (int i = 0; i < a.length; i++) a[i] = (float) r.nextDouble(-1, 1);
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextDouble(-1, 1);
        for (int i = 0; i < n; i++) bias[i] = (float) r.nextDouble(-1, 1);
        INDArray wa = Nd4j.create(w, new long[] {p.out(), p.in()}, 'c');
        float[] c;
        try (var on = GradMode.on()) {
            INDArray got = Gemm.mmWeight(
                    Nd4j.create(a, new long[] {m, k}, 'c'),
                    Tensor.constant(wa),
                    wa,
                    p.transW(),
                    p.bias() ? Nd4j.create(bias, new long[] {n}, 'c') : null);
            c = got.data().asFloat();
        }
        double worst = 0;
        for (int i = 0; i < m; i += Math.max(1, m / 16))
            for (int j = 0; j < n; j++) {
                double ref = p.bias() ? bias[j] : 0, mag = Math.abs(ref);
                for (int q = 0; q < k; q++) {
                    double t = (double) a[i * k + q] * (p.transW() ? w[j * p.in() + q] : w[q * p.in() + j]);
                    ref += t;
                    mag += Math.abs(t);
                }
                double e = errorOverBound(c[i * n + j], ref, mag, k, 0x1p-23);
                if (Double.isNaN(e)) return Double.NaN;
                worst = Math.max(worst, e);
            }
        return worst;
    }

    static double check(Product p, boolean dbl, long seed) {
        return check(p, dbl, false, seed);
    }

    /** Runs one product and returns the largest (error / bound) over the checked entries (NaN on a NaN result). */
    static double check(Product p, boolean dbl, boolean onednn, long seed) {
        int m = p.m(), n = p.n(), k = p.k();
        SplittableRandom r = new SplittableRandom(seed);
        double[] a = new double[m * k], b = new double[k * n], c0 = new double[m * n];
        for (int i = 0; i < a.length; i++) a[i] = r.nextDouble(-1, 1);
        for (int i = 0; i < b.length; i++) b[i] = r.nextDouble(-1, 1);
        if (p.accumulate()) for (int i = 0; i < c0.length; i++) c0[i] = r.nextDouble(-1, 1);
        if (!dbl) { // the float32 operands are what the reference multiplies
            for (int i = 0; i < a.length; i++) a[i] = (float) a[i];
            for (int i = 0; i < b.length; i++) b[i] = (float) b[i];
            for (int i = 0; i < c0.length; i++) c0[i] = (float) c0[i];
        }
        // A is stored [M, K] (or [K, M] when transposed), B [K, N] (or [N, K]); row-major
        double[] aS = p.transA() ? transpose(a, m, k) : a, bS = p.transB() ? transpose(b, k, n) : b;
        int lda = p.transA() ? m : k, ldb = p.transB() ? k : n;
        int ta = p.transA() ? openblas.CblasTrans : openblas.CblasNoTrans,
                tb = p.transB() ? openblas.CblasTrans : openblas.CblasNoTrans;
        double beta = p.accumulate() ? 1 : 0;
        double[] c = new double[m * n];
        if (dbl) {
            try (DoublePointer pa = new DoublePointer(aS);
                    DoublePointer pb = new DoublePointer(bS);
                    DoublePointer pc = new DoublePointer(c0)) {
                openblas.cblas_dgemm(openblas.CblasRowMajor, ta, tb, m, n, k, 1.0, pa, lda, pb, ldb, beta, pc, n);
                pc.get(c);
            }
        } else {
            float[] out = new float[m * n];
            try (FloatPointer pa = new FloatPointer(floats(aS));
                    FloatPointer pb = new FloatPointer(floats(bS));
                    FloatPointer pc = new FloatPointer(floats(c0))) {
                if (onednn)
                    OneDnnGemm.sgemm(p.transA(), p.transB(), m, n, k, 1f, pa, lda, pb, ldb, (float) beta, pc, n);
                else
                    openblas.cblas_sgemm(
                            openblas.CblasRowMajor, ta, tb, m, n, k, 1f, pa, lda, pb, ldb, (float) beta, pc, n);
                pc.get(out);
            }
            for (int i = 0; i < out.length; i++) c[i] = out[i];
        }
        double eps = dbl ? 0x1p-52 : 0x1p-23, worst = 0;
        // every entry of small results; of large ones the first and last rows and columns plus 256 random entries
        boolean all = (long) m * n <= 4096;
        int samples = all ? m * n : 2 * (m + n) + 256;
        for (int s = 0; s < samples; s++) {
            int i, j;
            if (all) {
                i = s / n;
                j = s % n;
            } else if (s < 2 * n) {
                i = s < n ? 0 : m - 1;
                j = s % n;
            } else if (s < 2 * (m + n)) {
                int q = s - 2 * n;
                i = q % m;
                j = q < m ? 0 : n - 1;
            } else {
                i = r.nextInt(m);
                j = r.nextInt(n);
            }
            double ref = beta * c0[i * n + j], mag = Math.abs(ref);
            for (int q = 0; q < k; q++) {
                double t = a[i * k + q] * b[q * n + j];
                ref += t;
                mag += Math.abs(t);
            }
            double e = errorOverBound(c[i * n + j], ref, mag, k, eps);
            if (Double.isNaN(e)) return Double.NaN;
            worst = Math.max(worst, e);
        }
        return worst;
    }

    /** |got − ref| over the class's bound for a K-term sum whose |terms| add up to {@code mag}, at precision eps. */
    private static double errorOverBound(double got, double ref, double mag, int k, double eps) {
        return Math.abs(got - ref) / (32 * Math.sqrt(k + 1) * eps * mag + Double.MIN_NORMAL);
    }

    private static double[] transpose(double[] x, int rows, int cols) {
        double[] t = new double[x.length];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) t[j * rows + i] = x[i * cols + j];
        return t;
    }

    private static float[] floats(double[] x) {
        float[] f = new float[x.length];
        for (int i = 0; i < x.length; i++) f[i] = (float) x[i];
        return f;
    }
}
