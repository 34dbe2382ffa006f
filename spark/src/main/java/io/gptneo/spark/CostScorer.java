package io.gptneo.spark;

import io.gptneo.tensor.GradMode;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainSetup;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkFiles;
import org.apache.spark.TaskContext;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The cost model as the Spark jobs use it: token ids of a row, costs of a batch of id sequences. One instance per
 * executor JVM and (model, adapter, max length), made on first use by {@link #shared}; tasks of one executor take
 * turns on it (one forward pass at a time, each using the task's {@code spark.task.cpus} BLAS/OpenMP threads).
 * This is the one class that touches the scoring internals (the same ones {@code ./gptneo classify} runs).
 */
final class CostScorer {
    private static final Map<String, CostScorer> SHARED = new ConcurrentHashMap<>();

    private final GptNeoCostModel model;
    private final CostInputs fullLength; // template + EOS, never cut: the length check sees the real length
    private final CostInputs
            window; // cut to the max length as everywhere else: the response is kept, the prompt cut from its start

    private CostScorer(GptNeoCostModel model, CostInputs fullLength, CostInputs window) {
        this.model = model;
        this.fullLength = fullLength;
        this.window = window;
    }

    /** Loads a model folder (and adapter) as {@code ./gptneo classify --model --adapter --max-length} does. */
    static CostScorer load(String model, String adapter, int maxLength) throws IOException {
        Path dir = folder(model, "model");
        GptNeoCostModel m = GptNeoCostModel.forInference(
                TrainSetup.loadBase(dir), adapter == null ? null : folder(adapter, "adapter"));
        int len = Math.min(maxLength, m.costModel().model().config().maxPositionEmbeddings());
        var tok = TrainSetup.tokenizer(dir);
        return new CostScorer(m, new CostInputs(tok, Integer.MAX_VALUE), new CostInputs(tok, len));
    }

    /** This JVM's scorer for the settings, loaded once. */
    static CostScorer shared(ScoreSettings s) {
        return SHARED.computeIfAbsent(s.cacheKey(), k -> {
            TaskContext t = TaskContext.get();
            if (t != null) threads(t.cpus());
            try {
                return load(s.model(), s.adapter(), s.maxLength());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    /** Ids of a row as they are scored: template + EOS, cut to the max length keeping the response (as classify does). */
    int[] encode(String prompt, String response) {
        return window.encode(prompt, response);
    }

    /** Tokens of a row before any cut (template + EOS), for the {@code --max-tokens} check. */
    int tokens(String prompt, String response) {
        return fullLength.encode(prompt, response).length;
    }

    /** Costs of id sequences (from {@link #encode}), as one right-padded batch, no tape. */
    float[] costs(List<int[]> seqs) {
        CostInputs.Batch b = CostInputs.pad(seqs);
        synchronized (this) {
            try (var off = GradMode.off()) {
                return model.costs(b.ids(), b.mask())
                        .data()
                        .castTo(DataType.FLOAT)
                        .toFloatVector();
            }
        }
    }

    /**
     * A folder given to a job: the path itself (shared storage), else a file shipped with {@code --files} or
     * {@code --archives} under that name (SparkFiles, the working directory), else a Hub id in the local cache.
     */
    static Path folder(String p, String what) throws IOException {
        Path given = Path.of(p);
        if (Files.isDirectory(given)) return given;
        String name = given.getFileName() == null ? p : given.getFileName().toString();
        for (Path c : List.of(Path.of(SparkFiles.getRootDirectory(), name), Path.of(name))) {
            if (Files.isDirectory(c)) return c;
        }
        if (what.equals("model") && !p.startsWith("/") && !p.startsWith(".")) return TrainSetup.resolveModel(p);
        throw new IOException(what + " folder " + p + " not found on "
                + InetAddress.getLocalHost().getHostName()
                + " (give a path every executor can read, or ship the folder with --archives FILE.zip#" + name + ")");
    }

    /** BLAS and OpenMP threads for one task. */
    static void threads(int n) {
        Nd4j.getEnvironment().setMaxMasterThreads(n);
        Nd4j.getEnvironment().setMaxThreads(n);
        Nd4j.factory().blas().setMaxThreads(n);
    }
}
