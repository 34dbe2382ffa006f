package io.gptneo.bench;

import io.gptneo.model.CostModel;
import io.gptneo.model.GptNeoModel;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.Dtype;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.SafeTensorsWriter;
import io.gptneo.weights.SharedData;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@code ./gptneo bench forward}: inference throughput of the real GPT-Neo 125M shape (random weights, float32,
 * no tape) for B=2,T=256 and B=1,T=1024 — hidden states plus LM logits at every position, as HF's forward — and the
 * peak resident memory (VmHWM) of a fresh JVM that loads the 125M checkpoint from safetensors and runs one T=1024
 * forward.
 */
public final class ForwardBench {
    /** PyTorch 1.13 forward on this machine kind, B=2, T=256 (tokens/s). */
    static final double PYTORCH_B2_T256 = 333;

    private ForwardBench() {}

    public static void main(String[] args) throws Exception {
        int warmup = 2, reps = 5;
        Path config = null;
        boolean memory = true, torch = true;
        String precision = "fp32";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--reps" -> reps = Integer.parseInt(args[++i]);
                case "--config" -> config = Path.of(args[++i]);
                case "--no-memory" -> memory = false;
                case "--no-torch" -> torch = false;
                case "--precision" -> precision = args[++i];
                case "--memory-probe" -> {
                    memoryProbe(Path.of(args[++i]), i + 1 < args.length ? args[++i] : "fp32");
                    return;
                }
                case "--help" -> {
                    System.out.println(
                            "usage: ./gptneo bench forward [--warmup N (2)] [--reps N (5)] [--config config.json] [--no-memory] [--no-torch] [--precision fp32|bf16]");
                    System.out.println(
                            "  --precision bf16  block weights held in bf16 (oneDNN bf16 matmul); PyTorch under CPU bf16 autocast");
                    System.out.println(
                            "  --no-torch  skip the PyTorch side-by-side run (bench/python/torch_anchor.py --mode lm on /usr/bin/python3)");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (config == null) config = SharedData.resolve("models/gpt-neo-125M/config.json");
        TrainStepBench.OMP_WAIT = System.getenv().getOrDefault("OMP_WAIT_POLICY", "passive");
        GptNeoConfig cfg = GptNeoConfig.load(config);
        long t0 = System.nanoTime();
        GptNeoModel model = GptNeoModel.random(cfg, 0, DataType.FLOAT);
        // variants: "-unfused" runs q/k/v as three products; "bf16-convert" (memory probe) loads fp32, then converts
        String base = precision.replace("-convert", "").replace("-unfused", "");
        if (!base.equals("fp32") && !base.equals("bf16"))
            throw new IllegalArgumentException(
                    "--precision must be fp32 or bf16 (or bf16-convert, with -unfused), got " + precision);
        if (base.equals("bf16")) model.holdBaseInBf16();
        if (precision.endsWith("-unfused")) model.setFusedQkv(false);
        System.out.printf(
                "model: %s, %,d parameters (%.0f MB fp32), random init in %.1f s; %d cores, %d warmup + %d timed reps%n",
                model,
                model.parameterCount(),
                model.parameterCount() * 4 / 1e6,
                (System.nanoTime() - t0) / 1e9,
                Runtime.getRuntime().availableProcessors(),
                warmup,
                reps);

        Path script = TrainStepBench.torchScript();
        String torchWhy = torch ? TrainStepBench.torchAvailable(script) : "--no-torch";
        double tps256 = 0;
        var root = TrainStepBench.JSON.createObjectNode();
        root.put("benchmark", "forward");
        root.put("date", java.time.Instant.now().toString());
        root.put(
                "what",
                "125M config, random FLOAT weights, no tape: final hidden states and LM logits at every position");
        root.put("cpu_model", TrainStepBench.cpuModel());
        root.put("cpus", Runtime.getRuntime().availableProcessors());
        root.put("warmup", warmup);
        root.put("reps", reps);
        root.put("attention_kernel", model.attentionKernel().name());
        root.put("precision", precision);
        if (base.equals("bf16"))
            root.put("bf16_products", io.gptneo.tensor.Kernels.get().bf16Products());
        root.set("env", TrainStepBench.envJson());
        root.put("issue_anchor_b2_t256_tokens_per_s", PYTORCH_B2_T256);
        var rows = root.putArray("results");
        for (int[] bt : new int[][] {{2, 256}, {1, 1024}}) {
            double[] s = time(model, bt[0], bt[1], warmup, reps);
            double tps = bt[0] * bt[1] / s[1];
            if (bt[1] == 256) tps256 = tps;
            System.out.printf(
                    "forward B=%d T=%d: median %.3f s, min %.3f s -> %.0f tokens/s%n", bt[0], bt[1], s[1], s[0], tps);
            var row = rows.addObject();
            row.put("batch", bt[0]);
            row.put("seq", bt[1]);
            row.put("ours_median_s", s[1]);
            row.put("ours_best_s", s[0]);
            row.put("ours_tokens_per_s", tps);
            row.put("load_avg", TrainStepBench.loadAvg());
            if (torchWhy != null) continue;
            // PyTorch right after, same shapes, hidden + logits at every position: the ratio pairs runs seconds apart.
            var t = TrainStepBench.runTorch(
                    script,
                    List.of(
                            "--mode",
                            "lm",
                            "--precision",
                            precision,
                            "--batch",
                            "" + bt[0],
                            "--seq",
                            "" + bt[1],
                            "--warmup",
                            "" + warmup,
                            "--reps",
                            "" + reps,
                            "--config",
                            config.toString()));
            if (t == null) {
                System.out.println("  torch: failed (see stderr)");
                continue;
            }
            double tt = t.get("tokens_per_s").asDouble();
            row.put("torch_version", t.get("torch_version").asText());
            row.put(
                    "torch_blas_core",
                    t.path("blas_core").asText("?") + " (OPENBLAS_CORETYPE "
                            + t.path("openblas_coretype").asText("?") + ")");
            String unlike = TrainStepBench.isaMismatch(
                    base, io.gptneo.tensor.Gemm.describe(), t.path("blas_core").asText("?"));
            if (unlike != null) {
                row.put("not_like_for_like", unlike);
                System.out.println("  NOTE: " + unlike);
            }
            row.put("torch_median_s", t.get("median_s").asDouble());
            row.put("torch_tokens_per_s", tt);
            row.put("torch_peak_rss_mb", t.get("peak_rss_mb").asDouble());
            row.put("ours_over_torch", tps / tt);
            System.out.printf(
                    "  torch %s B=%d T=%d: median %.3f s -> %.0f tokens/s; ours / torch = %.2fx%n",
                    t.get("torch_version").asText(),
                    bt[0],
                    bt[1],
                    t.get("median_s").asDouble(),
                    tt,
                    tps / tt);
        }
        System.out.printf(
                "B=2,T=256: ours %.0f tokens/s vs the issue's PyTorch 1.13 anchor figure %.0f tokens/s (ratio %.2f)%s%n",
                tps256,
                PYTORCH_B2_T256,
                tps256 / PYTORCH_B2_T256,
                torchWhy == null ? "" : "; PyTorch not run: " + torchWhy);
        root.put("torch", torchWhy == null ? "run side by side: " + script : "not run: " + torchWhy);
        Path outFile = ResultFiles.fresh("forward");

        if (memory) {
            Path dir = Files.createTempDirectory("gptneo-bench-125m");
            try {
                saveCheckpoint(model, cfg, dir);
                model = null;
                root.put("memory_probe", runProbe(dir, precision));
            } finally {
                try (var files = Files.list(dir)) {
                    for (Path p : files.toList()) Files.deleteIfExists(p);
                }
                Files.deleteIfExists(dir);
            }
        }
        Files.createDirectories(outFile.getParent());
        TrainStepBench.JSON.writeValue(outFile.toFile(), root);
        System.out.println("wrote " + outFile);
    }

    /** {min, median} seconds of hidden + logits for a [B, T] batch of random ids. */
    static double[] time(GptNeoModel model, int b, int t, int warmup, int reps) {
        SplittableRandom r = new SplittableRandom(b * 31L + t);
        int[][] ids = new int[b][t];
        for (int[] row : ids)
            for (int i = 0; i < t; i++) row[i] = r.nextInt(model.config().vocabSize());
        double[] secs = new double[reps];
        try (var off = GradMode.off()) {
            for (int i = 0; i < warmup + reps; i++) {
                long s = System.nanoTime();
                Tensor logits = model.logits(model.forward(ids, null, null));
                if (logits.size(2) != model.config().vocabSize()) throw new IllegalStateException("bad logits");
                if (i >= warmup) secs[i - warmup] = (System.nanoTime() - s) / 1e9;
            }
        }
        Arrays.sort(secs);
        return new double[] {secs[0], secs[reps / 2]};
    }

    static void saveCheckpoint(GptNeoModel model, GptNeoConfig cfg, Path dir) throws IOException {
        Map<String, INDArray> w = new LinkedHashMap<>();
        for (var e : model.parameters().entrySet())
            w.put(e.getKey(), e.getValue().data());
        // float32 on disk, as HF ships the 125M model (a bf16 model's weights widen exactly)
        SafeTensorsWriter.write(dir.resolve("model.safetensors"), w, Map.of("format", "pt"), Dtype.F32);
        cfg.save(dir.resolve("config.json"));
    }

    /** Starts a fresh JVM (same flags and classpath) running {@link #memoryProbe} and relays its report. */
    static String runProbe(Path dir, String precision) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(ForwardBench.class.getName());
        cmd.add("--memory-probe");
        cmd.add(dir.toString());
        cmd.add(precision);
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String report = null;
        try (BufferedReader in =
                new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line; (line = in.readLine()) != null; ) {
                if (line.startsWith("memory")) {
                    System.out.println(line);
                    report = report == null ? line : report + " | " + line;
                }
            }
        }
        if (p.waitFor() != 0) throw new IllegalStateException("memory probe exited with " + p.exitValue());
        return report;
    }

    /** In a fresh JVM: VmHWM after JVM + ND4J start, after loading, after one T=1024 forward (hidden + logits). */
    static void memoryProbe(Path dir, String precision) throws IOException {
        try (var off = GradMode.off()) {
            Tensor warm =
                    Tensor.constant(org.nd4j.linalg.factory.Nd4j.ones(DataType.FLOAT, 2, 2)); // load native libraries
            long base = vmHwmKb();
            long t0 = System.nanoTime();
            // "bf16": block weights read straight into bf16; "bf16-convert": loaded in fp32, then converted (the
            // old path, for comparison); a "-unfused" suffix runs q/k/v as three products (no stacked copy)
            GptNeoModel m = precision.startsWith("bf16-convert")
                    ? GptNeoModel.load(dir, DataType.FLOAT)
                    : precision.startsWith("bf16")
                            ? GptNeoModel.loadBf16Base(dir)
                            : GptNeoModel.load(dir, DataType.FLOAT);
            if (precision.startsWith("bf16")) m.holdBaseInBf16();
            if (precision.endsWith("-unfused")) m.setFusedQkv(false);
            double loadS = (System.nanoTime() - t0) / 1e9;
            long loaded = vmHwmKb(), fileBacked = statusKb("RssFile:");
            int t = 1024;
            int[][] ids = new int[1][t];
            SplittableRandom r = new SplittableRandom(1);
            for (int i = 0; i < t; i++) ids[0][i] = r.nextInt(m.config().vocabSize());
            CostModel cm = new CostModel(m, ScoreHead.normal(1, m.config().hiddenSize(), 42, DataType.FLOAT));
            Tensor costs = cm.costs(
                    ids,
                    new int[][] {java.util.Arrays.stream(ids[0]).map(x -> 1).toArray()});
            long costPeak = vmHwmKb(); // the cost model's forward (no LM head): the 800 MB bf16 goal
            System.out.printf(
                    "memory (fresh JVM, %s): VmHWM %.0f MB after one B=1,T=1024 cost-model forward (score head, no logits;"
                            + " Java heap committed %.0f MB of it)%n",
                    precision, costPeak / 1024.0, Runtime.getRuntime().totalMemory() / 1e6);
            Tensor logits = m.logits(m.forward(ids, null, null));
            long peak = vmHwmKb();
            System.out.printf(
                    "memory (fresh JVM, " + precision
                            + ", %s): VmHWM %.0f MB after JVM/ND4J start, %.0f MB after loading (%.1f s; %.0f MB of it file-backed mmap pages), "
                            + "%.0f MB after one B=1,T=1024 forward with logits %s (goal < 1500 MB)%n",
                    ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                            .filter(a -> a.startsWith("-Xmx"))
                            .findFirst()
                            .orElse("default heap"),
                    base / 1024.0,
                    loaded / 1024.0,
                    loadS,
                    fileBacked / 1024.0,
                    peak / 1024.0,
                    Arrays.toString(logits.shape()));
            if (warm.size(0) != 2) throw new IllegalStateException();
        }
    }

    /** Peak resident set size of this process in kB (VmHWM of /proc/self/status). */
    static long vmHwmKb() throws IOException {
        return statusKb("VmHWM:");
    }

    /** A kB field of /proc/self/status. */
    static long statusKb(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field)) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        }
        throw new IllegalStateException("no " + field + " in /proc/self/status");
    }
}
