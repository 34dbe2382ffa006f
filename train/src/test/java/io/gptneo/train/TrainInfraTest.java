package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainInfraTest {
    @TempDir
    Path dir;

    @Test
    void checkpointsAreAtomicAndOnlyTheLastKAreKept() throws IOException {
        CheckpointManager cm = new CheckpointManager(dir, 2);
        for (long s : new long[] {10, 20, 30}) {
            cm.save(s, d -> {
                Files.writeString(d.resolve("weights.bin"), "w" + s);
                Files.writeString(d.resolve(CheckpointManager.STATE_FILE), "{\"step\":" + s + "}");
            });
        }
        List<Path> l = cm.list();
        assertEquals(
                List.of(20L, 30L), l.stream().map(CheckpointManager::stepOf).toList());
        assertEquals("w30", Files.readString(l.get(1).resolve("weights.bin")));
        assertFalse(Files.exists(cm.root().resolve("checkpoint-10")));
        // a writer that fails mid-way leaves no checkpoint and no temp folder
        assertThrows(
                IOException.class,
                () -> cm.save(40, d -> {
                    Files.writeString(d.resolve("weights.bin"), "partial");
                    throw new IOException("disk full");
                }));
        assertFalse(Files.exists(cm.root().resolve("checkpoint-40")));
        try (var s = Files.list(cm.root())) {
            assertEquals(2, s.count(), "only the two kept checkpoints remain");
        }
        // a folder without the state file (killed before rename completed) is not a checkpoint
        Files.createDirectories(cm.root().resolve("checkpoint-50"));
        assertEquals(30, CheckpointManager.stepOf(CheckpointManager.resolveResume(dir)));
        assertEquals(30, CheckpointManager.stepOf(CheckpointManager.resolveResume(cm.root())));
        assertEquals(l.get(0), CheckpointManager.resolveResume(l.get(0)));
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> CheckpointManager.resolveResume(dir.resolve("x")));
        assertTrue(e.getMessage().contains("no checkpoint"), e.getMessage());
        // saving a step that exists is a no-op
        AtomicBoolean called = new AtomicBoolean();
        cm.save(30, d -> called.set(true));
        assertFalse(called.get());
    }

    @Test
    void metricsLogLinesAndResumeTruncation() throws IOException {
        Path f = dir.resolve("metrics.jsonl");
        try (MetricsLog m = MetricsLog.create(f)) {
            m.step(1, 0.0, 2.5, 18.6);
            m.step(2, 0.0025, 2.07, 13.1);
            m.eval(2, "validation", Map.of("loss", 1.5));
            m.step(3, 0.005, 3.1, 15.7);
        }
        List<JsonNode> l = MetricsLog.read(f);
        assertEquals(4, l.size());
        assertEquals(List.of("step", "lr", "loss", "grad_norm"), iter(l.get(0)));
        assertEquals(0.0025, l.get(1).get("lr").doubleValue(), 0);
        assertEquals("validation", l.get(2).get("eval").textValue());
        Files.writeString(
                f, Files.readString(f) + "{\"step\": 4, \"lr\"", java.nio.file.StandardOpenOption.TRUNCATE_EXISTING);
        try (MetricsLog m = MetricsLog.resume(f, 2)) {
            m.step(3, 0.005, 3.25, 1.0);
        }
        l = MetricsLog.read(f);
        assertEquals(4, l.size());
        assertEquals(3.25, l.get(3).get("loss").doubleValue(), 0);
    }

    static class Flags {
        Integer loraR = 32;
        Double lr;
        Boolean shuffle = false;
        List<String> targets;
        String unrelatedField = "x";
    }

    @Test
    void configPrecedenceDefaultsFileFlags() throws IOException {
        TrainConfig d = new TrainConfig();
        assertEquals(8, d.loraR);
        assertEquals(16, d.loraAlpha);
        assertEquals(0.05, d.loraDropout);
        assertEquals(List.of("q_proj", "v_proj"), d.targets);
        assertEquals(1e-5, d.lr);
        assertEquals(0.05, d.weightDecay);
        assertEquals(100, d.warmupSteps);
        assertEquals("cosine", d.schedule);
        assertEquals(2, d.epochs);
        assertEquals(2, d.batchSize);
        assertEquals(1, d.gradAccum);
        assertEquals(1024, d.maxLength);
        assertTrue(d.gradientCheckpointing);
        Path cfg = dir.resolve("c.json");
        Files.writeString(
                cfg,
                "{\"lora_r\": 4, \"lr\": 0.005, \"warmup-steps\": 2, \"targets\": \"q_proj,k_proj\", \"maxLength\": 64}");
        TrainConfig c =
                new TrainConfig().applyJsonFile(cfg).applyFlags(new Flags()).validate();
        assertEquals(32, c.loraR, "flag beats file");
        assertEquals(0.005, c.lr, "file beats default; unset flag keeps it");
        assertEquals(2, c.warmupSteps);
        assertEquals(64, c.maxLength);
        assertEquals(List.of("q_proj", "k_proj"), c.targets);
        assertFalse(c.shuffle);
        TrainConfig back = new TrainConfig().applyJson(c.toJson(), "round trip");
        assertEquals(c.toJsonString(), back.toJsonString());
        Files.writeString(cfg, "{\"lora_rank\": 4}");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> new TrainConfig().applyJsonFile(cfg));
        assertTrue(
                e.getMessage().contains("unknown key(s) [lora_rank]")
                        && e.getMessage().contains("lora-r"),
                e.getMessage());
        Files.writeString(cfg, "{\"epochs\": \"two\"}");
        e = assertThrows(IllegalArgumentException.class, () -> new TrainConfig().applyJsonFile(cfg));
        assertTrue(e.getMessage().contains("'epochs': expected an integer"), e.getMessage());
        TrainConfig bad = new TrainConfig();
        bad.schedule = "step";
        e = assertThrows(IllegalArgumentException.class, bad::validate);
        assertTrue(e.getMessage().startsWith("--schedule"), e.getMessage());
    }

    @Test
    void stopSignalWaitsForTheLoopsCheckpoint() throws Exception {
        StopSignal sig = new StopSignal(10_000);
        AtomicBoolean saved = new AtomicBoolean();
        Thread loop = new Thread(() -> {
            int steps = 0;
            while (!sig.requested()) {
                steps++;
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    return;
                }
            }
            try {
                Thread.sleep(200);
            } catch (InterruptedException e) {
                return;
            } // "writing the checkpoint"
            saved.set(steps > 0);
            sig.finished();
        });
        loop.start();
        Thread.sleep(50);
        sig.onSignal(); // what the shutdown hook runs: returns only after the loop finished
        assertTrue(saved.get(), "hook returned before the checkpoint was written");
        loop.join();
        sig.onSignal(); // after the end: returns at once
        sig.close();
    }

    private static List<String> iter(JsonNode n) {
        List<String> l = new java.util.ArrayList<>();
        n.fieldNames().forEachRemaining(l::add);
        return l;
    }
}
