package io.gptneo.spark;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.TrainingListener;
import io.gptneo.model.CostModel;
import io.gptneo.train.CheckpointManager;
import io.gptneo.train.CostInputs;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainConfig;
import io.gptneo.train.TrainSetup;
import io.gptneo.train.Trainer;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.sql.SparkSession;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;
import scala.runtime.AbstractFunction1;

/**
 * Data-parallel LoRA training in one Spark barrier stage: N tasks each hold a replica of the base model, run the
 * {@link Trainer} loop on their shard of every global batch and sum the gradients of the trainable tensors (LoRA +
 * score head) each step through {@link BarrierAllReduce}; every replica applies the same clip and AdamW step. Task 0
 * writes metrics.jsonl, the checkpoints and the PEFT adapter to the output folder, which must be shared storage.
 *
 * <p>When a task fails, Spark reruns the whole barrier stage; the new attempt resumes from the newest checkpoint
 * (task 0 picks it and tells the others), so a failure costs at most {@code save-every} steps.
 */
public final class SparkTraining {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** What a run did, as task 0 reports it. */
    public record Result(long steps, long totalSteps, double lastLoss, int tasks, long bytesPerStep) {}

    private SparkTraining() {}

    /** Trains {@code cfg} (model, data, out, ... as {@code ./gptneo train}) with {@code tasks} replicas. */
    public static Result train(SparkSession spark, TrainConfig cfg, int tasks) {
        return train(spark, cfg, tasks, -1);
    }

    /** As {@link #train(SparkSession, TrainConfig, int)}; tests: the last task fails once, after step {@code failOnceAtStep}. */
    static Result train(SparkSession spark, TrainConfig cfg, int tasks, long failOnceAtStep) {
        cfg.validate();
        if (cfg.model == null || cfg.data == null || cfg.out == null)
            throw new IllegalArgumentException("model, data and out are required");
        if (tasks < 1) throw new IllegalArgumentException("tasks must be >= 1, got " + tasks);
        if (cfg.batchSize < tasks)
            throw new IllegalArgumentException(
                    "batch size " + cfg.batchSize + " < " + tasks + " tasks: every task needs a share of each batch");
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        ClassTag<String> tag = ClassTag$.MODULE$.apply(String.class);
        RDD<String> replicas = jsc.parallelize(IntStream.range(0, tasks).boxed().toList(), tasks)
                .rdd()
                .barrier()
                .mapPartitions(new Replica(cfg.toJsonString(), failOnceAtStep), false, tag);
        // The shuffle makes the barrier stage a map stage: Spark reruns a failed barrier map stage, never a result
        // stage.
        List<String> r = new JavaRDD<>(replicas, tag)
                .repartition(1).collect().stream()
                        .filter(x -> x.startsWith("0 "))
                        .toList();
        String[] f = r.get(0).split(" ");
        return new Result(
                Long.parseLong(f[1]), Long.parseLong(f[2]), Double.parseDouble(f[3]), tasks, Long.parseLong(f[4]));
    }

    /** One task: a replica of the model running the training loop. */
    static final class Replica
            extends AbstractFunction1<scala.collection.Iterator<Integer>, scala.collection.Iterator<String>>
            implements Serializable {
        private final String config;
        private final long failOnceAtStep;

        Replica(String config, long failOnceAtStep) {
            this.config = config;
            this.failOnceAtStep = failOnceAtStep;
        }

        @Override
        public scala.collection.Iterator<String> apply(scala.collection.Iterator<Integer> ignored) {
            try {
                return CollectionConverters.asScala(run().iterator());
            } catch (Exception e) {
                throw e instanceof RuntimeException re ? re : new RuntimeException(e);
            }
        }

        private List<String> run() throws Exception {
            BarrierTaskContext ctx = BarrierTaskContext.get();
            int rank = ctx.partitionId(), size = ctx.getTaskInfos().length;
            CostScorer.threads(ctx.cpus());
            TrainConfig c = new TrainConfig().applyJson(JSON.readTree(config), "spark job");
            c.progress = false;
            // A rerun of the stage continues from the newest checkpoint; rank 0 picks it so that all replicas agree.
            if (ctx.stageAttemptNumber() > 0 || c.resume != null) {
                String pick = "";
                if (rank == 0) {
                    pick = c.resume != null
                            ? CheckpointManager.resolveResume(Path.of(c.resume)).toString()
                            : new CheckpointManager(Path.of(c.out), 1)
                                    .list().stream()
                                            .reduce((x, y) -> y)
                                            .map(Path::toString)
                                            .orElse("");
                }
                pick = ctx.allGather(pick)[0];
                c.resume = pick.isEmpty() ? null : pick;
            }
            PrintStream log = rank == 0 ? System.err : new PrintStream(OutputStream.nullOutputStream());
            Path modelDir = CostScorer.folder(c.model, "model");
            CostModel base = TrainSetup.loadBase(modelDir);
            CostInputs inputs = new CostInputs(
                    TrainSetup.tokenizer(modelDir),
                    Math.min(c.maxLength, base.model().config().maxPositionEmbeddings()));
            List<Path> files = Arrays.stream(c.data.split(",")).map(Path::of).toList();
            TrainSetup.Data d = TrainSetup.data(files, c, inputs, log);
            GptNeoCostModel cm = TrainSetup.costModel(c, base, c.model);
            BarrierAllReduce net = new BarrierAllReduce(ctx, rank, size);
            TrainingListener fail = s -> {
                if (s.step() == failOnceAtStep && rank == size - 1 && ctx.stageAttemptNumber() == 0) {
                    throw new IllegalStateException("injected failure of task " + rank + " after step " + s.step());
                }
            };
            if (rank == 0)
                log.printf(
                        "spark train: %d replicas, %d examples, global batch %d%n",
                        size, d.train().size(), c.batchSize);
            Trainer.Result r = new Trainer(cm, c, d.train(), d.validation(), Path.of(c.out), log)
                    .dataParallel(net)
                    .listener(fail)
                    .run(null);
            return List.of(
                    rank + " " + r.steps() + " " + r.totalSteps() + " " + r.lastLoss() + " " + net.bytesPerStep());
        }
    }
}
