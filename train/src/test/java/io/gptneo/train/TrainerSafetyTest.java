package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.TrainingListener;
import io.gptneo.train.TrainerResumeTest.TinyModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 17 items 6, 7 and 8 on the tiny stand-in model: one run per folder, resume checks, nothing lost on a stop. */
class TrainerSafetyTest {
    @TempDir
    Path dir;

    final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    final PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);

    List<TrainItem> train = TrainerResumeTest.items(30), val = TrainerResumeTest.items(6);

    Trainer trainer(TrainConfig c, Path out) {
        return new Trainer(new TinyModel(), c, train, val, out, log);
    }

    static List<String> listing(Path p) throws Exception {
        try (var s = Files.walk(p)) {
            return s.map(x -> p.relativize(x)
                            + (Files.isRegularFile(x)
                                    ? ":" + x.toFile().length() + ":"
                                            + x.toFile().lastModified()
                                    : ""))
                    .sorted()
                    .toList();
        }
    }

    @Test
    void aSecondRunIntoTheSameFolderStopsAndTouchesNothing() throws Exception {
        Path out = dir.resolve("run");
        trainer(TrainerResumeTest.cfg(out), out).run(null);
        List<String> before = listing(out);
        try (OutputLock held = OutputLock.acquire(out, log)) { // another run holds the folder
            IllegalStateException e =
                    assertThrows(IllegalStateException.class, () -> trainer(TrainerResumeTest.cfg(out), out)
                            .run(null));
            assertTrue(e.getMessage().contains("in use by another training run"), e.getMessage());
            assertTrue(e.getMessage().contains("pid " + ProcessHandle.current().pid()), e.getMessage());
            List<String> during = new java.util.ArrayList<>(listing(out));
            during.removeIf(s -> s.startsWith(OutputLock.FILE));
            assertEquals(before, during, "the second run wrote nothing");
        }
        assertFalse(Files.exists(out.resolve(OutputLock.FILE)), "released and removed");
        // a lock file whose process is gone (no OS lock) is taken over
        Files.writeString(out.resolve(OutputLock.FILE), "pid 999999999, started 2020-01-01T00:00:00Z\n");
        trainer(TrainerResumeTest.cfg(out), out).run(null);
        assertTrue(
                logBytes.toString(StandardCharsets.UTF_8).contains("stale lock (pid 999999999"),
                logBytes.toString(StandardCharsets.UTF_8));
        // --out that is a file
        Path file = Files.writeString(dir.resolve("file"), "x");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> trainer(TrainerResumeTest.cfg(file), file)
                        .run(null));
        assertTrue(e.getMessage().contains(file + " is a file"), e.getMessage());
    }

    @Test
    void resumeRefusesChangedSettingsUnlessOverriddenAndRecords() throws Exception {
        Path out = dir.resolve("run");
        assertTrue(
                trainer(TrainerResumeTest.cfg(out), out).stopAfter(5).run(null).stopped());
        byte[] metrics = Files.readAllBytes(out.resolve("metrics.jsonl"));
        byte[] config = Files.readAllBytes(out.resolve("train_config.json"));
        TrainConfig c = TrainerResumeTest.cfg(out);
        c.resume = out.toString();
        c.lr = 0.5;
        c.seed = 12;
        c.saveEvery = 3; // free: does not alter the trajectory
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> trainer(c, out).run(null));
        assertTrue(e.getMessage().contains("lr: 0.05 in the checkpoint, 0.5 now"), e.getMessage());
        assertTrue(e.getMessage().contains("seed: 11 in the checkpoint, 12 now"), e.getMessage());
        assertTrue(e.getMessage().contains("--resume-override seed,lr"), e.getMessage());
        assertFalse(e.getMessage().contains("save-every"), e.getMessage());
        assertArrayEquals(metrics, Files.readAllBytes(out.resolve("metrics.jsonl")), "nothing appended");
        assertArrayEquals(config, Files.readAllBytes(out.resolve("train_config.json")), "train_config.json kept");

        c.seed = 11;
        c.resumeOverride = List.of("lr");
        Trainer.Result r = trainer(c, out).run(null);
        assertEquals(12, r.steps());
        JsonNode event = MetricsLog.read(out.resolve("metrics.jsonl")).stream()
                .filter(n -> n.has("event"))
                .findFirst()
                .orElseThrow();
        assertEquals("resume_override", event.get("event").asText());
        assertEquals(5, event.get("step").asLong());
        assertEquals(0.05, event.get("changed").get("lr").get("was").asDouble());
        assertEquals(0.5, event.get("changed").get("lr").get("now").asDouble());
    }

    /** A checkpoint from before length buckets existed ran in plain shuffled order: resuming it bucketed is refused. */
    @Test
    void aCheckpointWithoutTheLengthBucketsKeyMeansUnbucketed() {
        var m = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode saved =
                m.createObjectNode().put("seed", 1);
        com.fasterxml.jackson.databind.node.ObjectNode now =
                m.createObjectNode().put("seed", 1).put("length-buckets", true);
        var e = assertThrows(IllegalArgumentException.class, () -> ResumeCheck.check(saved, now, List.of(), "ckpt-5"));
        assertTrue(e.getMessage().contains("length-buckets: false in the checkpoint, true now"), e.getMessage());
        now.put("length-buckets", false);
        assertTrue(ResumeCheck.check(saved, now, List.of(), "ckpt-5").isEmpty());
        now.put("length-buckets", true);
        assertEquals(
                1,
                ResumeCheck.check(saved, now, List.of("length-buckets"), "ckpt-5")
                        .size());
    }

    @Test
    void resumingAFinishedRunAppendsNothingAndCompletesAnInterruptedEnd() throws Exception {
        Path out = dir.resolve("run");
        trainer(TrainerResumeTest.cfg(out), out).run(null);
        byte[] metrics = Files.readAllBytes(out.resolve("metrics.jsonl"));
        byte[] adapter = Files.readAllBytes(out.resolve("adapter/model.safetensors"));
        TrainConfig c = TrainerResumeTest.cfg(out);
        c.resume = out.toString();
        trainer(c, out).run(null);
        assertArrayEquals(metrics, Files.readAllBytes(out.resolve("metrics.jsonl")), "no second final validation line");
        assertTrue(logBytes.toString(StandardCharsets.UTF_8).contains("this run is finished"));

        // stopped after the last checkpoint but before the adapter and the final validation: resume completes both
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        Files.write(out.resolve("metrics.jsonl"), lines.subList(0, lines.size() - 1));
        CheckpointManager.deleteTree(out.resolve("adapter"));
        trainer(c, out).run(null);
        assertArrayEquals(
                adapter,
                Files.readAllBytes(out.resolve("adapter/model.safetensors")),
                "the adapter of the last checkpoint");
        assertArrayEquals(
                metrics, Files.readAllBytes(out.resolve("metrics.jsonl")), "exactly one final validation line");
    }

    @Test
    void aStopAfterTheLastStepWaitsForTheAdapterAndTheFinalValidation() throws Exception {
        Path out = dir.resolve("run");
        StopSignal sig = new StopSignal(30_000); // not installed: the test plays the JVM's shutdown hook
        AtomicBoolean adapterAtExit = new AtomicBoolean(), validatedAtExit = new AtomicBoolean();
        Thread[] hook = new Thread[1];
        Trainer t = trainer(TrainerResumeTest.cfg(out), out).listener(new TrainingListener() {
            @Override
            public void onStep(io.gptneo.TrainingStep s) {}

            @Override
            public void onEnd() { // the signal arrives as the loop ends, before the final phase
                hook[0] = new Thread(() -> {
                    sig.onSignal(); // returns when the JVM would exit
                    adapterAtExit.set(Files.isRegularFile(out.resolve("adapter/model.safetensors")));
                    try {
                        validatedAtExit.set(MetricsLog.read(out.resolve("metrics.jsonl")).stream()
                                .anyMatch(n -> n.path("step").asLong() == 12 && n.has("eval")));
                    } catch (Exception e) {
                        validatedAtExit.set(false);
                    }
                });
                hook[0].start();
                try {
                    Thread.sleep(100); // the hook is waiting now
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        });
        Trainer.Result r = t.run(sig);
        hook[0].join(30_000);
        assertFalse(r.stopped(), "the last step was done: nothing to resume");
        assertTrue(adapterAtExit.get(), "the adapter was complete when the process would have exited");
        assertTrue(validatedAtExit.get(), "the final validation was written before exit");
    }

    /** Item 10: a damaged checkpoint state, a full disk, a data folder and an empty data file name what they are about. */
    @Test
    void errorsNameTheirFile() throws Exception {
        Path out = dir.resolve("run");
        trainer(TrainerResumeTest.cfg(out), out).stopAfter(4).run(null);
        Path state = out.resolve("checkpoints/checkpoint-4/trainer_state.json");
        String json = Files.readString(state);
        Files.writeString(state, json.substring(0, json.length() / 2));
        TrainConfig c = TrainerResumeTest.cfg(out);
        c.resume = out.toString();
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> trainer(c, out).run(null));
        assertTrue(e.getMessage().startsWith(state + ": damaged checkpoint state"), e.getMessage());

        Path full = dir.resolve("full");
        TinyModel tiny = new TinyModel();
        TrainableCostModel diskFull = new TrainableCostModel() { // the tiny model on a full disk
                    @Override
                    public io.gptneo.tensor.Tensor costs(int[][] ids, int[][] mask) {
                        return tiny.costs(ids, mask);
                    }

                    @Override
                    public java.util.Map<String, io.gptneo.tensor.Tensor> trainable() {
                        return tiny.trainable();
                    }

                    @Override
                    public void setTraining(boolean on) {
                        tiny.setTraining(on);
                    }

                    @Override
                    public void setStepSeed(long seed) {
                        tiny.setStepSeed(seed);
                    }

                    @Override
                    public void save(Path d) throws java.io.IOException {
                        throw new java.io.IOException("No space left on device");
                    }
                };
        java.io.IOException ioe = assertThrows(
                java.io.IOException.class,
                () -> new Trainer(diskFull, TrainerResumeTest.cfg(full), train, val, full, log).run(null));
        assertTrue(
                ioe.getMessage().contains("cannot write checkpoint " + full.resolve("checkpoints/checkpoint-4")),
                ioe.getMessage());
        assertTrue(ioe.getMessage().contains("No space left on device"), ioe.getMessage());

        TrainConfig d = TrainerResumeTest.cfg(dir.resolve("x"));
        CostInputs in = new CostInputs(
                io.gptneo.tokenizer.Gpt2Tokenizer.load(io.gptneo.weights.SharedData.resolve("tokenizer/gpt2")), 64);
        e = assertThrows(IllegalArgumentException.class, () -> TrainSetup.data(List.of(dir), d, in, log));
        assertTrue(e.getMessage().contains(dir + " is a folder"), e.getMessage());
        Path empty = Files.writeString(dir.resolve("empty.jsonl"), "");
        e = assertThrows(IllegalArgumentException.class, () -> TrainSetup.data(List.of(empty), d, in, log));
        assertTrue(e.getMessage().contains("no training examples in [" + empty + "]"), e.getMessage());
    }
}
