package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.cli.GptNeoCli;
import io.gptneo.tensor.Kernels;
import io.gptneo.weights.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real SIGTERM to a training process (gptneo-tiny, LoRA with dropout): it writes a checkpoint at the step boundary
 * and exits; {@code --resume} then finishes with exactly the parameters and metrics of an uninterrupted run.
 * Runs use the reference attention kernel: the fused kernel's backward is not bit-reproducible from run to run
 * (two identical uninterrupted runs already differ in the 7th digit of the first grad norm), which no resume can fix.
 */
class SignalResumeTest {
    @TempDir
    Path dir;

    static List<String> args(Path out) {
        Path fx = SharedData.resolve("fixtures/lora-tiny");
        return List.of(
                "train",
                "--model",
                SharedData.resolve("fixtures/gptneo-tiny").toString(),
                "--data",
                fx.resolve("train_pairs.jsonl").toString(),
                "--out",
                out.toString(),
                "--lora-r",
                "4",
                "--lora-dropout",
                "0.1",
                "--lr",
                "0.01",
                "--warmup-steps",
                "3",
                "--max-steps",
                "30",
                "--batch-size",
                "2",
                "--max-length",
                "48",
                "--validation-fraction",
                "0",
                "--test-fraction",
                "0",
                "--save-every",
                "0",
                "--seed",
                "7",
                "--no-progress");
    }

    @Test
    void sigtermCheckpointsAndResumeIsExact() throws Exception {
        Path full = dir.resolve("full");
        assertEquals(0, GptNeoCli.commandLine().execute(args(full).toArray(String[]::new)));

        Path cut = dir.resolve("cut");
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules",
                "jdk.incubator.vector",
                "-Xmx1g",
                // the kernels this JVM chose at startup, so that both processes run the same arithmetic
                "-D" + Kernels.PROPERTY + "=" + (Kernels.get().fast() ? "fast" : "reference"),
                "-D" + Kernels.ATTENTION_PROPERTY + "="
                        + Kernels.get().attention().name(),
                "-Dgptneo.shared=" + SharedData.root(),
                "-cp",
                System.getProperty("java.class.path"),
                GptNeoCli.class.getName()));
        cmd.addAll(args(cut));
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true)
                .redirectOutput(dir.resolve("cut.log").toFile())
                .start();
        Path metrics = cut.resolve("metrics.jsonl");
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline && p.isAlive()) {
            if (Files.exists(metrics) && Files.readAllLines(metrics).size() >= 3) break;
            Thread.sleep(50);
        }
        assertTrue(p.isAlive(), "training ended before the signal: " + Files.readString(dir.resolve("cut.log")));
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(2, TimeUnit.MINUTES));
        String log = Files.readString(dir.resolve("cut.log"));
        List<Path> ck = new CheckpointManager(cut, 3).list();
        assertEquals(1, ck.size(), log);
        long step = CheckpointManager.stepOf(ck.get(0));
        assertTrue(step >= 3 && step < 30, "stopped at " + step + "\n" + log);
        assertEquals(
                step, MetricsLog.read(metrics).size(), "checkpoint at the step boundary after the last logged step");
        assertTrue(log.contains("stop requested"), log);
        assertFalse(
                Files.exists(cut.resolve("adapter/adapter_config.json")), "no final adapter for an interrupted run");

        List<String> resume = new ArrayList<>(args(cut));
        resume.add("--resume");
        resume.add(cut.toString());
        assertEquals(0, GptNeoCli.commandLine().execute(resume.toArray(String[]::new)));
        assertArrayEquals(
                Files.readAllBytes(full.resolve("adapter/adapter_model.safetensors")),
                Files.readAllBytes(cut.resolve("adapter/adapter_model.safetensors")),
                "final adapter bytes identical");
        assertEquals(Files.readAllLines(full.resolve("metrics.jsonl")), Files.readAllLines(metrics));
        JsonNode st = Trainer.JSON.readTree(
                cut.resolve("checkpoints/checkpoint-30/trainer_state.json").toFile());
        assertEquals(30, st.get("step").asInt());
    }
}
