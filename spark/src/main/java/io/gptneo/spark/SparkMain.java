package io.gptneo.spark;

import io.gptneo.train.TrainConfig;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.spark.SparkConf;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The application jar's main ({@code spark-submit --class io.gptneo.spark.SparkMain gptneo-spark-app.jar score|train ...})
 * and {@code ./gptneo spark score|train ...} on this machine ({@code local[2]} unless {@code --master} or spark-submit
 * sets a master).
 */
@Command(
        name = "gptneo spark",
        mixinStandardHelpOptions = true,
        subcommands = {SparkMain.Score.class, SparkMain.Train.class},
        description = "Batch scoring and data-parallel LoRA training on Apache Spark.")
public final class SparkMain implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    abstract static class SparkCommand {
        @Option(
                names = "--master",
                paramLabel = "URL",
                description = "Spark master (default: spark-submit's, else local[2]).")
        String master;

        SparkSession session(String name) {
            SparkSession.Builder b = SparkSession.builder().appName(name);
            if (master != null) b.master(master);
            else if (!new SparkConf().contains("spark.master")) b.master("local[2]");
            return b.getOrCreate();
        }
    }

    @Command(
            name = "score",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Scores JSONL or Parquet rows with prompt and response (or PKU pairs: prompt, response_0, response_1).",
                "Adds cost (> 0 = unsafe), unsafe and error; a row that cannot be scored keeps its place with the reason in error.",
                "--output ending in .jsonl writes JSON Lines (a folder of part files; --single-file: one file), else Parquet."
            })
    static final class Score extends SparkCommand implements Callable<Integer> {
        @Option(names = "--model", required = true, paramLabel = "DIR")
        String model;

        @Option(names = "--adapter", paramLabel = "DIR", description = "PEFT adapter folder (LoRA + score head).")
        String adapter;

        @Option(
                names = "--input",
                required = true,
                paramLabel = "FILE|DIR",
                description = ".jsonl/.json: JSON Lines; else Parquet.")
        String input;

        @Option(names = "--output", required = true, paramLabel = "PATH")
        String output;

        @Option(
                names = "--single-file",
                description =
                        "JSON Lines output as one file (in input order unless --partitions shuffled it) instead of a folder.")
        boolean singleFile;

        @Option(
                names = "--pairs",
                paramLabel = "per-pair|per-response",
                defaultValue = "per-pair",
                description =
                        "PKU pairs: one row per pair (cost_0, cost_1, safer) or per response (default ${DEFAULT-VALUE}).")
        String pairs;

        @Option(
                names = "--max-length",
                defaultValue = "1024",
                paramLabel = "N",
                description = "Tokens per sequence, longer rows are cut (default ${DEFAULT-VALUE}).")
        int maxLength;

        @Option(
                names = "--max-tokens",
                defaultValue = "0",
                paramLabel = "N",
                description = "Rows longer than N tokens get an error instead (0: no limit).")
        int maxTokens;

        @Option(
                names = "--batch-size",
                defaultValue = "8",
                paramLabel = "N",
                description = "Rows per forward pass (default ${DEFAULT-VALUE}).")
        int batchSize;

        @Option(
                names = "--partitions",
                defaultValue = "0",
                paramLabel = "N",
                description = "Spread the input over N tasks (a shuffle: row order changes; 0: as read).")
        int partitions;

        @Override
        public Integer call() throws Exception {
            if (!pairs.equals("per-pair") && !pairs.equals("per-response"))
                throw new IllegalArgumentException("--pairs: per-pair or per-response, got " + pairs);
            ScoreSettings s = new ScoreSettings(model, adapter, maxLength, batchSize, maxTokens);
            SparkSession spark = session("gptneo score");
            try {
                long t0 = System.nanoTime();
                Dataset<Row> in =
                        isJson(input) ? spark.read().json(input) : spark.read().parquet(input);
                if (partitions > 0) in = in.repartition(partitions);
                boolean pairFormat = SparkScoring.isPairs(in.schema());
                Dataset<Row> out = !pairFormat
                        ? SparkScoring.score(in, s)
                        : pairs.equals("per-pair")
                                ? SparkScoring.scorePairs(in, s)
                                : SparkScoring.scorePairResponses(in, s);
                long rows = write(spark, out, output, singleFile);
                double secs = (System.nanoTime() - t0) / 1e9;
                System.out.printf(
                        Locale.ROOT, "%d rows scored -> %s (%.1f s, %.1f rows/s)%n", rows, output, secs, rows / secs);
            } finally {
                spark.stop();
            }
            return 0;
        }
    }

    @Command(
            name = "train",
            mixinStandardHelpOptions = true,
            sortOptions = false,
            description = {
                "Data-parallel LoRA training of the cost model: --tasks replicas in one barrier stage, gradients summed every step.",
                "Settings as ./gptneo train (--config FILE, keys = its flag names); --out must be shared storage. A failed task reruns the",
                "stage, which resumes from the newest checkpoint."
            })
    static final class Train extends SparkCommand implements Callable<Integer> {
        @Option(names = "--model", paramLabel = "DIR")
        String model;

        @Option(
                names = "--data",
                paramLabel = "FILE",
                split = ",",
                description = "JSONL data (pairs or QA), comma-separated.")
        List<String> data;

        @Option(names = "--out", paramLabel = "DIR")
        String out;

        @Option(names = "--config", paramLabel = "FILE", description = "JSON settings as ./gptneo train --config.")
        Path config;

        @Option(
                names = "--tasks",
                defaultValue = "2",
                paramLabel = "N",
                description = "Replicas (barrier tasks; default ${DEFAULT-VALUE}).")
        int tasks;

        @Option(
                names = "--batch-size",
                paramLabel = "N",
                description = "Global batch (pairs per step, split across the tasks).")
        Integer batchSize;

        @Option(names = "--max-steps", paramLabel = "N")
        Long maxSteps;

        @Option(names = "--lr", paramLabel = "X")
        Double lr;

        @Option(names = "--save-every", paramLabel = "N")
        Long saveEvery;

        @Option(names = "--resume", paramLabel = "DIR")
        String resume;

        @Override
        public Integer call() throws Exception {
            TrainConfig c = new TrainConfig();
            if (config != null) c.applyJsonFile(config);
            if (model != null) c.model = model;
            if (data != null) c.data = String.join(",", data);
            if (out != null) c.out = out;
            if (batchSize != null) c.batchSize = batchSize;
            if (maxSteps != null) c.maxSteps = maxSteps;
            if (lr != null) c.lr = lr;
            if (saveEvery != null) c.saveEvery = saveEvery;
            if (resume != null) c.resume = resume;
            SparkSession spark = session("gptneo train");
            try {
                SparkTraining.Result r = SparkTraining.train(spark, c, tasks);
                System.out.printf(
                        Locale.ROOT,
                        "trained %d of %d steps on %d tasks, last loss %.6f, %d bytes sent per task per step; adapter in %s%n",
                        r.steps(),
                        r.totalSteps(),
                        r.tasks(),
                        r.lastLoss(),
                        r.bytesPerStep(),
                        Path.of(c.out).resolve("adapter"));
            } finally {
                spark.stop();
            }
            return 0;
        }
    }

    static boolean isJson(String path) {
        String p = path.toLowerCase(Locale.ROOT);
        return p.endsWith(".jsonl") || p.endsWith(".json");
    }

    /** Writes {@code out} as JSON Lines or Parquet; returns the row count. */
    static long write(SparkSession spark, Dataset<Row> out, String path, boolean singleFile) throws IOException {
        if (!isJson(path)) {
            out.write().mode("errorifexists").parquet(path);
            return spark.read().parquet(path).count();
        }
        if (!singleFile) {
            out.write().mode("errorifexists").json(path);
            return spark.read().text(path).count();
        }
        // One file: part files beside the target, concatenated in partition order (= input order) by the driver.
        String tmp = path + ".parts-" + System.nanoTime();
        out.write().json(tmp);
        Configuration conf = spark.sparkContext().hadoopConfiguration();
        FileSystem fs = FileSystem.get(URI.create(path), conf);
        org.apache.hadoop.fs.Path target = new org.apache.hadoop.fs.Path(path),
                parts = new org.apache.hadoop.fs.Path(tmp);
        if (fs.exists(target)) throw new IOException(path + " already exists");
        FileStatus[] files = fs.globStatus(new org.apache.hadoop.fs.Path(parts, "part-*"));
        java.util.Arrays.sort(
                files, java.util.Comparator.comparing(f -> f.getPath().getName()));
        org.apache.hadoop.fs.Path partial = new org.apache.hadoop.fs.Path(path + ".partial");
        try (var o = fs.create(partial, true)) {
            for (FileStatus f : files)
                try (var in = fs.open(f.getPath())) {
                    in.transferTo(o);
                }
        }
        if (!fs.rename(partial, target)) throw new IOException("cannot rename " + partial + " to " + path);
        fs.delete(parts, true);
        return spark.read().text(path).count();
    }

    public static void main(String[] args) {
        int code = new CommandLine(new SparkMain())
                .setExecutionExceptionHandler((ex, line, parse) -> {
                    Throwable root = ex;
                    while (root.getCause() != null) root = root.getCause();
                    line.getErr()
                            .println("gptneo spark: error: " + (root.getMessage() == null ? root : root.getMessage()));
                    if (System.getenv("GPTNEO_DEBUG") != null) ex.printStackTrace(line.getErr());
                    return 1;
                })
                .execute(args);
        System.exit(code); // Spark and ND4J leave non-daemon threads behind
    }
}
