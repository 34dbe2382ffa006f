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
 * each and their ratio.
 */
public final class GemmBench {
    private GemmBench() {}

    public static void main(String[] args) {
        int reps = 10;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--help" -> {
                    System.out.println("usage: ./gptneo bench gemm [--reps N (10)]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
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
}
