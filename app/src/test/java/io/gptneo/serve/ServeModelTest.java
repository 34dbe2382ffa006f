package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import io.gptneo.PromptResponse;
import io.gptneo.cli.ServeCommand;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.CostInputs;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine;

/**
 * End to end with the real cost model: {@code ./gptneo serve}'s own start-up path on the tiny fixture model and
 * adapter; the costs the server returns for the fixture's four conversations equal the independently computed
 * expected costs (shared/fixtures/lora-tiny), alone, as a list, and when concurrent requests share a batch.
 */
class ServeModelTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void servesTheFixtureCostModelsExpectedCosts(@TempDir Path tmp) throws Exception {
        Path model = SharedData.resolve("fixtures/gptneo-tiny");
        Path lora = SharedData.resolve("fixtures/lora-tiny");
        JsonNode expected = JSON.readTree(lora.resolve("expected.json").toFile());
        int maxLen = expected.get("hyperparameters").get("max_len").asInt();
        float[] costs;
        try (SafeTensorsFile st = SafeTensorsFile.open(lora.resolve("expected.safetensors"))) {
            costs = st.load("costs", DataType.FLOAT).toFloatVector();
        }
        JsonNode tokenIds = expected.get("cost_token_ids");
        int[][] want = JSON.readValue(tokenIds.isTextual() ? tokenIds.asText() : tokenIds.toString(), int[][].class);

        // Find which (prompt, response) of train_pairs.jsonl each expected row is, by its token ids.
        // The fixture's rows are longer than max_len and were cut to their first max_len ids: the explicit parity mode.
        CostInputs inputs = new CostInputs(Gpt2Tokenizer.load(model), maxLen, CostInputs.Truncation.FIRST_TOKENS);
        List<JsonNode> pairs = new ArrayList<>();
        for (String line : Files.readAllLines(lora.resolve("train_pairs.jsonl")))
            if (!line.isBlank()) pairs.add(JSON.readTree(line));
        PromptResponse[] rows = new PromptResponse[want.length];
        for (JsonNode p : pairs) {
            for (int k = 0; k < 2; k++) {
                String prompt = p.get("prompt").asText(),
                        response = p.get("response_" + k).asText();
                int[] ids = inputs.encode(prompt, response);
                for (int r = 0; r < want.length; r++)
                    if (rows[r] == null && Arrays.equals(ids, want[r])) rows[r] = new PromptResponse(prompt, response);
            }
        }
        for (int r = 0; r < rows.length; r++) assertNotNull(rows[r], "no train pair encodes to expected row " + r);

        Path report = tmp.resolve("costs.jsonl");
        Files.writeString(report, "{\"cost\": -1, \"is_safe\": true}\n{\"cost\": 1, \"is_safe\": false}\n");
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd)
                .parseArgs(
                        "--model",
                        model.toString(),
                        "--adapter",
                        lora.resolve("adapter_init").toString(),
                        "--port",
                        "0",
                        "--max-length",
                        Integer.toString(maxLen),
                        "--batch-size",
                        "4",
                        "--max-wait-ms",
                        "50",
                        "--truncation",
                        "first-tokens",
                        "--reference-costs",
                        report.toString());
        HttpClient http = HttpClient.newHttpClient();
        try (ScoreServer server = cmd.start()) {
            assertEquals("127.0.0.1", server.uri().getHost());
            // one at a time
            for (int r = 0; r < rows.length; r++) {
                JsonNode one = post(http, server, item(rows[r]).toString());
                assertEquals(costs[r], one.get("cost").floatValue(), 1e-4, "row " + r);
                assertEquals(costs[r] > 0 ? "UNSAFE" : "SAFE", one.get("label").asText());
                assertTrue(one.has("reference_fraction_at_or_below"));
                assertTrue(one.get("truncated").asBoolean(), "the fixture rows are longer than max_len");
            }
            // as one list: one padded batch
            ArrayNode list = JSON.createArrayNode();
            for (PromptResponse pr : rows) list.add(item(pr));
            JsonNode results = post(http, server, list.toString()).get("results");
            for (int r = 0; r < rows.length; r++)
                assertEquals(costs[r], results.get(r).get("cost").floatValue(), 1e-4, "list row " + r);
            // concurrent single requests, batched by the server
            long batchesBefore = server.stats().batches();
            List<CompletableFuture<HttpResponse<String>>> inFlight = new ArrayList<>();
            for (int rep = 0; rep < 3; rep++) {
                for (PromptResponse pr : rows) {
                    inFlight.add(http.sendAsync(
                            HttpRequest.newBuilder(server.uri().resolve("/v1/score"))
                                    .header("Content-Type", "application/json")
                                    .POST(HttpRequest.BodyPublishers.ofString(item(pr).toString()))
                                    .build(),
                            HttpResponse.BodyHandlers.ofString()));
                }
            }
            for (int i = 0; i < inFlight.size(); i++) {
                HttpResponse<String> r = inFlight.get(i).get(60, TimeUnit.SECONDS);
                assertEquals(200, r.statusCode(), r.body());
                assertEquals(
                        costs[i % rows.length],
                        JSON.readTree(r.body()).get("cost").floatValue(),
                        1e-4,
                        "concurrent " + i);
            }
            assertTrue(
                    server.stats().batches() - batchesBefore < inFlight.size(),
                    "12 concurrent requests should share forward passes");
        }
    }

    private static JsonNode item(PromptResponse pr) {
        return JSON.createObjectNode().put("prompt", pr.prompt()).put("response", pr.response());
    }

    private static JsonNode post(HttpClient http, ScoreServer server, String body) throws Exception {
        HttpResponse<String> r = http.send(
                HttpRequest.newBuilder(server.uri().resolve("/v1/score"))
                        .timeout(Duration.ofSeconds(60))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                        .build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
        return JSON.readTree(r.body());
    }
}
