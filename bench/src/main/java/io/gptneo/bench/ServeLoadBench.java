package io.gptneo.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.PromptResponse;
import io.gptneo.cli.ServeCommand;
import io.gptneo.serve.MicroBatcher;
import io.gptneo.serve.ScoreServer;
import io.gptneo.serve.ServeLimits;
import io.gptneo.weights.SharedData;
import java.io.BufferedReader;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine;

/**
 * {@code ./gptneo bench serve}: a load test of the score server on loopback. Starts the server in this JVM on
 * 127.0.0.1 with an ephemeral port, then for each client count (default 1, 8, 32) runs that many closed-loop clients
 * (java.net.http.HttpClient, HTTP/1.1 keep-alive, one single-pair POST /v1/score after another, texts from
 * shared/data/beavertails_qa.jsonl) until {@code --requests} requests are done or {@code --seconds} have passed,
 * whichever comes first, and reports requests/s, p50/p99 latency, the mean batch size of the forward passes and the
 * errors (any non-200 is an error; the exit status is 1 if there were any).
 *
 * <p>Scorers: {@code --scorer model} (default) scores with the cost model ({@code --model DIR --adapter DIR
 * [--max-len N]}, by default the tiny fixture model and adapter from shared/fixtures); {@code --scorer none} measures
 * the service alone (HTTP, JSON, batching) with a scorer that does no model work; {@code --scorer sleep:MS} sleeps MS
 * per forward pass instead (a stand-in model whose cost is time).
 *
 * <p>Hostile clients ({@link HostileLoad}) run beside the good ones during each level with {@code --slow N}
 * (slowloris connections) and {@code --resetters N} (64-pair requests reset at once); {@code --threads T} sets the
 * server's handler threads and {@code --request-timeout-s} bounds each good request.
 */
public final class ServeLoadBench {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static Duration timeout = Duration.ofSeconds(60);

    private ServeLoadBench() {}

    record Level(
            int clients,
            int requests,
            double seconds,
            double rps,
            double p50ms,
            double p99ms,
            double maxMs,
            double meanBatch,
            long batches,
            int errors,
            String firstError) {}

    public static void main(String[] args) throws Exception {
        int[] clients = {1, 8, 32};
        int requests = 5000, warmup = 200, batch = 16, maxLen = 512;
        long waitMs = 5;
        double seconds = 20;
        String scorerKind = "model";
        int slow = 0, resetters = 0, threads = 64;
        long requestTimeoutS = 60;
        Path model = null, adapter = null, jsonOut = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--clients" -> clients = Arrays.stream(args[++i].split(","))
                        .mapToInt(s -> Integer.parseInt(s.trim()))
                        .toArray();
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--max-wait-ms" -> waitMs = Long.parseLong(args[++i]);
                case "--scorer" -> scorerKind = args[++i];
                case "--model" -> model = Path.of(args[++i]);
                case "--adapter" -> adapter = Path.of(args[++i]);
                case "--max-len" -> maxLen = Integer.parseInt(args[++i]);
                case "--json" -> jsonOut = Path.of(args[++i]);
                case "--slow" -> slow = Integer.parseInt(args[++i]);
                case "--resetters" -> resetters = Integer.parseInt(args[++i]);
                case "--threads" -> threads = Integer.parseInt(args[++i]);
                case "--request-timeout-s" -> requestTimeoutS = Long.parseLong(args[++i]);
                case "--help" -> {
                    System.out.println("usage: ./gptneo bench serve [--clients 1,8,32] [--requests N per level (5000)] "
                            + "[--seconds S per level (20)] [--warmup N (200)] [--batch N (16)] [--max-wait-ms M (5)] "
                            + "[--scorer model|none|sleep:MS] [--model DIR --adapter DIR] [--max-len N (512, capped at the model's positions)] [--json FILE] "
                            + "[--slow N (0)] [--resetters N (0)] [--threads T (64)] [--request-timeout-s S (60)]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i] + " (see --help)");
            }
        }
        if (requests < 1 || seconds <= 0)
            throw new IllegalArgumentException("--requests and --seconds must be positive");
        List<PromptResponse> texts = texts(2000);

        String scorerInfo;
        ScoreServer started;
        if (scorerKind.startsWith("sleep:")) {
            long ms = Long.parseLong(scorerKind.substring(6));
            scorerInfo = "sleep " + ms + " ms per forward pass (no model)";
            started = ScoreServer.start(
                    ScoreServer.Config.defaults()
                            .withBatching(batch, waitMs)
                            .withHandlerThreads(threads)
                            .withLimits(ServeLimits.DEFAULT)
                            .withModelInfo(scorerInfo),
                    b -> {
                        try {
                            Thread.sleep(ms);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                        return noModel(b);
                    });
        } else
            switch (scorerKind) {
                case "none" -> {
                    scorerInfo = "none (service overhead only: no model work)";
                    started = ScoreServer.start(
                            ScoreServer.Config.defaults()
                                    .withBatching(batch, waitMs)
                                    .withHandlerThreads(threads)
                                    .withLimits(ServeLimits.DEFAULT)
                                    .withModelInfo(scorerInfo),
                            ServeLoadBench::noModel);
                }
                case "model" -> {
                    if (model == null) model = SharedData.resolve("fixtures/gptneo-tiny");
                    if (adapter == null) adapter = SharedData.resolve("fixtures/lora-tiny/adapter_init");
                    scorerInfo = "cost model " + model + " + " + adapter + ", max_len " + maxLen;
                    // exactly what ./gptneo serve starts, on an ephemeral port
                    ServeCommand cmd = new ServeCommand();
                    new CommandLine(cmd)
                            .parseArgs(
                                    "--model",
                                    model.toString(),
                                    "--adapter",
                                    adapter.toString(),
                                    "--port",
                                    "0",
                                    "--max-length",
                                    Integer.toString(maxLen),
                                    "--batch-size",
                                    Integer.toString(batch),
                                    "--max-wait-ms",
                                    Long.toString(waitMs),
                                    "--threads",
                                    Integer.toString(threads));
                    started = cmd.start();
                }
                default -> throw new IllegalArgumentException("--scorer must be model or none, got " + scorerKind);
            }

        List<Level> results = new ArrayList<>();
        try (ScoreServer server = started) {
            HttpClient http = HttpClient.newBuilder()
                    .version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5))
                    .build();
            URI uri = server.uri().resolve("/v1/score");
            System.out.printf("serve load test: server on %s, scorer: %s%n", server.uri(), scorerInfo);
            System.out.printf(
                    "batching: up to %d pairs per forward, oldest pair waits at most %d ms; %d texts from beavertails_qa; "
                            + "per level: %d requests or %.0f s, whichever first%n",
                    batch, waitMs, texts.size(), requests, seconds);
            if (slow + resetters > 0) {
                System.out.printf(
                        "hostile clients during each level: %d slowloris connections, %d resetting clients (64 pairs, reset at once, "
                                + "every 20 ms); %d handler threads; good requests time out after %d s%n",
                        slow, resetters, threads, requestTimeoutS);
            }
            timeout = Duration.ofSeconds(requestTimeoutS);
            if (warmup > 0) {
                Level w = run(http, uri, server, texts, Math.min(8, Math.max(1, warmup)), warmup, seconds);
                System.out.printf("warmup: %d requests, %.1f req/s, %d errors%n", w.requests, w.rps, w.errors);
            }
            System.out.println();
            System.out.println("clients  requests   secs     req/s   p50 ms   p99 ms   max ms  mean batch  errors");
            for (int c : clients) {
                Level l;
                MicroBatcher.Stats s0 = server.stats();
                try (HostileLoad hostile = new HostileLoad(
                        server.port(), slow, resetters, 20, System.nanoTime() + (long) (seconds * 1e9))) {
                    if (slow + resetters > 0) Thread.sleep(500); // let them take their threads first
                    l = run(http, uri, server, texts, c, requests, seconds);
                    if (slow + resetters > 0) {
                        System.out.printf(
                                "         hostile: %d slowloris connections (%d dropped by the server), %d resets; pairs scored in all %d%n",
                                hostile.slowConnections.get(),
                                hostile.slowDropped.get(),
                                hostile.resets.get(),
                                server.stats().pairs() - s0.pairs());
                    }
                }
                results.add(l);
                System.out.printf(
                        "%7d  %8d  %5.1f  %8.1f  %7.2f  %7.2f  %7.2f  %10.2f  %6d%n",
                        l.clients, l.requests, l.seconds, l.rps, l.p50ms, l.p99ms, l.maxMs, l.meanBatch, l.errors);
                if (l.firstError != null) System.out.println("         first error: " + l.firstError);
            }
        }
        if (jsonOut != null) {
            ObjectNode o = JSON.createObjectNode();
            o.put("benchmark", "serve");
            o.put("scorer", scorerInfo);
            o.put("max_batch", batch);
            o.put("max_wait_ms", waitMs);
            o.put("cores", Runtime.getRuntime().availableProcessors());
            ArrayNode a = o.putArray("levels");
            for (Level l : results) a.add(JSON.valueToTree(l));
            if (jsonOut.getParent() != null) Files.createDirectories(jsonOut.getParent());
            JSON.writerWithDefaultPrettyPrinter().writeValue(jsonOut.toFile(), o);
            System.out.println("wrote " + jsonOut);
        }
        if (results.stream().anyMatch(l -> l.errors > 0)) {
            System.err.println("serve load test: there were errors");
            System.exit(1);
        }
    }

    /** Closed loop: {@code clients} threads each send one request, wait for the answer, and go again. */
    static Level run(
            HttpClient http,
            URI uri,
            ScoreServer server,
            List<PromptResponse> texts,
            int clients,
            int requests,
            double seconds)
            throws InterruptedException {
        AtomicInteger tickets = new AtomicInteger(requests);
        AtomicInteger errors = new AtomicInteger();
        ConcurrentLinkedQueue<String> firstErrors = new ConcurrentLinkedQueue<>();
        long[][] lat = new long[clients][];
        int[] done = new int[clients];
        MicroBatcher.Stats before = server.stats();
        long start = System.nanoTime();
        long deadline = start + (long) (seconds * 1e9);
        CountDownLatch finished = new CountDownLatch(clients);
        AtomicLong next = new AtomicLong();
        for (int c = 0; c < clients; c++) {
            int me = c;
            lat[me] = new long[requests];
            Thread t = new Thread(
                    () -> {
                        try {
                            while (System.nanoTime() < deadline && tickets.getAndDecrement() > 0) {
                                PromptResponse pr = texts.get((int) (next.getAndIncrement() % texts.size()));
                                String body = JSON.createObjectNode()
                                        .put("prompt", pr.prompt())
                                        .put("response", pr.response())
                                        .toString();
                                HttpRequest req = HttpRequest.newBuilder(uri)
                                        .timeout(timeout)
                                        .header("Content-Type", "application/json")
                                        .POST(HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8))
                                        .build();
                                long t0 = System.nanoTime();
                                try {
                                    HttpResponse<String> r = http.send(req, HttpResponse.BodyHandlers.ofString());
                                    long dt = System.nanoTime() - t0;
                                    if (r.statusCode() != 200
                                            || !JSON.readTree(r.body()).has("cost")) {
                                        errors.incrementAndGet();
                                        if (firstErrors.isEmpty()) firstErrors.add(r.statusCode() + " " + r.body());
                                    } else {
                                        lat[me][done[me]++] = dt;
                                    }
                                } catch (IOException e) {
                                    errors.incrementAndGet();
                                    if (firstErrors.isEmpty()) firstErrors.add(e.toString());
                                }
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        } finally {
                            finished.countDown();
                        }
                    },
                    "load-client-" + c);
            t.setDaemon(true);
            t.start();
        }
        finished.await();
        double secs = (System.nanoTime() - start) / 1e9;
        MicroBatcher.Stats after = server.stats();
        int n = 0;
        for (int d : done) n += d;
        long[] all = new long[n];
        int k = 0;
        for (int c = 0; c < clients; c++) {
            System.arraycopy(lat[c], 0, all, k, done[c]);
            k += done[c];
        }
        Arrays.sort(all);
        long batches = after.batches() - before.batches();
        double meanBatch = batches == 0 ? 0 : (double) (after.pairs() - before.pairs()) / batches;
        return new Level(
                clients,
                n,
                secs,
                n / secs,
                pct(all, 0.50),
                pct(all, 0.99),
                n == 0 ? 0 : all[n - 1] / 1e6,
                meanBatch,
                batches,
                errors.get(),
                firstErrors.peek());
    }

    /** Nearest-rank percentile, in milliseconds. */
    static double pct(long[] sorted, double q) {
        if (sorted.length == 0) return Double.NaN;
        int i = (int) Math.ceil(q * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, i))] / 1e6;
    }

    /** The service alone: a cost from text lengths, no model. */
    private static float[] noModel(List<PromptResponse> batch) {
        float[] out = new float[batch.size()];
        for (int i = 0; i < out.length; i++)
            out[i] = (batch.get(i).response().length() - batch.get(i).prompt().length()) / 100f;
        return out;
    }

    /** Up to {@code max} prompt/response pairs from shared/data/beavertails_qa.jsonl, in file order. */
    static List<PromptResponse> texts(int max) throws IOException {
        List<PromptResponse> out = new ArrayList<>();
        try (BufferedReader r =
                Files.newBufferedReader(SharedData.resolve("data/beavertails_qa.jsonl"), StandardCharsets.UTF_8)) {
            String line;
            while (out.size() < max && (line = r.readLine()) != null) {
                if (line.isBlank()) continue;
                JsonNode n = JSON.readTree(line);
                out.add(new PromptResponse(
                        n.get("prompt").asText(), n.get("response").asText()));
            }
        }
        return out;
    }
}
