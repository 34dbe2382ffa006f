package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.Scorer;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ScoreServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient client =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private ScoreServer server;

    @AfterEach
    void stop() {
        if (server != null) server.close();
    }

    private ScoreServer start(Scorer scorer, ScoreServer.Config cfg) throws IOException {
        server = ScoreServer.start(cfg, scorer);
        return server;
    }

    private record Reply(int status, JsonNode json, HttpResponse<String> raw) {}

    private Reply post(String path, String body) throws Exception {
        return send(HttpRequest.newBuilder(server.uri().resolve(path))
                .timeout(Duration.ofSeconds(20))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                .build());
    }

    private Reply get(String path) throws Exception {
        return send(HttpRequest.newBuilder(server.uri().resolve(path))
                .timeout(Duration.ofSeconds(20))
                .GET()
                .build());
    }

    private Reply send(HttpRequest req) throws Exception {
        HttpResponse<String> r = client.send(req, HttpResponse.BodyHandlers.ofString());
        JsonNode j = r.headers().firstValue("Content-Type").orElse("").startsWith("application/json")
                ? JSON.readTree(r.body())
                : null;
        return new Reply(r.statusCode(), j, r);
    }

    private static String item(String prompt, String response) {
        return JSON.createObjectNode()
                .put("prompt", prompt)
                .put("response", response)
                .toString();
    }

    private void assertStillServing() throws Exception {
        Reply ok = post("/v1/score", item("hello", "hi"));
        assertEquals(200, ok.status, ok.raw.body());
        assertEquals(-0.3f, ok.json.get("cost").floatValue(), 1e-6);
        assertEquals(200, get("/healthz").status);
    }

    private static void assertError(Reply r, int status, String... fragments) {
        assertEquals(status, r.status, r.raw.body());
        assertNotNull(r.json, "errors are JSON: " + r.raw.body());
        assertEquals(status, r.json.get("status").asInt());
        String msg = r.json.get("error").asText();
        for (String f : fragments) assertTrue(msg.contains(f), "error \"" + msg + "\" should mention \"" + f + "\"");
    }

    @Test
    void bindsToLoopbackOnAnEphemeralPort() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        assertTrue(server.port() > 0);
        assertEquals("127.0.0.1", server.uri().getHost());
        Reply h = get("/healthz");
        assertEquals(200, h.status);
        assertEquals("ok", h.json.get("status").asText());
        assertEquals(16, h.json.get("max_batch").asInt());
        assertEquals(5, h.json.get("max_wait_ms").asInt());
        assertFalse(h.json.get("histogram").asBoolean());
    }

    @Test
    void scoresOnePairWithCostAndLabel() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        Reply unsafe = post("/v1/score", item("short", "a much longer response"));
        assertEquals(200, unsafe.status, unsafe.raw.body());
        assertEquals(
                FakeScorer.expected("short", "a much longer response"),
                unsafe.json.get("cost").floatValue(),
                1e-6);
        assertEquals("UNSAFE", unsafe.json.get("label").asText());
        assertTrue(unsafe.json.get("unsafe").asBoolean());
        assertFalse(unsafe.json.has("reference_fraction_at_or_below"));

        Reply safe = post("/v1/score", item("a much longer prompt", "ok"));
        assertEquals("SAFE", safe.json.get("label").asText());
        assertFalse(safe.json.get("unsafe").asBoolean());

        Reply zero = post("/v1/score", item("same", "same")); // cost exactly 0 is SAFE: only > 0 is unsafe
        assertEquals(0f, zero.json.get("cost").floatValue());
        assertEquals("SAFE", zero.json.get("label").asText());

        Reply unicode = post("/v1/score", item("¿qué? 🙂", "réponse — ünïcode 🙂"));
        assertEquals(
                FakeScorer.expected("¿qué? 🙂", "réponse — ünïcode 🙂"),
                unicode.json.get("cost").floatValue(),
                1e-6);
    }

    @Test
    void scoresAListInOrder() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < 10; i++) sb.append(i == 0 ? "" : ",").append(item("p", "x".repeat(i)));
        Reply r = post("/v1/score", sb.append("]").toString());
        assertEquals(200, r.status, r.raw.body());
        JsonNode results = r.json.get("results");
        assertEquals(10, results.size());
        for (int i = 0; i < 10; i++) {
            assertEquals(
                    FakeScorer.expected("p", "x".repeat(i)),
                    results.get(i).get("cost").floatValue(),
                    1e-6);
            assertEquals(i > 1 ? "UNSAFE" : "SAFE", results.get(i).get("label").asText());
        }
    }

    @Test
    void badJsonIsA400WithTheReasonAndTheServerKeepsServing() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        assertError(post("/v1/score", "{\"prompt\": \"a\", \"response\": "), 400, "invalid JSON", "line 1");
        assertError(post("/v1/score", "{prompt: 1}"), 400, "invalid JSON");
        assertError(post("/v1/score", "not json at all"), 400, "invalid JSON");
        assertError(post("/v1/score", ""), 400, "empty body");
        assertError(post("/v1/score", "   "), 400, "empty body");
        assertError(post("/v1/score", "42"), 400, "expected a JSON object");
        assertError(post("/v1/score", "[]"), 400, "empty list");
        assertError(post("/v1/score", "{\"prompt\": \"a\"}"), 400, "missing field \"response\"");
        assertError(
                post("/v1/score", "{\"prompt\": 3, \"response\": \"b\"}"),
                400,
                "\"prompt\" must be a string",
                "number");
        assertError(post("/v1/score", "[" + item("a", "b") + ", 7]"), 400, "item 1", "expected an object");
        assertError(
                post("/v1/score", "[" + item("a", "b") + ", {\"prompt\": \"a\", \"response\": null}]"),
                400,
                "item 1",
                "missing field \"response\"");
        // invalid UTF-8 in the body
        HttpRequest raw = HttpRequest.newBuilder(server.uri().resolve("/v1/score"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(
                        new byte[] {'{', '"', 'p', '"', ':', '"', (byte) 0xC3, (byte) 0x28, '"', '}'}))
                .build();
        assertError(send(raw), 400, "not valid UTF-8");
        assertStillServing();
        assertTrue(get("/healthz").json.get("errors").asLong() >= 12);
    }

    @Test
    void oversizedBodiesGet413EvenWithoutContentLength() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults().withLimits(ServeLimits.DEFAULT.withMaxBodyBytes(1000)));
        String big = item("p", "x".repeat(5000));
        assertError(post("/v1/score", big), 413, "limit is 1000 bytes");
        // chunked: no Content-Length, the server counts as it reads
        byte[] bytes = item("p", "y".repeat(200_000)).getBytes(StandardCharsets.UTF_8);
        HttpRequest chunked = HttpRequest.newBuilder(server.uri().resolve("/v1/score"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(bytes)))
                .build();
        assertError(send(chunked), 413, "over the limit of 1000 bytes");
        // just under the limit is fine
        Reply ok = post("/v1/score", item("p", "z".repeat(900)));
        assertEquals(200, ok.status, ok.raw.body());
        assertStillServing();
    }

    @Test
    void textAndItemLimitsAre400sThatSayTheLimit() throws Exception {
        start(
                new FakeScorer(0),
                ScoreServer.Config.defaults()
                        .withLimits(ServeLimits.DEFAULT.withMaxTextChars(100).withMaxItems(3)));
        assertError(
                post("/v1/score", item("p", "x".repeat(101))), 400, "\"response\" is 101 characters", "limit is 100");
        assertError(post("/v1/score", item("p".repeat(500), "x")), 400, "\"prompt\" is 500 characters");
        assertEquals(200, post("/v1/score", item("p".repeat(100), "x".repeat(100))).status);
        String four = "[" + String.join(",", item("a", "b"), item("a", "b"), item("a", "b"), item("a", "b")) + "]";
        assertError(post("/v1/score", four), 400, "too many items: 4", "limit is 3");
        assertError(post("/v1/score", "[" + item("a", "b") + "," + item("a", "x".repeat(101)) + "]"), 400, "item 1");
        assertStillServing();
    }

    @Test
    void unknownPathsAndWrongMethods() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        assertError(get("/nope"), 404, "no such endpoint");
        Reply r = get("/v1/score");
        assertError(r, 405, "use POST");
        assertEquals("POST", r.raw.headers().firstValue("Allow").orElse(""));
        assertError(post("/healthz", "{}"), 405, "use GET");
        assertError(get("/v1/histogram"), 404, "--reference-costs");
        assertStillServing();
    }

    @Test
    void servesThePage() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        Reply page = get("/");
        assertEquals(200, page.status);
        assertTrue(page.raw.headers().firstValue("Content-Type").orElse("").startsWith("text/html"));
        assertTrue(page.raw.body().contains("id=\"check\"") && page.raw.body().contains("/v1/score"));
    }

    @Test
    void aScorerFailureIsA500AndDoesNotStopTheServer() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults());
        assertError(post("/v1/score", item("p", "boom")), 500, "scoring failed", "exploded on purpose");
        assertStillServing();
    }

    @Test
    void slowModelTimesOutWith503AndRetryAfter() throws Exception {
        start(
                new FakeScorer(400),
                ScoreServer.Config.defaults().withLimits(ServeLimits.DEFAULT.withTimeoutMillis(100)));
        Reply r = post("/v1/score", item("p", "r"));
        assertError(r, 503, "timed out after 100 ms");
        assertEquals("1", r.raw.headers().firstValue("Retry-After").orElse(""));
    }

    @Test
    void aRequestLargerThanTheQueueIs503() throws Exception {
        start(new FakeScorer(0), ScoreServer.Config.defaults().withLimits(ServeLimits.DEFAULT.withQueueCapacity(2)));
        String three = "[" + String.join(",", item("a", "b"), item("a", "b"), item("a", "b")) + "]";
        Reply r = post("/v1/score", three);
        assertError(r, 503, "server busy");
        assertEquals("1", r.raw.headers().firstValue("Retry-After").orElse(""));
        assertStillServing();
    }

    @Test
    void concurrentCallersShareForwardPasses() throws Exception {
        FakeScorer scorer = new FakeScorer(30);
        start(scorer, ScoreServer.Config.defaults().withBatching(8, 20));
        int n = 32;
        List<CompletableFuture<HttpResponse<String>>> replies = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            replies.add(client.sendAsync(
                    HttpRequest.newBuilder(server.uri().resolve("/v1/score"))
                            .header("Content-Type", "application/json")
                            .POST(HttpRequest.BodyPublishers.ofString(item("q", "r".repeat(i))))
                            .build(),
                    HttpResponse.BodyHandlers.ofString()));
        }
        for (int i = 0; i < n; i++) {
            HttpResponse<String> r = replies.get(i).get(20, TimeUnit.SECONDS);
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(
                    FakeScorer.expected("q", "r".repeat(i)),
                    JSON.readTree(r.body()).get("cost").floatValue(),
                    1e-6);
        }
        List<Integer> sizes = List.copyOf(scorer.batchSizes);
        assertEquals(n, sizes.stream().mapToInt(Integer::intValue).sum());
        assertTrue(sizes.stream().allMatch(s -> s <= 8), "no batch above the maximum: " + sizes);
        assertTrue(
                sizes.size() <= n / 2, "32 concurrent requests should take far fewer than 32 forward passes: " + sizes);
        JsonNode h = get("/healthz").json;
        assertEquals(sizes.size(), h.get("batches").asInt());
        assertEquals(n, h.get("pairs_scored").asInt());
        assertTrue(h.get("mean_batch_size").asDouble() >= 2.0, h.toString());
    }

    @Test
    void withAReferenceHistogramTheScoreSaysWhereTheCostFalls() throws Exception {
        double[] costs = {-3, -2, -1, -0.5, 0.5, 1, 2, 3};
        Boolean[] safe = {true, true, true, true, false, false, false, false};
        ReferenceHistogram h = ReferenceHistogram.fromCosts(costs, safe, 6, "/tmp/ref.jsonl");
        start(new FakeScorer(0), ScoreServer.Config.defaults().withHistogram(h));
        Reply hist = get("/v1/histogram");
        assertEquals(200, hist.status);
        assertEquals(7, hist.json.get("edges").size());
        assertEquals(8, hist.json.get("total").asInt());
        assertEquals("ref.jsonl", hist.json.get("source").asText());
        Reply r = post("/v1/score", item("pp", "ppppppp")); // cost 0.5
        assertEquals(0.625, r.json.get("reference_fraction_at_or_below").asDouble(), 1e-9);
        assertTrue(get("/healthz").json.get("histogram").asBoolean());
    }
}
