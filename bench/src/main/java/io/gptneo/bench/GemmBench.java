package io.gptneo.bench;

import io.gptneo.tensor.Gemm;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Workspaces;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code ./gptneo bench gemm [--reps N]}: the model's matrix products (125M config, B·T = 512 rows) through
 * {@code Nd4j.gemm} and through {@link Gemm} (cblas on the same buffers), interleaved rep by rep in one JVM so the
 * ratio pairs timings taken milliseconds apart, each result allocated in a reused workspace. Each row: best GFLOP/s of
 * each and their ratio. {@code --packed [--precision fp32|bf16]}: instead, each weight product as a training step runs
 * it, on the packed copy of a frozen weight, against the plain product on the same arrays.
 */
public final class GemmBench {
    private GemmBench() {}

    /** {M, N, K, transB}: the 125M model's products at B·T = 512 rows, and a square reference. */
    private static final int[][] SHAPES = {
        {512, 768, 768, 1},
        {512, 2304, 768, 1},
        {512, 3072, 768, 1},
        {512, 768, 3072, 1},
        {512, 768, 3072, 0},
        {512, 3072, 768, 0},
        {512, 50257, 768, 1},
        {2048, 2048, 2048, 0}
    };

    private static final String[] NAMES = {
        "x·Wᵀ attention proj",
        "x·Wᵀ fused q/k/v",
        "x·Wᵀ c_fc",
        "x·Wᵀ c_proj",
        "g·W c_fc input grad",
        "g·W c_proj input grad",
        "x·Wᵀ LM head",
        "square 2048"
    };

    public static void main(String[] args) {
        int reps = 10;
        boolean packed = false, bf16 = false;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--packed" -> packed = true;
                case "--precision" -> {
                    String p = args[++i];
                    if (!p.equals("fp32") && !p.equals("bf16"))
                        throw new IllegalArgumentException("--precision must be fp32 or bf16, got " + p);
                    bf16 = p.equals("bf16");
                }
                case "--help" -> {
                    System.out.println("usage: ./gptneo bench gemm [--reps N (10)] [--packed [--precision fp32|bf16]]\n"
                            + "  --packed  a frozen weight's plain product (Gemm.mm) against the packed copy a training step\n"
                            + "            uses (Gemm.mmWeight), interleaved; bf16: the weight held in bf16");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (bf16 && !packed) throw new IllegalArgumentException("--precision applies to --packed only");
        if (packed) {
            packed(reps, bf16);
            return;
        }
        if (!Gemm.direct())
            System.out.println("note: direct OpenBLAS path unavailable here, both columns run Nd4j.gemm");
        System.out.printf(
                Locale.ROOT,
                "%d cores, OPENBLAS_CORETYPE=%s, %d interleaved reps, best of each%n",
                Runtime.getRuntime().availableProcessors(),
                System.getenv().getOrDefault("OPENBLAS_CORETYPE", "(unset)"),
                reps);
        header(24, "Nd4j GF/s", "direct GF/s");
        for (int s = 0; s < SHAPES.length; s++) {
            boolean tb = SHAPES[s][3] == 1;
            INDArray[] ab = operands(s);
            INDArray a = ab[0], b = ab[1];
            double[] best = bestOfInterleaved(
                    reps, () -> Nd4j.gemm(a, b, false, tb), () -> Gemm.mm(a, b, false, tb), 1.0, NAMES[s]);
            row(s, best);
        }
    }

    /**
     * {@code --packed}: each of the model's weight products as a training step runs it (x·Wᵀ forward, g·W input
     * gradient, frozen weight packed by {@link io.gptneo.tensor.PackedWeights} on first use) against the plain product on
     * the same arrays, interleaved rep by rep in one reused workspace; the two results are checked to agree first.
     */
    private static void packed(int reps, boolean bf16) {
        System.out.printf(
                Locale.ROOT,
                "%s weights, %s, %d interleaved reps, best of each%n",
                bf16 ? "bf16" : "fp32",
                bf16 ? io.gptneo.tensor.Kernels.get().bf16Products() : Gemm.describe(),
                reps);
        header(24, "plain GF/s", "packed GF/s");
        for (int s = 0; s < SHAPES.length; s++) {
            if (NAMES[s].contains("LM head")) continue; // not a frozen weight of a cost-model step
            boolean tw = SHAPES[s][3] == 1;
            INDArray[] aw = operands(s);
            INDArray a = aw[0], w32 = aw[1];
            INDArray w = bf16 ? io.gptneo.tensor.Bf16.of(w32) : w32;
            io.gptneo.tensor.Tensor wt = io.gptneo.tensor.Tensor.constant(w).named("bench.w" + s);
            double[] best = bestOfInterleaved(
                    reps,
                    () -> Gemm.mm(a, w, false, tw),
                    () -> Gemm.mmWeight(a, wt, w, tw, null),
                    0, // relative to the largest |value|
                    "plain and packed " + NAMES[s]);
            row(s, best);
        }
    }

    /**
     * Best seconds of {@code first} and {@code second}, run alternately {@code reps} times after two warm-up rounds,
     * each round in one reused workspace (as in the model's step and inference blocks: fresh native memory costs page
     * faults, on these VMs ~0.3 s per 100 MB, that would swamp the products). The first round's results must agree
     * within 1e-3: absolute when {@code scale} > 0 (divided by it), else relative to the first result's largest |value|.
     */
    private static double[] bestOfInterleaved(
            int reps,
            java.util.function.Supplier<INDArray> first,
            java.util.function.Supplier<INDArray> second,
            double scale,
            String what) {
        double[] best = {Double.MAX_VALUE, Double.MAX_VALUE};
        for (int r = 0; r < reps + 2; r++) { // the first two rounds warm up (and size the workspace)
            try (var ws = Workspaces.open("gptneo-bench-gemm")) {
                long t0 = System.nanoTime();
                INDArray c1 = first.get();
                long t1 = System.nanoTime();
                INDArray c2 = second.get();
                long t2 = System.nanoTime();
                if (r == 0) {
                    double by =
                            scale > 0 ? scale : Math.max(1e-30, c1.amaxNumber().doubleValue());
                    double diff = c1.sub(c2).amaxNumber().doubleValue() / by;
                    if (diff > 1e-3) throw new IllegalStateException(what + ": results differ by " + diff);
                }
                if (r < 2) continue;
                best[0] = Math.min(best[0], (t1 - t0) / 1e9);
                best[1] = Math.min(best[1], (t2 - t1) / 1e9);
            }
        }
        return best;
    }

    /** The table's header: a product column {@code width} wide, then the two timed columns and their ratio. */
    private static void header(int width, String first, String second) {
        System.out.printf(
                Locale.ROOT, "%-" + width + "s %-18s %12s %12s %7s%n", "product", "M x N x K", first, second, "ratio");
    }

    /** Shape s's operands: a [M, K] and the weight, [N, K] when transposed (x·Wᵀ) else [K, N]; seeded by s. */
    private static INDArray[] operands(int s) {
        int m = SHAPES[s][0], n = SHAPES[s][1], k = SHAPES[s][2];
        INDArray a = Rand.normal(DataType.FLOAT, 2L * s + 1, 1.0, m, k);
        INDArray b = SHAPES[s][3] == 1
                ? Rand.normal(DataType.FLOAT, 2L * s + 2, 1.0, n, k)
                : Rand.normal(DataType.FLOAT, 2L * s + 2, 1.0, k, n);
        return new INDArray[] {a, b};
    }

    /** One table row: shape s's name and size, GFLOP/s of the two best times and their ratio. */
    private static void row(int s, double[] best) {
        int m = SHAPES[s][0], n = SHAPES[s][1], k = SHAPES[s][2];
        double f = 2.0 * m * n * (double) k / 1e9;
        System.out.printf(
                Locale.ROOT,
                "%-24s %-18s %12.1f %12.1f %6.2fx%n",
                NAMES[s],
                m + "x" + n + "x" + k,
                f / best[0],
                f / best[1],
                best[0] / best[1]);
    }
}
