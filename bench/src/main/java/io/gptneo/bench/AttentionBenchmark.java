package io.gptneo.bench;

import io.gptneo.tensor.Kernels;
import io.gptneo.tensor.Workspaces;
import io.gptneo.tensor.attention.AttentionKernel;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Attention kernels, B = 1, 12 heads, head dim 64, float32, no padding: forward and forward+backward,
 * global (causal) and local (window 256). {@code ./gptneo bench attention [--quick] [-t 256,2048] [--kernels a,b]}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(
        value = 1,
        jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-XX:PerMethodTrapLimit=10000"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
public class AttentionBenchmark {
    static final int HEADS = 12, HEAD_DIM = 64, LOCAL_WINDOW = 256;

    @Param({"reference", "fused"})
    public String kernel;

    @Param({"global", "local"})
    public String attention;

    @Param({"256", "512", "1024", "2048"})
    public int t;

    private AttentionKernel kern;
    private INDArray q, k, v, dOut;
    private int window;

    @Setup(Level.Trial)
    public void setUp() {
        kern = Kernels.attention(kernel);
        window = attention.equals("local") ? LOCAL_WINDOW : 0;
        Nd4j.getRandom().setSeed(42);
        q = Nd4j.randn(DataType.FLOAT, 1, HEADS, t, HEAD_DIM);
        k = Nd4j.randn(DataType.FLOAT, 1, HEADS, t, HEAD_DIM);
        v = Nd4j.randn(DataType.FLOAT, 1, HEADS, t, HEAD_DIM);
        dOut = Nd4j.randn(DataType.FLOAT, 1, HEADS, t, HEAD_DIM);
    }

    /**
     * {@code step}: each call inside a step workspace, as the model runs attention in training and inference, so
     * temporaries (the matmul kernel's [B, H, T, T] scores) reuse memory; {@code none}: fresh memory every call.
     */
    @Param({"step", "none"})
    public String workspace;

    private Workspaces.Scope scope() {
        return workspace.equals("step") ? Workspaces.open(Workspaces.STEP) : Workspaces.outside();
    }

    @Benchmark
    public long forward() {
        try (var ws = scope()) {
            return kern.forward(q, k, v, null, window, 1.0, false).out().length();
        }
    }

    @Benchmark
    public long forwardBackward() {
        try (var ws = scope()) {
            AttentionKernel.Forward f = kern.forward(q, k, v, null, window, 1.0, true);
            return kern.backward(f, q, k, v, null, window, 1.0, dOut).dq().length();
        }
    }

    /** Entry point of {@code ./gptneo bench attention}. */
    public static void main(String[] args) throws Exception {
        boolean quick = false;
        String lengths = null, kernels = "reference,fused", out = null, workspaces = "step,none";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--quick" -> quick = true;
                case "-t", "--lengths" -> lengths = args[++i];
                case "--kernels" -> kernels = args[++i];
                case "--workspace" -> workspaces = args[++i];
                case "-o", "--out" -> out = args[++i];
                case "-h", "--help" -> {
                    System.out.println("usage: ./gptneo bench attention [--quick] [-t 256,512,1024,2048] "
                            + "[--kernels reference,fused,matmul,nd4j] [--workspace step,none] [-o results.json]\n"
                            + "  --quick: warmup 1x0.5 s, measurement 2x0.5 s, T = 256,512 unless -t is given");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (try --help)");
            }
        }
        if (lengths == null && quick) lengths = "256,512";
        if (out == null)
            out = ResultFiles.fresh(quick ? "attention-quick" : "attention").toString();
        ChainedOptionsBuilder opts = new OptionsBuilder()
                .include(AttentionBenchmark.class.getName() + "\\.")
                .param("kernel", kernels.split(","))
                .param("workspace", workspaces.split(","))
                .resultFormat(ResultFormatType.JSON)
                .result(out);
        if (lengths != null) opts.param("t", lengths.split(","));
        if (quick)
            opts.warmupIterations(1)
                    .warmupTime(TimeValue.milliseconds(500))
                    .measurementIterations(2)
                    .measurementTime(TimeValue.milliseconds(500));
        Collection<RunResult> results = new Runner(opts.build()).run();
        System.out.println();
        System.out.print(summary(results));
        System.out.println("JSON: " + out);
    }

    /** Table: one line per (benchmark/workspace, attention, T), ms per kernel and reference/fused speedup. */
    static String summary(Collection<RunResult> results) {
        Map<String, Map<String, Double>> rows = new TreeMap<>();
        List<String> kernelNames = new ArrayList<>();
        for (RunResult r : results) {
            var p = r.getParams();
            String method = p.getBenchmark().substring(p.getBenchmark().lastIndexOf('.') + 1);
            String key = String.format(
                    "%-22s %-7s %5s", method + "/" + p.getParam("workspace"), p.getParam("attention"), p.getParam("t"));
            String kn = p.getParam("kernel");
            if (!kernelNames.contains(kn)) kernelNames.add(kn);
            rows.computeIfAbsent(key, x -> new TreeMap<>())
                    .put(kn, r.getPrimaryResult().getScore());
        }
        StringBuilder sb = new StringBuilder(String.format("%-22s %-7s %5s", "case/workspace", "attn", "T"));
        for (String kn : kernelNames) sb.append(String.format(" %12s", kn + " ms"));
        sb.append(String.format(" %14s%n", "ref/fused"));
        // numeric order of T within (method, attention)
        List<String> keys = new ArrayList<>(rows.keySet());
        keys.sort((a, b) -> {
            int c = a.substring(0, 31).compareTo(b.substring(0, 31));
            return c != 0
                    ? c
                    : Integer.compare(
                            Integer.parseInt(a.substring(31).trim()),
                            Integer.parseInt(b.substring(31).trim()));
        });
        for (String key : keys) {
            Map<String, Double> m = rows.get(key);
            sb.append(key);
            for (String kn : kernelNames)
                sb.append(m.containsKey(kn) ? String.format(" %12.2f", m.get(kn)) : String.format(" %12s", "-"));
            Double ref = m.get("reference"), fused = m.get("fused");
            sb.append(
                    ref != null && fused != null
                            ? String.format(" %13.2fx%n", ref / fused)
                            : String.format(" %14s%n", "-"));
        }
        return sb.toString();
    }
}
