package io.gptneo.cli;

import io.gptneo.serve.ReferenceHistogram;
import io.gptneo.serve.ScoreServer;
import io.gptneo.Scorer;
import io.gptneo.serve.ServeLimits;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * {@code ./gptneo serve --model DIR|HUB_ID --adapter DIR [--port 8080]}: the safety check service on 127.0.0.1
 * (POST /v1/score, GET /healthz, GET /v1/histogram, GET / the page) until interrupted.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serves the cost model over HTTP on 127.0.0.1 until interrupted (Ctrl-C):",
                "  POST /v1/score  {\"prompt\": P, \"response\": R} or a JSON array of them -> cost, label (cost > 0 = UNSAFE)",
                "  GET  /healthz   status and batching counters",
                "  GET  /v1/histogram  the reference histogram (with --eval-report or --reference-costs)",
                "  GET  /          a page to paste a prompt and a response and see the verdict",
                "Concurrent requests are batched: a forward pass runs when --batch-size pairs wait or the oldest has "
                        + "waited --max-wait-ms, whichever comes first. Model flags are those of classify and eval."})
public final class ServeCommand implements Callable<Integer> {

    @Spec CommandSpec spec;

    /** --model, --adapter, --max-length, --batch-size: the same loading path as classify and eval. */
    @Mixin ScorerOptions scorer;

    @Option(names = "--port", defaultValue = "8080", description = "TCP port on 127.0.0.1 (0 = any free port). Default: ${DEFAULT-VALUE}.")
    int port;

    @Option(names = "--max-wait-ms", defaultValue = "5", description = "Longest a pair waits for others before its batch runs. Default: ${DEFAULT-VALUE}.")
    long maxWaitMs;

    @Option(names = "--max-body-bytes", defaultValue = "1048576", description = "Largest request body (413 above). Default: ${DEFAULT-VALUE}.")
    int maxBodyBytes;

    @Option(names = "--max-text-chars", defaultValue = "20000", description = "Longest prompt or response (400 above). Default: ${DEFAULT-VALUE}.")
    int maxTextChars;

    @Option(names = "--max-items", defaultValue = "64", description = "Most pairs in one request (400 above). Default: ${DEFAULT-VALUE}.")
    int maxItems;

    @Option(names = "--threads", defaultValue = "64", description = "HTTP handler threads (requests in flight at once). Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--eval-report", paramLabel = "FILE",
            description = "report.json of ./gptneo eval; its \"histogram\" (edges + counts) is drawn on the page.")
    Path evalReport;

    @Option(names = "--reference-costs", paramLabel = "FILE",
            description = "JSON Lines of {\"cost\": x, \"is_safe\": b} (e.g. costs of the test split); binned and drawn on the page.")
    Path referenceCosts;

    @Option(names = "--bins", defaultValue = "40", description = "Bins of the histogram made from --reference-costs. Default: ${DEFAULT-VALUE}.")
    int bins;

    @Override
    public Integer call() throws Exception {
        ScoreServer server = start();
        PrintWriter out = spec.commandLine().getOut();
        out.println("serving on " + server.uri() + "  (POST /v1/score, GET /healthz, GET /; Ctrl-C stops)");
        out.flush();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "serve-shutdown"));
        stopped.await();
        return 0;
    }

    /** Loads the histogram and the model, and starts the server; the caller closes it. */
    public ScoreServer start() throws Exception {
        if (evalReport != null && referenceCosts != null) {
            throw new IllegalArgumentException("give --eval-report or --reference-costs, not both");
        }
        ReferenceHistogram histogram = null;
        if (evalReport != null) histogram = ReferenceHistogram.fromEvalReport(existing(evalReport, "--eval-report"), bins);
        if (referenceCosts != null) histogram = ReferenceHistogram.fromCostsJsonl(existing(referenceCosts, "--reference-costs"), bins);
        ServeLimits limits = new ServeLimits(maxBodyBytes, maxTextChars, maxItems, ServeLimits.DEFAULT.queueCapacity(), ServeLimits.DEFAULT.timeoutMillis());
        if (scorer.adapter != null) existing(scorer.adapter, "--adapter");
        Scorer model = scorer.load();
        ScoreServer.Config cfg = new ScoreServer.Config(port, limits, scorer.batchSize, maxWaitMs, threads, histogram,
                scorer.describe());
        return ScoreServer.start(cfg, model);
    }

    private static Path existing(Path p, String flag) {
        if (!Files.exists(p)) throw new IllegalArgumentException(flag + ": not found: " + p);
        return p;
    }
}
