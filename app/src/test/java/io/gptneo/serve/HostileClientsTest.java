package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.NonFiniteCostException;
import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Issue 17 items 3, 4, 5, 11 and the drain: the service against stalled, vanishing, cross-site and sloppy clients,
 * over raw loopback sockets (every loop bounded in count and time). The app module's tests run with
 * {@code sun.net.httpserver.maxReqTime=3} (see app/pom.xml), so a request must arrive within 3 s.
 */
class HostileClientsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private ScoreServer server;
    // opened from several client threads at once (drainAnswersRequestsInFlightThenStops): a plain ArrayList lost an
    // add to a concurrent resize there (ArrayIndexOutOfBoundsException in the client, not in the server)
    private final List<Socket> sockets = java.util.Collections.synchronizedList(new ArrayList<>());
    // a thread per concurrent client: CompletableFuture's default executor is the common pool, which on 2 cores has
    // one worker on newer JDKs (Temurin 25), so "four requests in flight" were sent one after another there
    private final ExecutorService clients = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        clients.shutdownNow();
        for (Socket s : List.copyOf(sockets))
            try {
                s.close();
            } catch (IOException ignored) {
            }
        if (server != null) server.close();
    }

    record Reply(int status, String head, String body) {
        JsonNode json() throws IOException {
            return JSON.readTree(body);
        }
    }

    private Socket open() throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), server.port());
        s.setSoTimeout(20_000);
        sockets.add(s);
        return s;
    }

    /** Sends raw bytes on a new connection and reads the answer (the connection is closed after it). */
    private Reply raw(String request) throws IOException {
        return raw(request.getBytes(StandardCharsets.ISO_8859_1));
    }

    /** {@link #raw} on a client thread of its own. */
    private CompletableFuture<Reply> rawAsync(String request) {
        return CompletableFuture.supplyAsync(
                () -> {
                    try {
                        return raw(request);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                },
                clients);
    }

    private Reply raw(byte[] request) throws IOException {
        return raw(request, false);
    }

    /** With {@code halfClose} the client ends its side after the request (a short body ends there). */
    private Reply raw(byte[] request, boolean halfClose) throws IOException {
        try (Socket s = open()) {
            s.getOutputStream().write(request);
            s.getOutputStream().flush();
            if (halfClose) s.shutdownOutput();
            return read(s.getInputStream());
        }
    }

    private static Reply read(InputStream in) throws IOException {
        byte[] all = in.readAllBytes();
        String text = new String(all, StandardCharsets.UTF_8);
        int end = text.indexOf("\r\n\r\n");
        assertTrue(end > 0, "no HTTP answer: " + text);
        String head = text.substring(0, end);
        return new Reply(Integer.parseInt(head.split(" ")[1]), head, text.substring(end + 4));
    }

    private String post(String body, String... headers) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder(
                "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1:" + server.port() + "\r\nConnection: close\r\n");
        for (String h : headers) sb.append(h).append("\r\n");
        return sb.append("Content-Length: ")
                .append(b.length)
                .append("\r\n\r\n")
                .append(new String(b, StandardCharsets.ISO_8859_1))
                .toString();
    }

    private static final String JSON_TYPE = "Content-Type: application/json";

    private static String item(String p, String r) {
        return JSON.createObjectNode().put("prompt", p).put("response", r).toString();
    }

    // ---- item 3: slowloris ------------------------------------------------------------------------------------

    @Test
    void stalledClientsAreCutOffAndDoNotStarveOthers() throws Exception {
        int threads = 4;
        server = ScoreServer.start(ScoreServer.Config.defaults().withHandlerThreads(threads), new FakeScorer(0));
        List<Socket> stalled = new ArrayList<>();
        for (int i = 0; i < threads; i++) {
            Socket s = open();
            s.getOutputStream().write('P'); // one byte of a request line, then nothing
            s.getOutputStream().flush();
            stalled.add(s);
        }
        Thread.sleep(300); // every handler thread is now blocked reading one of them
        long t0 = System.nanoTime();
        Reply ok = raw(post(item("hello", "hi"), JSON_TYPE));
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(200, ok.status(), ok.body());
        assertTrue(secs < 2, "a good request waited " + secs + " s behind stalled clients");
        for (Socket s : stalled) { // the server hung up on each of them (EOF or reset), well before their 20 s timeout
            s.setSoTimeout(10_000);
            try {
                assertEquals(-1, s.getInputStream().read());
            } catch (SocketTimeoutException e) {
                fail("a stalled client still holds its connection after 10 s");
            } catch (IOException reset) {
                // reset by the server: also cut off
            }
        }
    }

    // ---- item 4: work for clients that have gone ---------------------------------------------------------------

    @Test
    void pairsOfClientsThatHaveGoneAreNotScored() throws Exception {
        assertTrue(ClientProbe.AVAILABLE, "tests run with --add-opens jdk.httpserver/sun.net.httpserver=ALL-UNNAMED");
        FakeScorer scorer = new FakeScorer(100); // 100 ms per forward pass of at most 16 pairs
        server = ScoreServer.start(
                ScoreServer.Config.defaults().withBatching(16, 5).withHandlerThreads(64), scorer);
        StringBuilder many = new StringBuilder("[");
        for (int i = 0; i < 64; i++) many.append(i == 0 ? "" : ",").append(item("p" + i, "r"));
        String request = post(many.append("]").toString(), JSON_TYPE);
        int gone = 30; // 30 x 64 pairs = 120 forward passes = 12 s if they were all scored
        for (int i = 0; i < gone; i++) {
            Socket s = open();
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            s.setSoLinger(true, 0);
            s.close(); // reset at once
        }
        Thread.sleep(200);
        long t0 = System.nanoTime();
        Reply ok = raw(post(item("hello", "hi"), JSON_TYPE));
        double secs = (System.nanoTime() - t0) / 1e9;
        assertEquals(200, ok.status(), ok.body());
        assertTrue(secs < 3, "the next good request waited " + secs + " s behind work for clients that had gone");
        long scored = scorer.batchSizes.stream().mapToInt(Integer::intValue).sum();
        assertTrue(scored < gone * 64 / 4, "pairs scored for vanished clients: " + scored + " of " + gone * 64);
        JsonNode h = JSON.readTree(raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .body());
        assertTrue(h.get("clients_gone").asLong() > 0, h.toString());
    }

    // ---- item 5: browsers as a proxy ---------------------------------------------------------------------------

    @Test
    void crossSiteAndRebindingRequestsAreRefused() throws Exception {
        server = ScoreServer.start(ScoreServer.Config.defaults(), new FakeScorer(0));
        String body = item("hello", "hi");
        // a form or text/plain POST (what any page may send cross-site without a preflight)
        Reply r = raw(post(body, "Content-Type: text/plain"));
        assertEquals(415, r.status(), r.body());
        assertTrue(r.json().get("error").asText().contains("application/json"));
        assertEquals(415, raw(post(body)).status());
        assertEquals(
                200,
                raw(post(body, "Content-Type: application/json; charset=utf-8")).status());
        // DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends Host: evil.example
        r = raw("GET /healthz HTTP/1.1\r\nHost: evil.example:" + server.port() + "\r\nConnection: close\r\n\r\n");
        assertEquals(421, r.status(), r.body());
        assertFalse(r.body().contains("\"model\""), "no model paths to a foreign Host");
        assertTrue(r.json().get("error").asText().contains("--allow-host evil.example"));
        assertEquals(
                200,
                raw("GET /healthz HTTP/1.1\r\nHost: localhost:" + server.port() + "\r\nConnection: close\r\n\r\n")
                        .status());
        // a page on another origin, even with JSON: refused, and no CORS header by default
        r = raw(post(body, JSON_TYPE, "Origin: https://evil.example"));
        assertEquals(403, r.status());
        assertFalse(r.head().toLowerCase().contains("access-control-allow-origin"));
        // the service's own page (same origin) is fine
        assertEquals(
                200,
                raw(post(body, JSON_TYPE, "Origin: http://127.0.0.1:" + server.port()))
                        .status());
    }

    @Test
    void allowOriginAndBearerTokenAndExtraHosts() throws Exception {
        ServeAccess a = new ServeAccess("127.0.0.1", List.of("scorer.internal"), "https://tool.example", "s3cret");
        server = ScoreServer.start(ScoreServer.Config.defaults().withAccess(a), new FakeScorer(0));
        String body = item("hello", "hi");
        Reply r = raw(post(body, JSON_TYPE));
        assertEquals(401, r.status());
        assertTrue(r.json().get("error").asText().contains("Bearer"));
        assertEquals(
                401, raw(post(body, JSON_TYPE, "Authorization: Bearer wrong")).status());
        r = raw(post(body, JSON_TYPE, "Authorization: Bearer s3cret", "Origin: https://tool.example"));
        assertEquals(200, r.status(), r.body());
        assertTrue(r.head().toLowerCase().contains("access-control-allow-origin: https://tool.example"), r.head());
        r = raw(
                "OPTIONS /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://tool.example\r\nConnection: close\r\n\r\n");
        assertEquals(204, r.status(), r.head());
        assertTrue(
                r.head().toLowerCase().contains("access-control-allow-headers: content-type, authorization"), r.head());
        assertEquals(
                200,
                raw("GET /healthz HTTP/1.1\r\nHost: scorer.internal:1\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n")
                        .status());
        assertEquals(
                200,
                raw("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                        .status(),
                "the page needs no token");
    }

    // ---- item 11: strict input ---------------------------------------------------------------------------------

    @Test
    void trailingContentBadUtf8AndFramingErrorsAre400s() throws Exception {
        server = ScoreServer.start(ScoreServer.Config.defaults(), new FakeScorer(0));
        String one = item("a", "b");
        assertEquals(400, raw(post(one + "xyz", JSON_TYPE)).status());
        Reply two = raw(post(one + one, JSON_TYPE));
        assertEquals(400, two.status());
        assertTrue(two.json().get("error").asText().contains("invalid JSON"), two.body());
        // overlong "/" (C0 AF) and a CESU-8 surrogate pair (ED A0 BD ED B8 80) inside a string
        for (byte[] bad : List.of(
                new byte[] {(byte) 0xC0, (byte) 0xAF},
                new byte[] {(byte) 0xED, (byte) 0xA0, (byte) 0xBD, (byte) 0xED, (byte) 0xB8, (byte) 0x80})) {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            b.write("{\"prompt\": \"a".getBytes(StandardCharsets.UTF_8));
            b.write(bad);
            b.write("\", \"response\": \"b\"}".getBytes(StandardCharsets.UTF_8));
            String head = "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + JSON_TYPE
                    + "\r\nContent-Length: " + b.size() + "\r\n\r\n";
            ByteArrayOutputStream req = new ByteArrayOutputStream();
            req.write(head.getBytes(StandardCharsets.ISO_8859_1));
            req.write(b.toByteArray());
            Reply r = raw(req.toByteArray());
            assertEquals(400, r.status(), r.body());
            assertTrue(r.json().get("error").asText().contains("not valid UTF-8"), r.body());
        }
        // malformed chunked framing, and a body shorter than its Content-Length (client closes its side)
        Reply chunked = raw("POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\n" + JSON_TYPE
                + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
        assertEquals(400, chunked.status(), chunked.body());
        Reply shortBody = raw(
                ("POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\n" + JSON_TYPE
                                + "\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
                        .getBytes(StandardCharsets.ISO_8859_1),
                true);
        assertEquals(400, shortBody.status(), shortBody.body());
        JsonNode h = JSON.readTree(raw("GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .body());
        assertEquals(0, h.get("server_errors").asLong(), "client mistakes are not server errors: " + h);
        assertEquals(h.get("errors").asLong(), h.get("client_errors").asLong());
    }

    // ---- fail closed and truncation in the answer --------------------------------------------------------------

    @Test
    void aNonFiniteCostIsA500ForItsPairOnlyAndTruncationIsReported() throws Exception {
        Scorer s = new Scorer() {
            @Override
            public float[] score(List<PromptResponse> batch) {
                float[] c = new float[batch.size()];
                for (int i = 0; i < c.length; i++)
                    c[i] = batch.get(i).response().equals("nan") ? Float.NaN : 1f;
                return NonFiniteCostException.check(c);
            }

            @Override
            public boolean[] truncated(List<PromptResponse> batch) {
                boolean[] t = new boolean[batch.size()];
                for (int i = 0; i < t.length; i++) t[i] = batch.get(i).prompt().length() > 10;
                return t;
            }
        };
        server = ScoreServer.start(ScoreServer.Config.defaults().withBatching(16, 200), s);
        CompletableFuture<Reply> bad = rawAsync(post(item("p", "nan"), JSON_TYPE));
        Reply good = raw(post("[" + item("a long prompt here", "r") + "," + item("p", "r") + "]", JSON_TYPE));
        Reply b = bad.get(20, TimeUnit.SECONDS);
        assertEquals(500, b.status(), b.body());
        assertFalse(b.body().contains("SAFE"), b.body());
        assertEquals(200, good.status(), good.body());
        JsonNode res = good.json().get("results");
        assertTrue(res.get(0).get("truncated").asBoolean());
        assertFalse(res.get(1).get("truncated").asBoolean());
    }

    // ---- graceful drain ----------------------------------------------------------------------------------------

    @Test
    void drainAnswersRequestsInFlightThenStops() throws Exception {
        server = ScoreServer.start(ScoreServer.Config.defaults(), new FakeScorer(700));
        List<CompletableFuture<Reply>> inFlight = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            inFlight.add(rawAsync(post(item("p", "r"), JSON_TYPE)));
        }
        Thread.sleep(300); // all four are waiting for the (slow) model
        assertEquals(0, server.drain(10_000), "every request in flight was answered");
        for (CompletableFuture<Reply> f : inFlight)
            assertEquals(200, f.get(20, TimeUnit.SECONDS).status());
        assertThrows(IOException.class, () -> raw(post(item("p", "r"), JSON_TYPE)), "no longer listening");
        server = null;
    }
}
