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
        // {M, N, K, transB}: q/k/v/out, c_fc, c_proj (x·Wᵀ); their input gradients (g·W); LM head; a square reference.
        int[][] shapes = {
            {512, 768, 768, 1},
            {512, 3072, 768, 1},
            {512, 768, 3072, 1},
            {512, 768, 3072, 0},
            {512, 3072, 768, 0},
            {512, 50257, 768, 1},
            {2048, 2048, 2048, 0}
        };
        String[] names = {
            "x·Wᵀ attention proj",
            "x·Wᵀ c_fc",
            "x·Wᵀ c_proj",
            "g·W c_fc input grad",
            "g·W c_proj input grad",
            "x·Wᵀ LM head",
            "square 2048"
        };
        System.out.printf(
                Locale.ROOT,
                "%d cores, OPENBLAS_CORETYPE=%s, %d interleaved reps, best of each%n",
                Runtime.getRuntime().availableProcessors(),
                System.getenv().getOrDefault("OPENBLAS_CORETYPE", "(unset)"),
                reps);
        System.out.printf(
                Locale.ROOT,
                "%-24s %-18s %12s %12s %7s%n",
                "product",
                "M x N x K",
                "Nd4j GF/s",
                "direct GF/s",
                "ratio");
        for (int s = 0; s < shapes.length; s++) {
            int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            boolean tb = shapes[s][3] == 1;
            INDArray a = Rand.normal(DataType.FLOAT, 2L * s + 1, 1.0, m, k);
            INDArray b = tb
                    ? Rand.normal(DataType.FLOAT, 2L * s + 2, 1.0, n, k)
                    : Rand.normal(DataType.FLOAT, 2L * s + 2, 1.0, k, n);
            double bestNd4j = Double.MAX_VALUE, bestDirect = Double.MAX_VALUE;
            // Both results come from one reused workspace, as in the model's step and inference blocks: fresh native
            // memory costs page faults (on this VM ~0.3 s per 100 MB) that would swamp the products themselves.
            for (int r = 0; r < reps + 2; r++) { // the first two rounds warm up (and size the workspace)
                try (var ws = Workspaces.open("gptneo-bench-gemm")) {
                    long t0 = System.nanoTime();
                    INDArray c1 = Nd4j.gemm(a, b, false, tb);
                    long t1 = System.nanoTime();
                    INDArray c2 = Gemm.mm(a, b, false, tb);
                    long t2 = System.nanoTime();
                    if (r == 0) {
                        double diff = c1.sub(c2).amaxNumber().doubleValue();
                        if (diff > 1e-3)
                            throw new IllegalStateException("results differ by " + diff + " at " + names[s]);
                    }
                    if (r < 2) continue;
                    bestNd4j = Math.min(bestNd4j, (t1 - t0) / 1e9);
                    bestDirect = Math.min(bestDirect, (t2 - t1) / 1e9);
                }
            }
            double f = 2.0 * m * n * (double) k / 1e9;
            System.out.printf(
                    Locale.ROOT,
                    "%-24s %-18s %12.1f %12.1f %6.2fx%n",
                    names[s],
                    m + "x" + n + "x" + k,
                    f / bestNd4j,
                    f / bestDirect,
                    bestNd4j / bestDirect);
        }
    }

    /**
     * {@code --packed}: each of the model's weight products as a training step runs it (x·Wᵀ forward, g·W input
     * gradient, frozen weight packed by {@link io.gptneo.tensor.PackedWeights} on first use) against the plain product on
     * the same arrays, interleaved rep by rep in one reused workspace; the two results are checked to agree first.
     */
    private static void packed(int reps, boolean bf16) {
        int[][] shapes = { // {M, N, K, transW}
            {512, 768, 768, 1},
            {512, 2304, 768, 1},
            {512, 3072, 768, 1},
            {512, 768, 3072, 1},
            {512, 768, 3072, 0},
            {512, 3072, 768, 0},
            {2048, 2048, 2048, 1}
        };
        System.out.printf(
                Locale.ROOT,
                "%s weights, %s, %d interleaved reps, best of each%n",
                bf16 ? "bf16" : "fp32",
                bf16 ? io.gptneo.tensor.Kernels.get().bf16Products() : Gemm.describe(),
                reps);
        System.out.printf(
                Locale.ROOT,
                "%-8s %-18s %12s %12s %7s%n",
                "product",
                "M x N x K",
                "plain GF/s",
                "packed GF/s",
                "ratio");
        for (int s = 0; s < shapes.length; s++) {
            int m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
            boolean tw = shapes[s][3] == 1;
            INDArray a = Rand.normal(DataType.FLOAT, 2L * s + 1, 1.0, m, k);
            INDArray w32 = tw
                    ? Rand.normal(DataType.FLOAT, 2L * s + 2, 1.0, n, k)
                    : Rand.normal(DataType.FLOAT, 2L * s + 2, 1.0, k, n);
            INDArray w = bf16 ? io.gptneo.tensor.Bf16.of(w32) : w32;
            io.gptneo.tensor.Tensor wt = io.gptneo.tensor.Tensor.constant(w).named("bench.w" + s);
            double bestPlain = Double.MAX_VALUE, bestPacked = Double.MAX_VALUE;
            for (int r = 0; r < reps + 2; r++) {
                try (var ws = Workspaces.open("gptneo-bench-gemm")) {
                    long t0 = System.nanoTime();
                    INDArray c1 = Gemm.mm(a, w, false, tw);
                    long t1 = System.nanoTime();
                    INDArray c2 = Gemm.mmWeight(a, wt, w, tw, null);
                    long t2 = System.nanoTime();
                    if (r == 0) {
                        double scale = Math.max(1e-30, c1.amaxNumber().doubleValue());
                        double diff = c1.sub(c2).amaxNumber().doubleValue() / scale;
                        if (diff > 1e-3)
                            throw new IllegalStateException("plain and packed products differ by " + diff
                                    + " (relative) at " + m + "x" + n + "x" + k);
                    }
                    if (r < 2) continue;
                    bestPlain = Math.min(bestPlain, (t1 - t0) / 1e9);
                    bestPacked = Math.min(bestPacked, (t2 - t1) / 1e9);
                }
            }
            double f = 2.0 * m * n * (double) k / 1e9;
            System.out.printf(
                    Locale.ROOT,
                    "%-8s %-18s %12.1f %12.1f %6.2fx%n",
                    tw ? "x·Wᵀ" : "g·W",
                    m + "x" + n + "x" + k,
                    f / bestPlain,
                    f / bestPacked,
                    bestPlain / bestPacked);
        }
    }
}
