package io.gptneo.bench;

/** {@code ./gptneo bench NAME}: dispatches to the benchmark mains of this module. */
public final class BenchMain {
    private BenchMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length == 0 || args[0].equals("--help")) {
            System.out.println(
                    "usage: ./gptneo bench (attention | train-step | forward | gemm | bf16 | tokenizer | serve) [options]; NAME --help for each");
            return;
        }
        if (args[0].equals("attention")) {
            AttentionBenchmark.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args[0].equals("serve")) {
            ServeLoadBench.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args[0].equals("train-step")) {
            TrainStepBench.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args[0].equals("forward")) {
            ForwardBench.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args[0].equals("gemm")) {
            GemmBench.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args[0].equals("bf16")) {
            Bf16Bench.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        if (args[0].equals("tokenizer")) {
            TokenizerBench.main(java.util.Arrays.copyOfRange(args, 1, args.length));
            return;
        }
        System.err.println("unknown benchmark: " + args[0]
                + " (attention | train-step | forward | gemm | bf16 | tokenizer | serve)");
        System.exit(2);
    }
}
