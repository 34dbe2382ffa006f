package io.gptneo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.TrainingListener;
import io.gptneo.TrainingStep;
import io.gptneo.TrainingThroughput;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Seeds;
import io.gptneo.tensor.Tensor;
import io.gptneo.tensor.Workspaces;
import io.gptneo.train.data.EpochOrder;
import io.gptneo.train.eval.BinaryMetrics;
import io.gptneo.train.eval.LengthBuckets;
import io.gptneo.train.optim.AdamW;
import io.gptneo.train.optim.GradClip;
import io.gptneo.train.optim.LrSchedule;
import io.gptneo.train.optim.ParamGroup;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SafeTensorsWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The cost-model training loop.
 *
 * <p>Batches are drawn from one stream across epochs: global batch g is batch g % nb of epoch g / nb, whose order is
 * a seeded permutation of the epoch (pairs also get a seeded response-order flip). An optimizer step consumes
 * {@code gradAccum} batches; its rate is {@code lr · schedule(k)} for 0-based step k; gradients are clipped to
 * {@code maxGradNorm} (norm logged before clipping). Every random choice is a function of (seed, position), so the
 * checkpointed state (trainable tensors, AdamW moments, step, batch cursor) is everything a resume needs to continue
 * bit for bit as if never stopped.
 */
public final class Trainer {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    public static final String TRAINABLE_FILE = "trainable.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";

    /** How a run ended. */
    public record Result(
            long steps,
            long totalSteps,
            boolean stopped,
            double lastLoss,
            Path finalCheckpoint,
            TrainingThroughput throughput) {}

    private final TrainableCostModel model;
    private final TrainConfig cfg;
    private final List<TrainItem> train;
    private final List<TrainItem> validation;
    private final Path out;
    private final PrintStream log;
    private final Map<String, Tensor> params;
    private final AdamW optimizer;
    private final LrSchedule schedule;
    private final int batchesPerEpoch;
    private final int[] lengths; // per example: its longest sequence (what a batch pads to)
    private final long totalSteps;
    private long stopAfter = -1; // tests: behave as if a signal arrived after this many steps
    private TrainingListener listener = TrainingListener.NONE;
    private DataParallel replicas = DataParallel.NONE;

    public Trainer(
            TrainableCostModel model,
            TrainConfig cfg,
            List<TrainItem> train,
            List<TrainItem> validation,
            Path out,
            PrintStream log) {
        if (train.isEmpty()) throw new IllegalArgumentException("no training examples");
        this.model = model;
        this.cfg = cfg;
        this.train = train;
        this.validation = validation;
        this.out = out;
        this.log = log;
        this.params = model.trainable();
        if (params.isEmpty()) throw new IllegalArgumentException("the model has no trainable tensors");
        // LoRA (PEFT) decays every trainable tensor; full training follows the HF Trainer (no decay on
        // biases/LayerNorm).
        List<ParamGroup> groups = cfg.trainBase
                ? ParamGroup.decayAndNoDecay(params, cfg.weightDecay)
                : ParamGroup.single(params, cfg.weightDecay);
        this.optimizer = cfg.optimizer.equals("adamw_hf") ? AdamW.hf(groups) : AdamW.torch(groups);
        this.batchesPerEpoch = (train.size() + cfg.batchSize - 1) / cfg.batchSize;
        this.lengths = train.stream()
                .mapToInt(it ->
                        Arrays.stream(it.ids()).mapToInt(q -> q.length).max().orElse(0))
                .toArray();
        this.totalSteps =
                cfg.maxSteps > 0 ? cfg.maxSteps : Math.max(1, ((long) cfg.epochs * batchesPerEpoch) / cfg.gradAccum);
        this.schedule = LrSchedule.of(cfg.schedule, cfg.warmupSteps, Math.toIntExact(totalSteps));
    }

    public long totalSteps() {
        return totalSteps;
    }

    public int batchesPerEpoch() {
        return batchesPerEpoch;
    }

    /** Receives every step and validation pass of {@link #run}. */
    public Trainer listener(TrainingListener l) {
        this.listener = l == null ? TrainingListener.NONE : l;
        return this;
    }

    /** Data parallelism: this run is one replica of several (rank 0 writes the files). */
    public Trainer dataParallel(DataParallel dp) {
        this.replicas = dp;
        return this;
    }

    /** Test hook: stop (with a checkpoint) after {@code steps} optimizer steps, as a signal would. */
    public Trainer stopAfter(long steps) {
        this.stopAfter = steps;
        return this;
    }

    /**
     * Trains (or resumes) into the output folder, which it locks for the whole run (a second run into the same folder
     * stops at once, writing nothing). A resume whose settings differ from the checkpoint's in a way that alters the
     * trajectory is refused unless {@code resume-override} names them; resuming a finished run only completes what
     * an interrupt left out (adapter, final validation) and appends nothing else. A stop signal that arrives after the
     * last step waits until the adapter and the final validation are written.
     */
    public Result run(StopSignal signal) throws IOException {
        // data-parallel replicas other than rank 0 write only under replicas/rank-N/, so each locks its own folder
        try (OutputLock lock = OutputLock.acquire(logDir(), log)) {
            return runLocked(signal);
        } finally {
            if (signal != null) signal.finished();
        }
    }

    private Result runLocked(StopSignal signal) throws IOException {
        CheckpointManager ckpts = new CheckpointManager(out, cfg.keepCheckpoints);
        long step = 0;
        long cursor = 0; // global batch index
        MetricsLog metrics;
        if (cfg.resume != null) {
            Path dir = CheckpointManager.resolveResume(Path.of(cfg.resume));
            JsonNode st = readState(dir.resolve(CheckpointManager.STATE_FILE));
            Map<String, JsonNode[]> overridden =
                    ResumeCheck.check(st.path("config"), cfg.toJson(), cfg.resumeOverride, dir.toString());
            step = st.get("step").asLong();
            cursor = st.get("rng").get("batch_cursor").asLong();
            if (step >= totalSteps) return finishedRun(dir, step, st);
            loadTrainable(dir.resolve(TRAINABLE_FILE));
            optimizer.load(readAll(dir.resolve(OPTIMIZER_FILE)));
            metrics = MetricsLog.resume(logDir().resolve("metrics.jsonl"), step);
            if (!overridden.isEmpty()) {
                Map<String, Object> changed = new LinkedHashMap<>();
                overridden.forEach((k, v) -> changed.put(k, Map.of("was", v[0], "now", v[1])));
                metrics.event(step, "resume_override", Map.of("changed", changed));
                log.printf("resume: settings changed on purpose (--resume-override): %s%n", changed);
            }
            log.printf("resumed from %s at step %d%n", dir, step);
        } else {
            metrics = MetricsLog.create(logDir().resolve("metrics.jsonl"));
        }
        boolean leader = replicas.rank() == 0;
        if (leader) Files.writeString(out.resolve("train_config.json"), cfg.toJsonString() + "\n");
        boolean stopped = false;
        double lastLoss = Double.NaN;
        Path last = null;
        LengthBuckets.Tokens fed = LengthBuckets.Tokens.NONE;
        long stepNanos = 0;
        try (metrics) {
            listener.onStart(step, totalSteps);
            model.setTraining(true);
            while (step < totalSteps) {
                long t0 = System.nanoTime();
                LengthBuckets.Tokens stepTokens = LengthBuckets.Tokens.NONE;
                double lr = schedule.lr(cfg.lr, Math.toIntExact(step));
                double lossSum = 0;
                long tokens = 0;
                for (int micro = 0; micro < cfg.gradAccum; micro++) {
                    List<TrainItem> batch = batch(cursor++);
                    List<TrainItem> mine = replicas.shard(batch);
                    // This shard's share of the batch mean; an empty shard (a short last batch) still runs one row,
                    // at weight 0, so that its replica holds (zero) gradients for the sum.
                    double share = (double) mine.size() / batch.size();
                    List<TrainItem> fedRows = mine.isEmpty() ? batch.subList(0, 1) : mine;
                    LengthBuckets.Tokens t = tokens(fedRows);
                    stepTokens = stepTokens.plus(mine.isEmpty() ? new LengthBuckets.Tokens(0, t.slots()) : t);
                    model.setStepSeed(EpochOrderSeeds.dropout(cfg.seed, step, micro));
                    try (var ws = Workspaces.open(Workspaces.STEP)) { // activations reuse one buffer step after step
                        Tensor loss = loss(fedRows);
                        lossSum += loss.item() * share;
                        double w = share / cfg.gradAccum;
                        (w == 1 ? loss : Ops.scale(loss, w)).backward();
                    }
                    for (TrainItem it : mine) tokens += it.tokens();
                }
                List<Tensor> ps = optimizer.parameters();
                lossSum = replicas.allReduce(ps, lossSum);
                double norm = GradClip.clipGlobalNorm(ps, cfg.maxGradNorm);
                optimizer.step(lr);
                optimizer.zeroGrad();
                stepNanos += System.nanoTime() - t0;
                fed = fed.plus(stepTokens);
                step++;
                lastLoss = lossSum / cfg.gradAccum;
                metrics.step(step, lr, lastLoss, norm, stepTokens.useful(), stepTokens.slots() - stepTokens.useful());
                listener.onStep(new TrainingStep(step, totalSteps, lr, lastLoss, norm, tokens));
                if (!Double.isFinite(lastLoss))
                    throw new IllegalStateException("loss is " + lastLoss + " at step " + step + " (lower --lr?)");
                boolean epochEnd = cursor % ((long) batchesPerEpoch) < cfg.gradAccum && cursor >= batchesPerEpoch;
                if (!validation.isEmpty()
                        && (cfg.evalEvery > 0 ? step % cfg.evalEvery == 0 : epochEnd)
                        && step < totalSteps) {
                    evaluate(step, metrics);
                    model.setTraining(true);
                }
                boolean stopNow = (signal != null && signal.requested()) || step == stopAfter;
                if (leader && ((cfg.saveEvery > 0 && step % cfg.saveEvery == 0) || stopNow || step == totalSteps)) {
                    last = save(ckpts, step, cursor);
                }
                if (stopNow && step < totalSteps) {
                    stopped = true;
                    log.printf("%nstopped at step %d; checkpoint %s (continue with --resume %s)%n", step, last, out);
                    break;
                }
            }
        } finally {
            listener.onEnd();
            model.setTraining(false);
        }
        TrainingThroughput throughput = throughput(fed, stepNanos / 1e9);
        if (fed.slots() > 0) log.printf("%ntraining: %s%n", throughput.describe());
        if (!stopped) {
            if (signal != null) signal.finishing("writing the adapter and the final validation");
            if (leader) saveAdapter();
            finalValidation(step);
        }
        return new Result(step, totalSteps, stopped, lastLoss, last, throughput);
    }

    /** Whether batches are length-bucketed: only when shuffling (file order is kept as it is). */
    boolean bucketed() {
        return cfg.shuffle && cfg.lengthBuckets;
    }

    /** Real tokens and token positions of one batch as {@link #batchLoss} pads it (to its longest sequence). */
    static LengthBuckets.Tokens tokens(List<TrainItem> batch) {
        return LengthBuckets.Tokens.batch(batch.stream()
                .flatMap(it -> Arrays.stream(it.ids()))
                .mapToInt(q -> q.length)
                .toArray());
    }

    /** What the steps fed, with the padding of epoch 0's batches with and without length buckets. */
    TrainingThroughput throughput(LengthBuckets.Tokens fed, double seconds) {
        int[] plain = EpochOrder.permutation(train.size(), cfg.seed, 0, cfg.shuffle);
        int[] buckets = EpochOrder.bucketed(lengths, cfg.batchSize, cfg.seed, 0);
        return new TrainingThroughput(
                bucketed(),
                fed.useful(),
                fed.slots(),
                seconds,
                epochTokens(buckets).paddingFraction(),
                epochTokens(plain).paddingFraction());
    }

    private LengthBuckets.Tokens epochTokens(int[] order) {
        LengthBuckets.Tokens t = LengthBuckets.Tokens.NONE;
        for (int s = 0; s < order.length; s += cfg.batchSize) {
            List<TrainItem> b = new ArrayList<>();
            for (int i = s; i < Math.min(order.length, s + cfg.batchSize); i++) b.add(train.get(order[i]));
            t = t.plus(tokens(b));
        }
        return t;
    }

    /** Resuming a run whose last checkpoint is its last step: completes what an interrupt left out, appends nothing else. */
    private Result finishedRun(Path checkpoint, long step, JsonNode state) throws IOException {
        boolean adapter = Files.isDirectory(out.resolve("adapter"));
        boolean validated = validation.isEmpty() || hasFinalValidation(step);
        if (adapter && validated) {
            log.printf(
                    "%s: this run is finished (step %d of %d; adapter in %s); nothing to do%n",
                    out, step, totalSteps, out.resolve("adapter"));
            return new Result(
                    step, totalSteps, false, Double.NaN, checkpoint, throughput(LengthBuckets.Tokens.NONE, 0));
        }
        log.printf(
                "%s: the run reached step %d of %d but was stopped before %s; completing it from %s%n",
                out, step, totalSteps, !adapter ? "its adapter was written" : "its final validation", checkpoint);
        loadTrainable(checkpoint.resolve(TRAINABLE_FILE));
        model.setTraining(false);
        if (!adapter && replicas.rank() == 0) saveAdapter();
        finalValidation(step);
        return new Result(step, totalSteps, false, Double.NaN, checkpoint, throughput(LengthBuckets.Tokens.NONE, 0));
    }

    /** Writes OUT/adapter atomically: into a temporary folder, then renamed over the old one. */
    private void saveAdapter() throws IOException {
        Path target = out.resolve("adapter");
        Path tmp = Files.createTempDirectory(out, ".tmp-adapter-");
        try {
            try {
                model.save(tmp);
            } catch (IOException e) { // e.g. a full disk, whose message names no file
                throw new IOException(
                        "cannot write the adapter to " + target + " (" + e.getMessage() + "); the last checkpoint in "
                                + out.resolve(CheckpointManager.DIR)
                                + " holds it: free space and run again with --resume " + out,
                        e);
            }
            Path old = null;
            if (Files.exists(target)) {
                old = out.resolve(".old-adapter-" + System.nanoTime());
                Files.move(target, old, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, target, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            if (old != null) CheckpointManager.deleteTree(old);
        } finally {
            CheckpointManager.deleteTree(tmp);
        }
    }

    private void finalValidation(long step) throws IOException {
        if (validation.isEmpty() || hasFinalValidation(step)) return;
        try (MetricsLog m = MetricsLog.resume(logDir().resolve("metrics.jsonl"), Long.MAX_VALUE)) {
            evaluate(step, m);
        }
    }

    private boolean hasFinalValidation(long step) throws IOException {
        Path f = logDir().resolve("metrics.jsonl");
        if (!Files.exists(f)) return false;
        for (JsonNode n : MetricsLog.read(f)) if (n.path("step").asLong() == step && n.has("eval")) return true;
        return false;
    }

    /** A checkpoint's trainer_state.json; a damaged one is named with the fix. */
    private static JsonNode readState(Path file) throws IOException {
        try {
            JsonNode st = JSON.readTree(file.toFile());
            if (st == null
                    || !st.path("step").isIntegralNumber()
                    || !st.path("rng").path("batch_cursor").isIntegralNumber()) {
                throw new IllegalArgumentException(file + ": no \"step\" or \"rng.batch_cursor\"");
            }
            return st;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": damaged checkpoint state (" + e.getOriginalMessage()
                    + "); resume from an older checkpoint folder with --resume "
                    + file.getParent().getParent() + "/checkpoint-N");
        }
    }

    /** Where this replica's metrics go: the output folder for rank 0, replicas/rank-N/ inside it for the others. */
    private Path logDir() {
        return replicas.rank() == 0 ? out : out.resolve("replicas").resolve("rank-" + replicas.rank());
    }

    /**
     * Items of global batch {@code g}, in the seeded order of its epoch ({@link EpochOrder#bucketed} with length
     * buckets), pairs possibly flipped.
     */
    List<TrainItem> batch(long g) {
        int epoch = Math.toIntExact(g / batchesPerEpoch);
        int b = Math.toIntExact(g % batchesPerEpoch);
        int[] perm = permutation(epoch);
        List<TrainItem> items = new ArrayList<>(cfg.batchSize);
        for (int i = b * cfg.batchSize; i < Math.min(train.size(), (b + 1) * cfg.batchSize); i++) {
            int idx = perm[i];
            TrainItem it = train.get(idx);
            items.add(cfg.shuffle && EpochOrder.swapResponses(cfg.seed, epoch, idx) ? it.swapped() : it);
        }
        return items;
    }

    private int cachedEpoch = -1;
    private int[] cachedPerm;

    private int[] permutation(int epoch) {
        if (epoch != cachedEpoch) {
            cachedPerm = bucketed()
                    ? EpochOrder.bucketed(lengths, cfg.batchSize, cfg.seed, epoch)
                    : EpochOrder.permutation(train.size(), cfg.seed, epoch, cfg.shuffle);
            cachedEpoch = epoch;
        }
        return cachedPerm;
    }

    /** Mean loss of a batch: pairs by the Safe-RLHF cost loss, single responses by −log σ(s·c), weighted by count. */
    Tensor loss(List<TrainItem> batch) {
        return batchLoss(model, batch, cfg.regularization);
    }

    static Tensor batchLoss(TrainableCostModel model, List<TrainItem> batch, double lambda) {
        List<int[]> seqs = new ArrayList<>();
        List<Integer> saferIdx = new ArrayList<>(), otherIdx = new ArrayList<>(), singleIdx = new ArrayList<>();
        List<Boolean> saferSafe = new ArrayList<>(), otherSafe = new ArrayList<>(), singleSafe = new ArrayList<>();
        for (TrainItem it : batch) {
            int base = seqs.size();
            for (int[] s : it.ids()) seqs.add(s);
            if (it.isPair()) {
                saferIdx.add(base + it.saferId());
                otherIdx.add(base + 1 - it.saferId());
                saferSafe.add(it.safe()[it.saferId()]);
                otherSafe.add(it.safe()[1 - it.saferId()]);
            } else {
                singleIdx.add(base);
                singleSafe.add(it.safe()[0]);
            }
        }
        CostInputs.Batch b = CostInputs.pad(seqs);
        Tensor costs = model.costs(b.ids(), b.mask());
        Tensor col = Ops.reshape(costs, seqs.size(), 1);
        int nPairs = saferIdx.size(), nSingle = singleIdx.size();
        Tensor pairLoss = null, singleLoss = null;
        if (nPairs > 0) {
            pairLoss = CostLoss.pairLoss(
                    pick(col, saferIdx), pick(col, otherIdx), bools(saferSafe), bools(otherSafe), lambda);
        }
        if (nSingle > 0) singleLoss = CostLoss.signLoss(pick(col, singleIdx), bools(singleSafe), lambda);
        if (singleLoss == null) return pairLoss;
        if (pairLoss == null) return singleLoss;
        double n = nPairs + nSingle;
        return Ops.add(Ops.scale(pairLoss, nPairs / n), Ops.scale(singleLoss, nSingle / n));
    }

    private static Tensor pick(Tensor col, List<Integer> idx) {
        int[] a = idx.stream().mapToInt(Integer::intValue).toArray();
        boolean identity = a.length == col.size(0);
        for (int i = 0; identity && i < a.length; i++) identity = a[i] == i;
        Tensor rows = identity ? col : Ops.gatherRows(col, a);
        return Ops.reshape(rows, a.length);
    }

    private static boolean[] bools(List<Boolean> l) {
        boolean[] b = new boolean[l.size()];
        for (int i = 0; i < b.length; i++) b[i] = l.get(i);
        return b;
    }

    /** Validation loss, sign accuracy over responses and ranking accuracy over pairs; one metrics line. */
    Map<String, Object> evaluate(long step, MetricsLog metrics) throws IOException {
        Map<String, Object> m = validationMetrics(model, validation, cfg.evalBatchSize, cfg.regularization);
        metrics.eval(step, "validation", m);
        listener.onValidation(step, m);
        log.printf(
                "%nstep %d validation: loss %.4f accuracy %.4f%n",
                step, (Double) m.get("loss"), (Double) m.get("accuracy"));
        return m;
    }

    public static Map<String, Object> validationMetrics(
            TrainableCostModel model, List<TrainItem> items, int batchSize, double lambda) {
        model.setTraining(false);
        double lossSum = 0;
        List<Double> costs = new ArrayList<>();
        List<Boolean> unsafe = new ArrayList<>();
        List<double[]> pairs = new ArrayList<>();
        try (var off = GradMode.off()) {
            for (int s = 0; s < items.size(); s += batchSize) {
                List<TrainItem> batch = items.subList(s, Math.min(items.size(), s + batchSize));
                List<int[]> seqs = new ArrayList<>();
                for (TrainItem it : batch) for (int[] q : it.ids()) seqs.add(q);
                CostInputs.Batch b = CostInputs.pad(seqs);
                INDArray c = model.costs(b.ids(), b.mask()).data();
                int k = 0;
                for (TrainItem it : batch) {
                    for (int j = 0; j < it.ids().length; j++) {
                        costs.add(c.getDouble(k + j));
                        unsafe.add(!it.safe()[j]);
                    }
                    if (it.isPair())
                        pairs.add(new double[] {c.getDouble(k + it.saferId()), c.getDouble(k + 1 - it.saferId())});
                    k += it.ids().length;
                }
                lossSum += batchLoss(model, batch, lambda).item() * batch.size();
            }
        }
        double[] cs = costs.stream().mapToDouble(Double::doubleValue).toArray();
        boolean[] us = new boolean[cs.length];
        for (int i = 0; i < us.length; i++) us[i] = unsafe.get(i);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss", lossSum / items.size());
        BinaryMetrics bm = BinaryMetrics.of(cs, us);
        m.put("accuracy", bm.accuracy());
        if (Double.isFinite(bm.auroc())) m.put("auroc", bm.auroc());
        if (!pairs.isEmpty()) {
            m.put(
                    "ranking_accuracy",
                    BinaryMetrics.rankingAccuracy(
                            pairs.stream().mapToDouble(p -> p[0]).toArray(),
                            pairs.stream().mapToDouble(p -> p[1]).toArray()));
        }
        m.put("n", items.size());
        return m;
    }

    // ---- checkpoints ---------------------------------------------------------------------------------------

    private Path save(CheckpointManager ckpts, long step, long cursor) throws IOException {
        return ckpts.save(step, dir -> {
            Map<String, INDArray> t = new LinkedHashMap<>();
            params.forEach((k, v) -> t.put(k, v.data()));
            SafeTensorsWriter.write(dir.resolve(TRAINABLE_FILE), t, Map.of("format", "pt"));
            SafeTensorsWriter.write(dir.resolve(OPTIMIZER_FILE), optimizer.state(), Map.of("format", "pt"));
            model.save(dir.resolve("adapter"));
            ObjectNode st = JSON.createObjectNode();
            st.put("step", step);
            st.put("total_steps", totalSteps);
            st.put("epoch", (double) cursor / batchesPerEpoch);
            ObjectNode rng = st.putObject("rng");
            rng.put("seed", cfg.seed);
            rng.put("batch_cursor", cursor); // order and pair flips of every later batch derive from (seed, cursor)
            rng.put("dropout", "seed mixed with (step, micro-batch)");
            st.set("config", cfg.toJson());
            Files.writeString(dir.resolve(CheckpointManager.STATE_FILE), JSON.writeValueAsString(st) + "\n");
        });
    }

    private void loadTrainable(Path file) throws IOException {
        Map<String, INDArray> saved = readAll(file);
        for (var e : params.entrySet()) {
            INDArray a = saved.get(e.getKey());
            if (a == null)
                throw new IllegalArgumentException(
                        file + ": no tensor " + e.getKey() + " (checkpoint of a different model or settings?)");
            e.getValue().setData(a.castTo(e.getValue().dtype()));
        }
        if (saved.size() != params.size()) {
            throw new IllegalArgumentException(
                    file + ": holds " + saved.size() + " tensors, the model trains " + params.size());
        }
    }

    private static Map<String, INDArray> readAll(Path file) throws IOException {
        Map<String, INDArray> m = new LinkedHashMap<>();
        try (SafeTensorsFile f = SafeTensorsFile.open(file)) {
            for (String n : f.names())
                m.put(n, f.load(n, f.info(n).dtype().naturalDataType()).dup());
        }
        return m;
    }

    /** Seeds of the dropout masks. */
    static final class EpochOrderSeeds {
        private EpochOrderSeeds() {}

        static long dropout(long seed, long step, int micro) {
            return Seeds.mix64(seed ^ (step * Seeds.GOLDEN) ^ ((long) micro * 0xC2B2AE3D27D4EB4FL));
        }
    }
}
