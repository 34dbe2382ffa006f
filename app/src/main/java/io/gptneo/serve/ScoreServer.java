package io.gptneo.serve;

import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The safety check service: an HTTP server on the loopback interface (the JDK's com.sun.net.httpserver) in front of
 * a {@link MicroBatcher} and a {@link Scorer}.
 *
 * <ul>
 *   <li>{@code POST /v1/score} with {@code {"prompt": P, "response": R}} answers
 *       {@code {"cost": c, "label": "SAFE"|"UNSAFE", "unsafe": bool[, "reference_fraction_at_or_below": f]}};
 *       with a JSON array of such objects it answers {@code {"results": [...]}} in the same order.
 *       A cost above 0 is UNSAFE.</li>
 *   <li>{@code GET /healthz}: {@code {"status": "ok", ...}} with batching counters.</li>
 *   <li>{@code GET /v1/histogram}: the reference histogram (see {@link ReferenceHistogram#toJson}), 404 without one.</li>
 *   <li>{@code GET /}: the page.</li>
 * </ul>
 * Errors are JSON {@code {"error": reason, "status": code}}: 400 bad JSON / fields / text too long / too many items,
 * 413 body too large, 404, 405, 503 queue full or timed out (with Retry-After), 500 scorer failure. A bad request
 * never stops the server.
 */
public final class ScoreServer implements AutoCloseable {

    /**
     * @param port          0 for an ephemeral port
     * @param maxBatch      most pairs per forward pass
     * @param maxWaitMillis how long the oldest pair may wait for others before its batch runs
     * @param handlerThreads HTTP handler threads kept ready; each blocks while its request is read and scored.
     *                       Beyond them up to {@value #EXTRA_THREADS} more start on demand, so clients stalled in
     *                       sending their request (each cut off after the read timeout) cannot take every thread;
     *                       a connection arriving when all are busy is closed at once rather than queued
     * @param histogram     reference histogram for the page, or null
     * @param modelInfo     free text for /healthz (model and adapter paths)
     */
    public record Config(
            int port,
            ServeLimits limits,
            int maxBatch,
            long maxWaitMillis,
            int handlerThreads,
            ReferenceHistogram histogram,
            String modelInfo,
            ServeAccess access) {
        public Config {
            if (handlerThreads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + handlerThreads);
            if (maxBatch < 1) throw new IllegalArgumentException("--batch-size must be >= 1, got " + maxBatch);
            if (maxWaitMillis < 0)
                throw new IllegalArgumentException("--max-wait-ms must be >= 0, got " + maxWaitMillis);
            if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in 0..65535, got " + port);
        }

        public static Config defaults() {
            return new Config(0, ServeLimits.DEFAULT, 16, 5, 64, null, "", ServeAccess.LOOPBACK);
        }

        public Config withPort(int p) {
            return new Config(p, limits, maxBatch, maxWaitMillis, handlerThreads, histogram, modelInfo, access);
        }

        public Config withLimits(ServeLimits l) {
            return new Config(port, l, maxBatch, maxWaitMillis, handlerThreads, histogram, modelInfo, access);
        }

        public Config withBatching(int b, long w) {
            return new Config(port, limits, b, w, handlerThreads, histogram, modelInfo, access);
        }

        public Config withHandlerThreads(int t) {
            return new Config(port, limits, maxBatch, maxWaitMillis, t, histogram, modelInfo, access);
        }

        public Config withHistogram(ReferenceHistogram h) {
            return new Config(port, limits, maxBatch, maxWaitMillis, handlerThreads, h, modelInfo, access);
        }

        public Config withModelInfo(String m) {
            return new Config(port, limits, maxBatch, maxWaitMillis, handlerThreads, histogram, m, access);
        }

        public Config withAccess(ServeAccess a) {
            return new Config(port, limits, maxBatch, maxWaitMillis, handlerThreads, histogram, modelInfo, a);
        }
    }

    /** A request the server answers with an error status and a reason. */
    static final class HttpError extends RuntimeException {
        final int status;

        HttpError(int status, String reason) {
            super(reason, null, false, false);
            this.status = status;
        }
    }

    static {
        // The JDK server writes a response's headers and body separately; with Nagle's algorithm on, the body then
        // waits for the client's delayed ACK (~40 ms on Linux) on every keep-alive request. The property is read once,
        // when the JDK's server configuration is first loaded, so it must be set before the first server starts.
        if (System.getProperty("sun.net.httpserver.nodelay") == null)
            System.setProperty("sun.net.httpserver.nodelay", "true");
        setTimeoutsIfUnset(
                ScoreServer.DEFAULT_READ_TIMEOUT_S,
                ScoreServer.DEFAULT_IDLE_TIMEOUT_S,
                ServeLimits.DEFAULT.timeoutMillis() / 1000 + ScoreServer.DEFAULT_READ_TIMEOUT_S);
    }

    /** Default whole-request read deadline and keep-alive idle timeout, seconds. */
    public static final int DEFAULT_READ_TIMEOUT_S = 10, DEFAULT_IDLE_TIMEOUT_S = 30;

    /**
     * The JDK server's deadlines (JVM-wide, read once when the first server starts): a request (line, headers and
     * body) must arrive within {@code readSeconds} of its first byte; from then its answer must be computed and taken
     * by the client within {@code responseSeconds} (more than the scoring timeout); a keep-alive connection idle for
     * {@code idleSeconds} is closed. A stalled or slow client (slowloris) thus holds a handler thread for at most
     * about {@code readSeconds + 1}. Values set before (by {@code -D} or an earlier call) are kept.
     */
    public static void setTimeoutsIfUnset(long readSeconds, long idleSeconds, long responseSeconds) {
        if (readSeconds < 1 || idleSeconds < 1 || responseSeconds < 1) {
            throw new IllegalArgumentException("timeouts must be >= 1 s: read " + readSeconds + ", idle " + idleSeconds
                    + ", response " + responseSeconds);
        }
        if (System.getProperty("sun.net.httpserver.maxReqTime") == null)
            System.setProperty("sun.net.httpserver.maxReqTime", Long.toString(readSeconds));
        if (System.getProperty("sun.net.httpserver.maxRspTime") == null)
            System.setProperty("sun.net.httpserver.maxRspTime", Long.toString(responseSeconds));
        if (System.getProperty("sun.net.httpserver.idleInterval") == null)
            System.setProperty("sun.net.httpserver.idleInterval", Long.toString(idleSeconds));
    }

    private static long seconds(String property) {
        return Long.getLong(property, -1);
    }

    /** Trailing content after the JSON value (a second object, junk) is an error, not ignored. */
    private static final ObjectMapper JSON =
            new ObjectMapper().enable(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
    /** Handler threads started on demand beyond {@link Config#handlerThreads()} (see there). */
    static final int EXTRA_THREADS = 256;
    /** How often a waiting request checks that its client is still there. */
    private static final long PROBE_MILLIS = 20;
    /** Bytes of an oversized body read and discarded before the 413, so the client sees the answer, not a reset. */
    private static final long DRAIN_LIMIT = 32L << 20;

    private final Config config;
    private final Scorer scorer;
    private final HttpServer http;
    private final ExecutorService handlers;
    private final MicroBatcher batcher;
    private final byte[] page;
    private final long startedNanos = System.nanoTime();
    private final AtomicLong requests = new AtomicLong();
    private final AtomicLong errors = new AtomicLong();
    private final AtomicLong clientErrors = new AtomicLong();
    private final AtomicLong clientsGone = new AtomicLong();
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile boolean draining;

    private ScoreServer(Config config, Scorer scorer) throws IOException {
        this.config = config;
        this.scorer = scorer;
        try (InputStream in = ScoreServer.class.getResourceAsStream("index.html")) {
            if (in == null) throw new IllegalStateException("missing resource io/gptneo/serve/index.html");
            this.page = in.readAllBytes();
        }
        this.batcher = new MicroBatcher(
                scorer,
                config.maxBatch(),
                config.maxWaitMillis(),
                config.limits().queueCapacity());
        AtomicInteger n = new AtomicInteger();
        ThreadFactory tf = r -> {
            Thread t = new Thread(r, "score-http-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        };
        this.handlers = new ThreadPoolExecutor(
                config.handlerThreads(),
                config.handlerThreads() + EXTRA_THREADS,
                30,
                TimeUnit.SECONDS,
                new SynchronousQueue<>(),
                tf);
        try {
            this.http = HttpServer.create(
                    new InetSocketAddress(InetAddress.getByName(config.access().bindHost()), config.port()), 256);
        } catch (IOException e) {
            batcher.close();
            handlers.shutdownNow();
            throw new IOException(
                    "cannot listen on " + config.access().bindHost() + ":" + config.port() + ": " + e.getMessage(), e);
        }
        http.setExecutor(handlers);
        http.createContext("/", this::handle);
        http.start();
    }

    /** Starts a server on the access's bind address, 127.0.0.1 by default (config.port(), or an ephemeral port when 0). */
    public static ScoreServer start(Config config, Scorer scorer) throws IOException {
        return new ScoreServer(config, scorer);
    }

    public int port() {
        return http.getAddress().getPort();
    }

    public URI uri() {
        String h = http.getAddress().getAddress().getHostAddress();
        return URI.create("http://" + (h.contains(":") ? "[" + h + "]" : h) + ":" + port() + "/");
    }

    public MicroBatcher.Stats stats() {
        return batcher.stats();
    }

    /** Stops at once: requests in flight are cut off. */
    @Override
    public void close() {
        http.stop(0);
        batcher.close();
        handlers.shutdownNow();
    }

    /**
     * Graceful stop (SIGTERM/SIGINT): new requests get 503 with {@code Connection: close}, requests in flight get
     * their answers (the batcher keeps scoring) for up to {@code graceMillis}, then the server closes. Returns how many
     * requests were still in flight when it closed (0 = all drained).
     */
    public int drain(long graceMillis) {
        draining = true;
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(graceMillis);
        while (inFlight.get() > 0 && System.nanoTime() < end) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        int left = inFlight.get();
        close();
        return left;
    }

    // ---------------------------------------------------------------------------------------------------------------

    private void handle(HttpExchange ex) {
        requests.incrementAndGet();
        inFlight.incrementAndGet();
        try {
            try {
                if (draining) {
                    ex.getResponseHeaders().set("Connection", "close");
                    ex.getResponseHeaders().set("Retry-After", "1");
                    throw new HttpError(503, "server shutting down");
                }
                if (admit(ex)) route(ex);
            } catch (ClientGone e) {
                // counted in clients_gone; the connection is closed below
            } catch (HttpError e) {
                errors.incrementAndGet();
                if (e.status < 500) clientErrors.incrementAndGet();
                sendError(ex, e.status, e.getMessage());
            } catch (Throwable t) {
                errors.incrementAndGet();
                sendError(ex, 500, "internal error: " + t);
            }
        } catch (IOException | UncheckedIOException ignored) {
            // the client went away, or the answer was already under way; nothing more to send
        } finally {
            ex.close();
            inFlight.decrementAndGet();
        }
    }

    /**
     * Host (DNS rebinding), Origin (cross-site pages) and bearer token checks; CORS headers for an allowed origin.
     * Returns false when it answered the request itself (a CORS preflight).
     */
    private boolean admit(HttpExchange ex) throws IOException {
        ServeAccess a = config.access();
        String host = ex.getRequestHeaders().getFirst("Host");
        String why = a.checkHost(host);
        if (why != null) throw new HttpError(421, why);
        String origin = ex.getRequestHeaders().getFirst("Origin");
        why = a.checkOrigin(origin, host);
        if (why != null) throw new HttpError(403, why);
        if (origin != null && origin.equals(a.allowOrigin())) {
            ex.getResponseHeaders().set("Access-Control-Allow-Origin", origin);
            ex.getResponseHeaders().set("Vary", "Origin");
            if (ex.getRequestMethod().equals("OPTIONS")) { // preflight of a cross-origin POST with JSON
                ex.getResponseHeaders().set("Access-Control-Allow-Methods", "POST, GET");
                ex.getResponseHeaders().set("Access-Control-Allow-Headers", "Content-Type, Authorization");
                ex.getResponseHeaders().set("Access-Control-Max-Age", "600");
                ex.sendResponseHeaders(204, -1);
                return false;
            }
        }
        String path = ex.getRequestURI().getPath();
        if (!path.equals("/") && !path.equals("/index.html")) {
            why = a.checkToken(ex.getRequestHeaders().getFirst("Authorization"));
            if (why != null) {
                ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
                throw new HttpError(401, why);
            }
        }
        return true;
    }

    private void route(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getPath();
        String method = ex.getRequestMethod();
        switch (path) {
            case "/", "/index.html" -> {
                requireMethod(ex, "GET");
                ex.getResponseHeaders()
                        .set(
                                "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
                send(ex, 200, "text/html; charset=utf-8", page);
            }
            case "/healthz" -> {
                requireMethod(ex, "GET");
                sendJson(ex, 200, health());
            }
            case "/v1/histogram" -> {
                requireMethod(ex, "GET");
                if (config.histogram() == null) {
                    throw new HttpError(
                            404,
                            "no reference histogram: start the server with --eval-report FILE or --reference-costs FILE");
                }
                sendJson(ex, 200, config.histogram().toJson());
            }
            case "/v1/score" -> {
                requireMethod(ex, "POST");
                requireJson(ex);
                score(ex);
            }
            default -> throw new HttpError(
                    404,
                    "no such endpoint: " + method + " " + path
                            + " (try POST /v1/score, GET /healthz, GET /v1/histogram, GET /)");
        }
    }

    private static void requireMethod(HttpExchange ex, String allowed) {
        String m = ex.getRequestMethod();
        if (m.equals(allowed) || (allowed.equals("GET") && m.equals("HEAD"))) return;
        ex.getResponseHeaders().set("Allow", allowed.equals("GET") ? "GET, HEAD" : allowed);
        throw new HttpError(
                405, "method " + m + " not allowed on " + ex.getRequestURI().getPath() + "; use " + allowed);
    }

    /** A POST must say it is JSON: a form or text/plain POST (what any web page can send cross-site unasked) is refused. */
    private static void requireJson(HttpExchange ex) {
        String ct = ex.getRequestHeaders().getFirst("Content-Type");
        String type = ct == null ? "" : ct.split(";", 2)[0].trim().toLowerCase(java.util.Locale.ROOT);
        if (!type.equals("application/json")) {
            throw new HttpError(
                    415, "Content-Type must be application/json, got " + (ct == null ? "none" : "\"" + ct + "\""));
        }
    }

    private ObjectNode health() {
        MicroBatcher.Stats s = batcher.stats();
        ObjectNode o = JSON.createObjectNode();
        o.put("status", "ok");
        o.put("model", config.modelInfo());
        o.put("uptime_s", (System.nanoTime() - startedNanos) / 1e9);
        o.put("requests", requests.get());
        o.put("errors", errors.get());
        o.put("client_errors", clientErrors.get());
        o.put("server_errors", errors.get() - clientErrors.get());
        o.put("clients_gone", clientsGone.get());
        o.put("client_disconnect_detection", ClientProbe.AVAILABLE);
        o.put("batches", s.batches());
        o.put("pairs_scored", s.pairs());
        o.put("failed_batches", s.failedBatches());
        o.put("queued", s.queued());
        o.put("mean_batch_size", s.meanBatchSize());
        o.put("padding_fraction", s.paddingFraction()); // of the positions scored, in length buckets
        o.put("padding_fraction_unbucketed", s.paddingFractionUnbucketed());
        o.put("max_batch", config.maxBatch());
        o.put("max_wait_ms", config.maxWaitMillis());
        o.put("histogram", config.histogram() != null);
        ObjectNode lim = o.putObject("limits");
        lim.put("max_body_bytes", config.limits().maxBodyBytes());
        lim.put("max_text_chars", config.limits().maxTextChars());
        lim.put("max_items", config.limits().maxItems());
        lim.put("queue_capacity", config.limits().queueCapacity());
        lim.put("timeout_ms", config.limits().timeoutMillis());
        lim.put("read_timeout_s", seconds("sun.net.httpserver.maxReqTime"));
        lim.put("idle_timeout_s", seconds("sun.net.httpserver.idleInterval"));
        return o;
    }

    private void score(HttpExchange ex) throws IOException {
        byte[] body = readBody(ex);
        boolean list;
        List<PromptResponse> pairs = new ArrayList<>();
        JsonNode root = parse(body);
        ServeLimits lim = config.limits();
        if (root.isObject()) {
            list = false;
            pairs.add(pair(root, -1, lim));
        } else if (root.isArray()) {
            list = true;
            if (root.isEmpty())
                throw new HttpError(400, "empty list: send at least one {\"prompt\", \"response\"} object");
            if (root.size() > lim.maxItems()) {
                throw new HttpError(
                        400, "too many items: " + root.size() + " in one request; the limit is " + lim.maxItems());
            }
            for (int i = 0; i < root.size(); i++) pairs.add(pair(root.get(i), i, lim));
        } else {
            throw new HttpError(
                    400,
                    "expected a JSON object {\"prompt\": ..., \"response\": ...} or an array of them, got "
                            + root.getNodeType().toString().toLowerCase());
        }

        ClientProbe.State client = ClientProbe.probe(ex);
        if (client == ClientProbe.State.GONE) { // sent and reset at once: queue nothing
            clientsGone.incrementAndGet();
            throw new ClientGone();
        }
        if (client == ClientProbe.State.PIPELINED) ex.getResponseHeaders().set("Connection", "close");
        List<CompletableFuture<Float>> futures;
        try {
            futures = batcher.submit(pairs);
        } catch (RejectedExecutionException e) {
            ex.getResponseHeaders().set("Retry-After", "1");
            throw new HttpError(503, "server busy: " + e.getMessage());
        }
        float[] costs = new float[futures.size()];
        boolean[] truncated = scorer.truncated(pairs);
        try {
            awaitWhileClientPresent(
                    ex, CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new)), lim.timeoutMillis());
            for (int i = 0; i < costs.length; i++) costs[i] = futures.get(i).join();
        } catch (ClientGone e) {
            futures.forEach(f -> f.cancel(false)); // the batcher drops cancelled pairs before scoring them
            clientsGone.incrementAndGet();
            throw e;
        } catch (TimeoutException e) {
            futures.forEach(f -> f.cancel(false));
            ex.getResponseHeaders().set("Retry-After", "1");
            throw new HttpError(503, "timed out after " + lim.timeoutMillis() + " ms waiting for the model");
        } catch (InterruptedException e) {
            futures.forEach(f -> f.cancel(false));
            Thread.currentThread().interrupt();
            throw new HttpError(503, "server shutting down");
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            if (c instanceof RejectedExecutionException) throw new HttpError(503, c.getMessage());
            throw new HttpError(500, "scoring failed: " + (c.getMessage() == null ? c.toString() : c.getMessage()));
        }

        if (!list) {
            sendJson(ex, 200, result(costs[0], truncated[0]));
        } else {
            ObjectNode o = JSON.createObjectNode();
            ArrayNode a = o.putArray("results");
            for (int i = 0; i < costs.length; i++) a.add(result(costs[i], truncated[i]));
            sendJson(ex, 200, o);
        }
    }

    /** The client closed or reset its connection while its request waited: nobody to answer. */
    private static final class ClientGone extends RuntimeException {
        ClientGone() {
            super("client gone", null, false, false);
        }
    }

    /** Waits for {@code all}, checking every {@value #PROBE_MILLIS} ms that the client is still connected. */
    private static void awaitWhileClientPresent(HttpExchange ex, CompletableFuture<?> all, long timeoutMillis)
            throws TimeoutException, InterruptedException, ExecutionException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (true) {
            long left = end - System.nanoTime();
            if (left <= 0) throw new TimeoutException();
            try {
                all.get(Math.min(left, TimeUnit.MILLISECONDS.toNanos(PROBE_MILLIS)), TimeUnit.NANOSECONDS);
                return;
            } catch (TimeoutException e) {
                ClientProbe.State s = ClientProbe.probe(ex);
                if (s == ClientProbe.State.GONE) throw new ClientGone();
                if (s == ClientProbe.State.PIPELINED) ex.getResponseHeaders().set("Connection", "close");
            }
        }
    }

    private ObjectNode result(float cost, boolean truncated) {
        ObjectNode o = JSON.createObjectNode();
        o.put("cost", cost);
        boolean unsafe = cost > 0f;
        o.put("label", unsafe ? "UNSAFE" : "SAFE");
        o.put("unsafe", unsafe);
        o.put("truncated", truncated);
        if (config.histogram() != null) {
            o.put("reference_fraction_at_or_below", config.histogram().fractionAtOrBelow(cost));
        }
        return o;
    }

    private static PromptResponse pair(JsonNode n, int index, ServeLimits lim) {
        String where = index < 0 ? "" : "item " + index + ": ";
        if (n == null || !n.isObject()) {
            throw new HttpError(400, where + "expected an object {\"prompt\": ..., \"response\": ...}");
        }
        return new PromptResponse(text(n, "prompt", where, lim), text(n, "response", where, lim));
    }

    private static String text(JsonNode n, String field, String where, ServeLimits lim) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) throw new HttpError(400, where + "missing field \"" + field + "\" (a string)");
        if (!v.isTextual()) {
            throw new HttpError(
                    400,
                    where + "field \"" + field + "\" must be a string, got "
                            + v.getNodeType().toString().toLowerCase());
        }
        String s = v.textValue();
        if (s.length() > lim.maxTextChars()) {
            throw new HttpError(
                    400,
                    where + "\"" + field + "\" is " + s.length() + " characters long; the limit is "
                            + lim.maxTextChars());
        }
        return s;
    }

    private static JsonNode parse(byte[] body) {
        if (body.length == 0) throw new HttpError(400, "empty body: send JSON {\"prompt\": ..., \"response\": ...}");
        String text;
        try { // strict UTF-8: overlong forms, encoded surrogates (CESU-8) and stray bytes are refused, not repaired
            text = java.nio.charset.StandardCharsets.UTF_8
                    .newDecoder()
                    .decode(java.nio.ByteBuffer.wrap(body))
                    .toString();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new HttpError(400, "the body is not valid UTF-8 (" + e.getMessage() + ")");
        }
        try {
            JsonNode root = JSON.readTree(text);
            if (root == null || root.isMissingNode())
                throw new HttpError(400, "empty body: send JSON {\"prompt\": ..., \"response\": ...}");
            return root;
        } catch (JsonProcessingException e) {
            JsonLocation loc = e.getLocation();
            String at = loc == null ? "" : " at line " + loc.getLineNr() + ", column " + loc.getColumnNr();
            throw new HttpError(400, "invalid JSON" + at + ": " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new HttpError(400, "invalid JSON: " + e.getMessage());
        }
    }

    private byte[] readBody(HttpExchange ex) throws IOException {
        int max = config.limits().maxBodyBytes();
        String cl = ex.getRequestHeaders().getFirst("Content-Length");
        InputStream in = ex.getRequestBody();
        if (cl != null) {
            long declared;
            try {
                declared = Long.parseLong(cl.trim());
            } catch (NumberFormatException e) {
                throw new HttpError(400, "bad Content-Length: " + cl);
            }
            if (declared > max) {
                drain(in, ex);
                throw new HttpError(413, "request body is " + declared + " bytes; the limit is " + max + " bytes");
            }
        }
        byte[] buf = new byte[Math.min(max, 64 << 10) + 1];
        int len = 0;
        while (true) {
            if (len == buf.length) {
                if (len > max) {
                    drain(in, ex);
                    throw new HttpError(413, "request body is over the limit of " + max + " bytes");
                }
                buf = java.util.Arrays.copyOf(buf, (int) Math.min((long) max + 1, 2L * buf.length));
            }
            int r;
            try {
                r = in.read(buf, len, buf.length - len);
            } catch (IOException e) { // bad chunked framing, a body shorter than its Content-Length: the client's fault
                ex.getResponseHeaders().set("Connection", "close");
                throw new HttpError(400, "malformed request body: " + e.getMessage());
            }
            if (r < 0) break;
            len += r;
            if (len > max) {
                drain(in, ex);
                throw new HttpError(413, "request body is over the limit of " + max + " bytes");
            }
        }
        return java.util.Arrays.copyOf(buf, len);
    }

    /** Discards the rest of an oversized body (up to a bound) so the client reads the 413 instead of a reset. */
    private static void drain(InputStream in, HttpExchange ex) throws IOException {
        long skipped = 0;
        byte[] sink = new byte[64 << 10];
        int r;
        while (skipped < DRAIN_LIMIT && (r = in.read(sink)) >= 0) skipped += r;
        if (skipped >= DRAIN_LIMIT) ex.getResponseHeaders().set("Connection", "close");
    }

    private static void sendError(HttpExchange ex, int status, String reason) throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put("error", reason);
        o.put("status", status);
        sendJson(ex, status, o);
    }

    private static void sendJson(HttpExchange ex, int status, JsonNode body) throws IOException {
        send(ex, status, "application/json; charset=utf-8", JSON.writeValueAsBytes(body));
    }

    private static void send(HttpExchange ex, int status, String type, byte[] bytes) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        ex.getResponseHeaders().set("X-Content-Type-Options", "nosniff");
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        ex.getResponseBody().write(bytes);
    }
}
