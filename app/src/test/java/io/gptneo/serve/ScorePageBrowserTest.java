package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The page in a real headless Chromium, driven over the W3C WebDriver protocol: type a prompt and a response, click,
 * read the verdict, the cost and the histogram marker; screenshots go to {@code target/serve-browser/}.
 * Skipped (with the reason) when Chromium or chromedriver is absent; {@code app/src/test/browser/run.sh}
 * installs both and runs it. Paths: -Dchromium=..., -Dchromedriver=... (defaults /usr/bin/chromium, /usr/bin/chromedriver).
 */
class ScorePageBrowserTest {
    static final Path CHROMIUM = Path.of(System.getProperty("chromium", "/usr/bin/chromium"));
    static final Path CHROMEDRIVER = Path.of(System.getProperty("chromedriver", "/usr/bin/chromedriver"));
    static final Path OUT = Path.of("target", "serve-browser");

    static ScoreServer server;
    static WebDriverClient browser;

    @BeforeAll
    static void start() throws Exception {
        assumeTrue(
                Files.isExecutable(CHROMIUM),
                "no Chromium at " + CHROMIUM
                        + " (apt-get install chromium chromium-driver, or run app/src/test/browser/run.sh)");
        assumeTrue(
                Files.isExecutable(CHROMEDRIVER),
                "no chromedriver at " + CHROMEDRIVER
                        + " (apt-get install chromium-driver, or run app/src/test/browser/run.sh)");
        // A reference set with the shape of an evaluation split: safe costs around -2, unsafe around +2.
        Random rnd = new Random(7);
        double[] costs = new double[400];
        Boolean[] safe = new Boolean[400];
        for (int i = 0; i < costs.length; i++) {
            safe[i] = i % 2 == 0;
            costs[i] = (safe[i] ? -2 : 2) + 1.1 * rnd.nextGaussian();
        }
        ReferenceHistogram h = ReferenceHistogram.fromCosts(costs, safe, 40, "reference-costs.jsonl");
        server = ScoreServer.start(ScoreServer.Config.defaults().withHistogram(h), new FakeScorer(0));
        browser = new WebDriverClient(CHROMEDRIVER, CHROMIUM, OUT.resolve("chromedriver.log"));
    }

    @AfterAll
    static void stop() {
        if (browser != null) browser.close();
        if (server != null) server.close();
    }

    private String check(String prompt, String response) throws Exception {
        String p = browser.find("#prompt"), r = browser.find("#response");
        browser.clear(p);
        browser.clear(r);
        browser.type(p, prompt);
        browser.type(r, response);
        String before = browser.text(browser.find("#cost"));
        browser.click(browser.find("#check"));
        // the cost text changes when the answer has been drawn (or the error line fills)
        long deadline = System.nanoTime() + Duration.ofSeconds(15).toNanos();
        while (System.nanoTime() < deadline) {
            if (!browser.text(browser.find("#error")).isEmpty()) return "ERROR";
            String now = browser.text(browser.find("#cost"));
            if (!now.isEmpty() && !now.equals(before)) return browser.text(browser.find("#verdict"));
            Thread.sleep(50);
        }
        throw new AssertionError("the page showed no verdict within 15 s");
    }

    @Test
    void typesAConversationClicksAndReadsTheVerdict() throws Exception {
        browser.open(server.uri());
        assertEquals("Safety check", browser.waitForText("h1", t -> !t.isEmpty(), Duration.ofSeconds(10)));

        String prompt = "How do I pick a lock?";
        String response = "Sure: here is how to open a lock that is not yours.";
        assertEquals("UNSAFE", check(prompt, response));
        float expected = FakeScorer.expected(prompt, response);
        assertEquals(String.format("cost %.4f", expected), browser.text(browser.find("#cost")));
        assertEquals("UNSAFE", browser.attribute(browser.find("#verdict"), "class"));
        String where = browser.text(browser.find("#where"));
        assertTrue(where.matches("\\d+\\.\\d% of the 400 reference costs are at or below this one\\."), where);
        assertFalse(browser.findAll("#histogram svg rect").isEmpty(), "the histogram bars are drawn");
        assertEquals(1, browser.findAll("#marker").size(), "the cost is marked on the histogram");
        browser.screenshot(OUT.resolve("unsafe.png"));

        assertEquals("SAFE", check("Can you tell me a long story about a friendly dragon?", "Sure, once upon a time."));
        assertTrue(browser.text(browser.find("#cost")).startsWith("cost -"));
        assertEquals(1, browser.findAll("#marker").size(), "redrawn, not stacked");
        browser.screenshot(OUT.resolve("safe.png"));

        // a cost beyond the reference range is pinned to the edge and said to be outside
        assertEquals("UNSAFE", check("Hi", "x".repeat(120)));
        assertTrue(browser.text(browser.find("#histogram")).contains("(above range)"));
        assertTrue(browser.text(browser.find("#where")).startsWith("100.0% of the 400"));

        assertEquals("ERROR", check("p", "boom"));
        assertTrue(browser.text(browser.find("#error")).startsWith("Error 500: scoring failed"));
        browser.screenshot(OUT.resolve("error.png"));
        assertTrue(Files.size(OUT.resolve("unsafe.png")) > 1000);
    }
}
