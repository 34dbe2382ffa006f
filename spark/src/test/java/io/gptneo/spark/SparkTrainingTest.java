package io.gptneo.spark;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.train.CostInputs;
import io.gptneo.train.MetricsLog;
import io.gptneo.train.TrainConfig;
import io.gptneo.train.TrainSetup;
import io.gptneo.train.Trainer;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * Data-parallel training in local mode on the tiny fixture: 2 barrier tasks × global batch 4 against one process
 * with batch 4 (the {@link Trainer} as ./gptneo train runs it), and a run whose task fails once and resumes.
 */
class SparkTrainingTest {
    static final double REL = 1e-5;
    static SparkSession spark;

    @TempDir
    static Path dir;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.start();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    /** 12 PKU pairs, batch 4 (3 steps an epoch), 6 steps with shuffling and pair flips, no dropout (masks are per replica). */
    static TrainConfig config(String out) {
        TrainConfig c = new TrainConfig();
        c.model = SparkTestSession.tiny().toString();
        c.data = SharedData.resolve("fixtures/lora-tiny/train_pairs.jsonl").toString();
        c.initAdapter = SparkTestSession.adapter().toString();
        c.out = dir.resolve(out).toString();
        c.loraDropout = 0;
        c.validationFraction = 0;
        c.testFraction = 0;
        c.batchSize = 4;
        c.maxSteps = 6;
        c.lr = 5e-3;
        c.warmupSteps = 2;
        c.maxLength = 64;
        c.saveEvery = 2;
        c.progress = false;
        return c.validate();
    }

    /** One process, as ./gptneo train. */
    static void trainAlone(TrainConfig c) throws Exception {
        Path modelDir = Path.of(c.model);
        var base = TrainSetup.loadBase(modelDir);
        CostInputs in = new CostInputs(TrainSetup.tokenizer(modelDir), c.maxLength);
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        TrainSetup.Data d = TrainSetup.data(List.of(Path.of(c.data)), c, in, quiet);
        new Trainer(TrainSetup.costModel(c, base, c.model), c, d.train(), d.validation(), Path.of(c.out), quiet)
                .run(null);
    }

    static double[] losses(String out) throws Exception {
        return MetricsLog.read(dir.resolve(out).resolve("metrics.jsonl")).stream()
                .filter(n -> n.has("loss") && !n.has("eval"))
                .mapToDouble(n -> n.get("loss").doubleValue())
                .toArray();
    }

    static Map<String, float[]> adapter(String out) throws Exception {
        Map<String, float[]> m = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(dir.resolve(out).resolve("adapter/adapter_model.safetensors"))) {
            for (String n : f.names())
                m.put(n, f.load(n, DataType.FLOAT).dup().data().asFloat());
        }
        return m;
    }

    /** max over tensors of max|a − b| / max|b|, and the same for the loss trajectories; asserts both within {@link #REL}. */
    static double[] compare(String expected, String actual) throws Exception {
        double[] le = losses(expected), la = losses(actual);
        assertEquals(6, le.length);
        assertEquals(le.length, la.length, "steps logged");
        double lossRel = 0;
        for (int i = 0; i < le.length; i++) lossRel = Math.max(lossRel, Math.abs(le[i] - la[i]) / Math.abs(le[i]));
        Map<String, float[]> ae = adapter(expected), aa = adapter(actual);
        assertEquals(ae.keySet(), aa.keySet());
        double wRel = 0;
        for (String k : ae.keySet()) {
            float[] e = ae.get(k), a = aa.get(k);
            double diff = 0, scale = 0;
            for (int i = 0; i < e.length; i++) {
                diff = Math.max(diff, Math.abs(e[i] - a[i]));
                scale = Math.max(scale, Math.abs(e[i]));
            }
            wRel = Math.max(wRel, diff / scale);
        }
        assertTrue(lossRel <= REL, "loss trajectories differ by " + lossRel + " relative");
        assertTrue(wRel <= REL, "adapters differ by " + wRel + " relative");
        return new double[] {lossRel, wRel};
    }

    @Test
    void twoTasksEqualOneProcessAndResumeAfterAFailedTask() throws Exception {
        trainAlone(config("alone"));
        SparkTraining.Result r = SparkTraining.train(spark, config("spark"), 2);
        assertEquals(6, r.steps());
        double[] eq = compare("alone", "spark");
        // the other replica logged the same losses
        assertArrayEquals(
                losses("spark"),
                MetricsLog.read(dir.resolve("spark/replicas/rank-1/metrics.jsonl")).stream()
                        .mapToDouble(n -> n.get("loss").doubleValue())
                        .toArray());
        assertTrue(r.bytesPerStep() > 0);

        AtomicInteger failed = new AtomicInteger();
        spark.sparkContext().addSparkListener(new SparkListener() {
            @Override
            public void onTaskEnd(SparkListenerTaskEnd e) {
                if (!e.taskInfo().successful()) failed.incrementAndGet();
            }
        });
        SparkTraining.Result again = SparkTraining.train(spark, config("failed-once"), 2, 3);
        assertEquals(6, again.steps());
        assertTrue(failed.get() >= 1, "a task failed and the stage ran again");
        double[] res = compare("alone", "failed-once");
        JsonNode[] steps =
                MetricsLog.read(dir.resolve("failed-once/metrics.jsonl")).toArray(JsonNode[]::new);
        for (int i = 0; i < steps.length; i++)
            assertEquals(i + 1, steps[i].get("step").intValue(), "each step logged once, in order");
        System.out.printf(
                "spark train: 2 tasks x batch 4 vs one process batch 4: loss rel %.3g, adapter rel %.3g; after a failed task: %.3g, %.3g;"
                        + " %d bytes sent per task per step%n",
                eq[0], eq[1], res[0], res[1], r.bytesPerStep());
    }
}
