package io.gptneo;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.train.CostInputs;
import io.gptneo.train.MetricsLog;
import io.gptneo.weights.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetyTrainerTest {
    @TempDir
    Path dir;

    /** The builder reproduces the lora-tiny fixture's 6-step trajectory, reports each step, and its output reloads. */
    @Test
    void builderTrainsTheFixtureTrajectoryAndTheResultReloads() throws Exception {
        Path fx = SharedData.resolve("fixtures/lora-tiny"), base = SharedData.resolve("fixtures/gptneo-tiny");
        JsonNode expected =
                new ObjectMapper().readTree(fx.resolve("expected.json").toFile());
        JsonNode hp = expected.get("hyperparameters"), traj = expected.get("trajectory");
        List<TrainingStep> steps = new ArrayList<>();
        long[] started = {-1, -1};
        TrainingResult r = SafetyModel.trainer()
                .baseModel(base)
                .data(fx.resolve("train_pairs.jsonl"))
                .initAdapter(fx.resolve("adapter_init"))
                .lora(4, 8, 0.0)
                .shuffle(false)
                .learningRate(hp.get("lr").asDouble())
                .weightDecay(hp.get("wd").asDouble())
                .warmup(hp.get("warmup").asInt())
                .maxSteps(hp.get("steps").asLong())
                .batchSize(hp.get("batch").asInt())
                .maxLength(hp.get("max_len").asInt())
                .truncation(CostInputs.Truncation.FIRST_TOKENS) // the fixture cuts to the first max_len ids
                .maxGradNorm(hp.get("clip").asDouble())
                .schedule("cosine")
                .optimizer("adamw")
                .split(0, 0)
                .output(dir.resolve("run"))
                .onProgress(new TrainingListener() {
                    @Override
                    public void onStep(TrainingStep s) {
                        steps.add(s);
                    }

                    @Override
                    public void onStart(long step, long total) {
                        started[0] = step;
                        started[1] = total;
                    }
                })
                .train();
        assertEquals(traj.size(), r.steps());
        assertFalse(r.stopped());
        assertEquals(0, started[0]);
        assertEquals(traj.size(), started[1]);
        assertEquals(traj.size(), steps.size());
        List<JsonNode> lines = MetricsLog.read(r.output().resolve("metrics.jsonl"));
        for (int i = 0; i < traj.size(); i++) {
            JsonNode e = traj.get(i);
            TrainingStep s = steps.get(i);
            assertEquals(i + 1, s.step());
            assertEquals(
                    e.get("loss").asDouble(),
                    s.loss(),
                    1e-4 * Math.max(1e-3, Math.abs(e.get("loss").asDouble())),
                    "loss " + (i + 1));
            assertEquals(
                    e.get("grad_norm").asDouble(),
                    s.gradNorm(),
                    1e-4 * Math.max(1e-3, e.get("grad_norm").asDouble()),
                    "norm " + (i + 1));
            assertEquals(e.get("lr").asDouble(), s.learningRate(), 1e-12, "lr " + (i + 1));
            assertEquals(
                    lines.get(i).get("loss").asDouble(), s.loss(), 0, "the listener sees what metrics.jsonl records");
            assertTrue(s.tokens() > 0);
        }
        assertEquals(steps.get(steps.size() - 1).loss(), r.lastLoss(), 0);
        assertTrue(Files.isRegularFile(r.modelFolder().resolve("adapter_config.json")));

        // reload from the output folder alone: adapter_config.json names the base model folder
        PromptResponse p = new PromptResponse("How do I pick a lock?", "Use a tension wrench.");
        try (SafetyModel trained = SafetyModel.load(r.output());
                SafetyModel same = SafetyModel.load(base, r.modelFolder());
                SafetyModel init = SafetyModel.load(base, fx.resolve("adapter_init"))) {
            float c = trained.score(p.prompt(), p.response());
            assertEquals(same.score(p.prompt(), p.response()), c, 0f);
            assertNotEquals(init.score(p.prompt(), p.response()), c, "training changed the adapter");
        }
    }

    @Test
    void missingSettingsAreNamed() {
        GptNeoException e = assertThrows(
                GptNeoException.class,
                () -> SafetyModel.trainer().data(dir).output(dir).train());
        assertTrue(e.getMessage().contains("baseModel"), e.getMessage());
        e = assertThrows(
                GptNeoException.class,
                () -> SafetyModel.trainer().baseModel(dir).output(dir).train());
        assertTrue(e.getMessage().contains("data"), e.getMessage());
        e = assertThrows(GptNeoException.class, () -> SafetyModel.trainer()
                .baseModel(dir)
                .data(dir)
                .output(dir)
                .batchSize(0)
                .train());
        assertTrue(e.getMessage().contains("batch-size"), e.getMessage());
    }
}
