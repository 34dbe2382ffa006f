package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.cli.GptNeoCli;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * End to end through {@code ./gptneo train}: with the lora-tiny fixture's init adapter, hyperparameters and data,
 * the command reproduces the fixture's 6-step trajectory (lr, loss, grad_norm) and final parameters.
 */
class TrainCommandFixtureTest {
    @TempDir
    Path dir;

    @Test
    void reproducesTheLoraTinyTrajectory() throws Exception {
        Path fx = SharedData.resolve("fixtures/lora-tiny");
        JsonNode expected =
                new ObjectMapper().readTree(fx.resolve("expected.json").toFile());
        JsonNode hp = expected.get("hyperparameters");
        Path out = dir.resolve("run");
        int code = GptNeoCli.commandLine()
                .execute(
                        "train",
                        "--model",
                        SharedData.resolve("fixtures/gptneo-tiny").toString(),
                        "--data",
                        fx.resolve("train_pairs.jsonl").toString(),
                        "--out",
                        out.toString(),
                        "--init-adapter",
                        fx.resolve("adapter_init").toString(),
                        "--no-shuffle",
                        "--lora-dropout",
                        "0",
                        "--lr",
                        hp.get("lr").asText(),
                        "--weight-decay",
                        hp.get("wd").asText(),
                        "--warmup-steps",
                        hp.get("warmup").asText(),
                        "--max-steps",
                        hp.get("steps").asText(),
                        "--batch-size",
                        hp.get("batch").asText(),
                        "--max-length",
                        hp.get("max_len").asText(),
                        "--truncation",
                        "first-tokens", // the fixture cut its (longer) sequences to their first max_len ids
                        "--max-grad-norm",
                        hp.get("clip").asText(),
                        "--schedule",
                        "cosine",
                        "--optimizer",
                        "adamw",
                        "--validation-fraction",
                        "0",
                        "--test-fraction",
                        "0",
                        "--no-progress");
        assertEquals(0, code);
        List<JsonNode> lines = MetricsLog.read(out.resolve("metrics.jsonl"));
        JsonNode traj = expected.get("trajectory");
        assertEquals(traj.size(), lines.size());
        for (int i = 0; i < traj.size(); i++) {
            JsonNode e = traj.get(i), a = lines.get(i);
            assertEquals(e.get("step").asLong(), a.get("step").asLong());
            for (String k : List.of("lr", "loss", "grad_norm")) {
                double want = e.get(k).asDouble(), got = a.get(k).asDouble();
                assertEquals(want, got, 1e-4 * Math.max(1e-3, Math.abs(want)), "step " + (i + 1) + " " + k);
            }
        }
        // final parameters: the saved PEFT adapter equals final.* of the fixture
        Path adapter = out.resolve("adapter");
        assertTrue(Files.isRegularFile(adapter.resolve("adapter_config.json")));
        try (SafeTensorsFile exp = SafeTensorsFile.open(fx.resolve("expected.safetensors"));
                SafeTensorsFile got = SafeTensorsFile.open(adapter.resolve("adapter_model.safetensors"))) {
            int n = 0;
            for (String k : exp.names()) {
                if (!k.startsWith("final.")) continue;
                String name = k.substring("final.".length());
                INDArray want = exp.load(k, DataType.DOUBLE), have = got.load(name, DataType.DOUBLE);
                assertArrayEquals(want.shape(), have.shape(), name);
                double tol = 1e-4 * Math.max(1e-2, want.amaxNumber().doubleValue());
                double diff = want.sub(have).amaxNumber().doubleValue();
                assertTrue(diff <= tol, name + ": max |diff| " + diff + " > " + tol);
                n++;
            }
            assertEquals(17, n, "16 LoRA matrices + score head");
            assertEquals(17, got.names().size());
        }
        assertTrue(Files.isRegularFile(out.resolve("checkpoints/checkpoint-6/trainer_state.json")));
    }
}
