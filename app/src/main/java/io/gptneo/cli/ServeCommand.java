package io.gptneo.cli;

import io.gptneo.Scorer;
import io.gptneo.serve.ReferenceHistogram;
import io.gptneo.serve.ScoreServer;
import io.gptneo.serve.ServeAccess;
import io.gptneo.serve.ServeLimits;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code ./gptneo serve --model DIR|HUB_ID --adapter DIR [--port 8080]}: the safety check service on 127.0.0.1
 * (POST /v1/score, GET /healthz, GET /v1/histogram, GET / the page) until interrupted.
 */
@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        description = {
            "Serves the cost model over HTTP on 127.0.0.1 until interrupted (Ctrl-C):",
            "  POST /v1/score  {\"prompt\": P, \"response\": R} or a JSON array of them -> cost, label (cost > 0 = UNSAFE)",
            "  GET  /healthz   status and batching counters",
            "  GET  /v1/histogram  the reference histogram (with --eval-report or --reference-costs)",
            "  GET  /          a page to paste a prompt and a response and see the verdict",
            "Concurrent requests are batched: a forward pass runs when --batch-size pairs wait or the oldest has "
                    + "waited --max-wait-ms, whichever comes first. Model flags are those of classify and eval."
        })
public final class ServeCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    /** --model, --adapter, --max-length, --batch-size: the same loading path as classify and eval. */
    @Mixin
    ScorerOptions scorer;

    @Option(
            names = "--port",
            defaultValue = "8080",
            description = "TCP port (0 = any free port). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(
            names = "--host",
            defaultValue = "127.0.0.1",
            paramLabel = "ADDRESS",
            description =
                    "Address to listen on. Default: ${DEFAULT-VALUE} (this machine only). Anything else lets other machines "
                            + "reach the model: give --token-file too.")
    String host;

    @Option(
            names = "--allow-host",
            paramLabel = "NAME",
            split = ",",
            description =
                    "Extra Host header names accepted (besides the bind address, localhost, 127.0.0.1, [::1]); others get 421 (DNS rebinding).")
    java.util.List<String> allowHosts = new java.util.ArrayList<>();

    @Option(
            names = "--allow-origin",
            paramLabel = "ORIGIN",
            description =
                    "One browser origin (e.g. https://tool.example) allowed to call the service from its pages (CORS). Default: none.")
    String allowOrigin;

    @Option(
            names = "--token-file",
            paramLabel = "FILE",
            description =
                    "File whose first line is a bearer token that every request except the page must send (Authorization: Bearer TOKEN).")
    Path tokenFile;

    @Option(
            names = "--read-timeout-s",
            defaultValue = "10",
            description =
                    "A request (headers and body) must arrive within this many seconds; slower clients are disconnected. Default: ${DEFAULT-VALUE}.")
    int readTimeoutS;

    @Option(
            names = "--idle-timeout-s",
            defaultValue = "30",
            description = "Idle keep-alive connections are closed after this many seconds. Default: ${DEFAULT-VALUE}.")
    int idleTimeoutS;

    @Option(
            names = "--timeout-ms",
            defaultValue = "60000",
            description = "Longest a request waits for its scores (503 after). Default: ${DEFAULT-VALUE}.")
    long timeoutMs;

    @Option(
            names = "--queue-capacity",
            defaultValue = "4096",
            description = "Most pairs waiting for the model (503 + Retry-After beyond). Default: ${DEFAULT-VALUE}.")
    int queueCapacity;

    @Option(
            names = "--drain-s",
            defaultValue = "30",
            description =
                    "On Ctrl-C/SIGTERM: stop taking requests, let those in flight finish for up to this many seconds, then exit. Default: ${DEFAULT-VALUE}.")
    int drainS;

    @Option(
            names = "--max-wait-ms",
            defaultValue = "5",
            description = "Longest a pair waits for others before its batch runs. Default: ${DEFAULT-VALUE}.")
    long maxWaitMs;

    @Option(
            names = "--max-body-bytes",
            defaultValue = "1048576",
            description = "Largest request body (413 above). Default: ${DEFAULT-VALUE}.")
    int maxBodyBytes;

    @Option(
            names = "--max-text-chars",
            defaultValue = "20000",
            description = "Longest prompt or response (400 above). Default: ${DEFAULT-VALUE}.")
    int maxTextChars;

    @Option(
            names = "--max-items",
            defaultValue = "64",
            description = "Most pairs in one request (400 above). Default: ${DEFAULT-VALUE}.")
    int maxItems;

    @Option(
            names = "--threads",
            defaultValue = "64",
            description = "HTTP handler threads (requests in flight at once). Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(
            names = "--eval-report",
            paramLabel = "FILE",
            description = "report.json of ./gptneo eval; its \"histogram\" (edges + counts) is drawn on the page.")
    Path evalReport;

    @Option(
            names = "--reference-costs",
            paramLabel = "FILE",
            description =
                    "JSON Lines of {\"cost\": x, \"is_safe\": b} (e.g. costs of the test split); binned and drawn on the page.")
    Path referenceCosts;

    @Option(
            names = "--bins",
            defaultValue = "40",
            description = "Bins of the histogram made from --reference-costs. Default: ${DEFAULT-VALUE}.")
    int bins;

    @Override
    public Integer call() throws Exception {
        ScoreServer server = start();
        PrintWriter out = spec.commandLine().getOut();
        out.println("serving on " + server.uri() + "  (POST /v1/score, GET /healthz, GET /; Ctrl-C stops)");
        out.flush();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime()
                .addShutdownHook(new Thread(
                        () -> {
                            System.err.println(
                                    "serve: stopping; finishing requests in flight (at most " + drainS + " s) ...");
                            int cut = server.drain(drainS * 1000L);
                            System.err.println(
                                    cut == 0
                                            ? "serve: all requests answered; stopped"
                                            : "serve: stopped with " + cut + " request(s) unanswered");
                            stopped.countDown();
                        },
                        "serve-shutdown"));
        stopped.await();
        return 0;
    }

    /** Loads the histogram and the model, and starts the server; the caller closes it. */
    public ScoreServer start() throws Exception {
        if (evalReport != null && referenceCosts != null) {
            throw new IllegalArgumentException("give --eval-report or --reference-costs, not both");
        }
        ReferenceHistogram histogram = null;
        if (evalReport != null)
            histogram = ReferenceHistogram.fromEvalReport(existing(evalReport, "--eval-report"), bins);
        if (referenceCosts != null)
            histogram = ReferenceHistogram.fromCostsJsonl(existing(referenceCosts, "--reference-costs"), bins);
        ServeLimits limits = new ServeLimits(maxBodyBytes, maxTextChars, maxItems, queueCapacity, timeoutMs);
        ServeAccess access =
                new ServeAccess(host, allowHosts, allowOrigin, tokenFile == null ? null : token(tokenFile));
        ScoreServer.Config cfg = new ScoreServer.Config(
                port,
                limits,
                scorer.batchSize,
                maxWaitMs,
                threads,
                histogram,
                scorer.describe(),
                access); // checks the numbers first
        ScoreServer.setTimeoutsIfUnset(readTimeoutS, idleTimeoutS, (timeoutMs + 999) / 1000 + readTimeoutS);
        if (!access.loopback()) {
            System.err.println(
                    "serve: WARNING: listening on " + host + ", not loopback: other machines can reach the model"
                            + (tokenFile == null
                                    ? " and NOTHING checks who they are (give --token-file FILE)"
                                    : "; requests need the bearer token of " + tokenFile));
        }
        if (scorer.adapter != null) existing(scorer.adapter, "--adapter");
        Scorer model = scorer.load();
        return ScoreServer.start(cfg, model);
    }

    private static String token(Path file) throws java.io.IOException {
        existing(file, "--token-file");
        String t = Files.readAllLines(file).stream().findFirst().orElse("").trim();
        if (t.isEmpty())
            throw new IllegalArgumentException("--token-file " + file + ": the first line (the token) is empty");
        return t;
    }

    private static Path existing(Path p, String flag) {
        if (!Files.exists(p)) throw new IllegalArgumentException(flag + ": not found: " + p);
        return p;
    }
}
