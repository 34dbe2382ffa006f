package io.gptneo.bench;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.tensor.Bf16;
import io.gptneo.tensor.Gemm;
import io.gptneo.tensor.Kernels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * {@code ./gptneo bench bf16 [--reps N]}: the bf16 probe. Which kernel serves bf16 products here (oneDNN's matmul
 * implementation name, e.g. {@code brg:avx512_core_bf16} = native AVX512_BF16 instructions; run with
 * {@code ONEDNN_VERBOSE=1} to see oneDNN's ISA line and every call), and GFLOP/s of bf16 products (FLOAT activation
 * × BFLOAT16 weight, fp32 accumulation) against OpenBLAS sgemm at 2048³ and at the 125M model's product shapes,
 * best of N, one after the other in this process. Writes bench/results/bf16-DATE.json.
 */
public final class Bf16Bench {
    private Bf16Bench() {}

    public static void main(String[] args) throws Exception {
        int reps = 10;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--help" -> {
                    System.out.println("usage: ./gptneo bench bf16 [--reps N (10)]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        ObjectNode root = TrainStepBench.JSON.createObjectNode();
        root.put("benchmark", "bf16");
        root.put("date", Instant.now().toString());
        root.put("cpu_model", TrainStepBench.cpuModel());
        root.put("bf16_products", Kernels.get().bf16Products());
        root.set("env", TrainStepBench.envJson());
        root.put("load_avg_before", TrainStepBench.loadAvg());
        System.out.println("bf16 products: " + Kernels.get().bf16Products() + "; load " + TrainStepBench.loadAvg());
        var rows = root.putArray("results");
        // [M, K] · [N, K]ᵀ: 2048³, then the 125M step's products at B=2, T=256 (M = 512)
        int[][] shapes = {{2048, 2048, 2048}, {512, 768, 768}, {512, 768, 3072}, {512, 3072, 768}};
        for (int[] s : shapes) {
            int m = s[0], k = s[1], n = s[2];
            INDArray a = Nd4j.rand(DataType.FLOAT, m, k), w = Nd4j.rand(DataType.FLOAT, n, k);
            INDArray w16 = Bf16.of(w);
            double sg = TrainStepBench.bestInWorkspace(() -> Gemm.mm(a, w, false, true), reps),
                    bf = TrainStepBench.bestInWorkspace(() -> Gemm.mm(a, w16, false, true), reps);
            double flop = 2.0 * m * n * k;
            var row = rows.addObject();
            row.put("m", m);
            row.put("k", k);
            row.put("n", n);
            row.put("sgemm_gflops", flop / sg / 1e9);
            row.put("bf16_gflops", flop / bf / 1e9);
            row.put("bf16_over_sgemm", sg / bf);
            System.out.printf(
                    "%4d x %4d x %4d: sgemm %.1f GFLOP/s, bf16 %.1f GFLOP/s (%.2fx)%n",
                    m, k, n, flop / sg / 1e9, flop / bf / 1e9, sg / bf);
        }
        root.put("load_avg_after", TrainStepBench.loadAvg());
        Path out = ResultFiles.fresh("bf16");
        Files.createDirectories(out.getParent());
        TrainStepBench.JSON.writeValue(out.toFile(), root);
        System.out.println("wrote " + out);
    }
}
