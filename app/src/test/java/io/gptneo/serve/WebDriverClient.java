package io.gptneo.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * The few W3C WebDriver commands the page test needs, spoken to a chromedriver it starts on a free loopback port.
 * No Selenium: HTTP + JSON only.
 */
final class WebDriverClient implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String ELEMENT_KEY = "element-6066-11e4-a52e-4f735466cecf"; // fixed by the W3C spec

    private final Process driver;
    private final URI base;
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Path profile;
    private String session;

    WebDriverClient(Path chromedriver, Path chromium, Path logFile) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Files.createDirectories(logFile.getParent());
        driver = new ProcessBuilder(chromedriver.toString(), "--port=" + port)
                .redirectErrorStream(true)
                .redirectOutput(logFile.toFile())
                .start();
        base = URI.create("http://127.0.0.1:" + port + "/");
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            try {
                JsonNode st = call("GET", "status", null);
                if (st.path("ready").asBoolean()) break;
            } catch (IOException notYet) {
                // not listening yet
            }
            if (!driver.isAlive())
                throw new IllegalStateException("chromedriver exited with " + driver.exitValue() + "; see " + logFile);
            if (System.nanoTime() > deadline)
                throw new IllegalStateException("chromedriver not ready after 30 s; see " + logFile);
            Thread.sleep(100);
        }
        profile = Files.createTempDirectory("serve-chromium-profile");
        ObjectNode caps = JSON.createObjectNode();
        ObjectNode always = caps.putObject("capabilities").putObject("alwaysMatch");
        always.put("browserName", "chrome");
        ObjectNode opts = always.putObject("goog:chromeOptions");
        opts.put("binary", chromium.toString());
        ArrayNode args = opts.putArray("args");
        for (String a : List.of(
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--window-size=1000,1000",
                "--user-data-dir=" + profile)) {
            args.add(a);
        }
        try {
            session = call("POST", "session", caps).get("sessionId").asText();
        } catch (Exception e) {
            close();
            throw e;
        }
    }

    private JsonNode call(String method, String path, JsonNode body) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(base.resolve(path))
                .timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json; charset=utf-8");
        b.method(
                method,
                body == null
                        ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
        HttpResponse<String> r = http.send(b.build(), HttpResponse.BodyHandlers.ofString());
        JsonNode j = JSON.readTree(r.body());
        if (r.statusCode() != 200) {
            JsonNode v = j.path("value");
            throw new IllegalStateException("WebDriver " + method + " " + path + " -> " + r.statusCode() + ": "
                    + v.path("error").asText() + ": " + v.path("message").asText());
        }
        return j.get("value");
    }

    private String s(String rest) {
        return "session/" + session + "/" + rest;
    }

    void open(URI url) throws Exception {
        call("POST", s("url"), JSON.createObjectNode().put("url", url.toString()));
    }

    String find(String css) throws Exception {
        JsonNode v = call(
                "POST",
                s("element"),
                JSON.createObjectNode().put("using", "css selector").put("value", css));
        if (v == null || !v.has(ELEMENT_KEY))
            throw new IllegalStateException("find " + css + ": unexpected reply " + v);
        return v.get(ELEMENT_KEY).asText();
    }

    List<String> findAll(String css) throws Exception {
        List<String> ids = new ArrayList<>();
        for (JsonNode n : call(
                "POST",
                s("elements"),
                JSON.createObjectNode().put("using", "css selector").put("value", css))) {
            ids.add(n.get(ELEMENT_KEY).asText());
        }
        return ids;
    }

    void type(String element, String text) throws Exception {
        call("POST", s("element/" + element + "/value"), JSON.createObjectNode().put("text", text));
    }

    void clear(String element) throws Exception {
        call("POST", s("element/" + element + "/clear"), JSON.createObjectNode());
    }

    void click(String element) throws Exception {
        call("POST", s("element/" + element + "/click"), JSON.createObjectNode());
    }

    String text(String element) throws Exception {
        return call("GET", s("element/" + element + "/text"), null).asText();
    }

    String attribute(String element, String name) throws Exception {
        JsonNode v = call("GET", s("element/" + element + "/attribute/" + name), null);
        return v == null || v.isNull() ? null : v.asText();
    }

    /** Polls the element's visible text until it satisfies the condition; returns it. */
    String waitForText(String css, java.util.function.Predicate<String> ok, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = null;
        while (System.nanoTime() < deadline) {
            last = text(find(css));
            if (ok.test(last)) return last;
            Thread.sleep(50);
        }
        throw new AssertionError("text of " + css + " never became as expected; last: \"" + last + "\"");
    }

    void screenshot(Path png) throws Exception {
        Files.createDirectories(png.getParent());
        Files.write(
                png,
                Base64.getDecoder().decode(call("GET", s("screenshot"), null).asText()));
    }

    @Override
    public void close() {
        try {
            if (session != null) call("DELETE", "session/" + session, null);
        } catch (Exception ignored) {
            // the driver is going away anyway
        }
        driver.destroy();
        try {
            if (!driver.waitFor(5, java.util.concurrent.TimeUnit.SECONDS)) driver.destroyForcibly();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (profile != null) {
            try (var walk = Files.walk(profile)) {
                walk.sorted(java.util.Comparator.reverseOrder())
                        .forEach(p -> p.toFile().delete());
            } catch (IOException ignored) {
                // a temp folder left behind is harmless
            }
        }
    }
}
