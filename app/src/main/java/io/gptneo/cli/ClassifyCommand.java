package io.gptneo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.NonFiniteCostException;
import io.gptneo.PromptResponse;
import io.gptneo.SafetyModel;
import io.gptneo.Scorer;
import io.gptneo.train.data.DataException;
import io.gptneo.train.eval.Evaluation;
import io.gptneo.train.eval.LengthBuckets;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./gptneo classify}: the cost of one (prompt, response), or of every line of a JSONL file. */
@Command(
        name = "classify",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Scores responses with a cost model; a cost above 0 means UNSAFE.",
            "--prompt P --response R prints 'cost<TAB>SAFE|UNSAFE'. --input F --output G reads JSONL lines with "
                    + "prompt and response and writes each line back with \"cost\" and \"label\" added."
        })
public final class ClassifyCommand implements Callable<Integer> {
    @Mixin
    ScorerOptions model;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Mode mode;

    static final class Mode {
        @ArgGroup(exclusive = false)
        One one;

        @ArgGroup(exclusive = false)
        FileMode file;
    }

    static final class One {
        @Option(
                names = "--prompt",
                required = true,
                paramLabel = "P",
                description = "The user's prompt of the one pair to score.")
        String prompt;

        @Option(names = "--response", required = true, paramLabel = "R", description = "The response to that prompt.")
        String response;
    }

    static final class FileMode {
        @Option(
                names = "--input",
                required = true,
                paramLabel = "FILE.jsonl",
                description =
                        "JSONL file: one object per line with \"prompt\" and \"response\" strings (other fields are kept).")
        Path input;

        @Option(
                names = "--output",
                required = true,
                paramLabel = "FILE.jsonl",
                description = "Where to write the input lines with \"cost\" and \"label\" added.")
        Path output;
    }

    @Option(names = "--no-progress", description = "Do not draw the progress bar on stderr.")
    boolean noProgress;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public Integer call() throws Exception {
        SafetyModel m = model.load();
        if (mode.one != null) {
            float c = costsOrNaN(m, List.of(new PromptResponse(mode.one.prompt, mode.one.response)))[0];
            if (!Float.isFinite(c)) {
                System.err.println("gptneo classify: error: " + NON_FINITE + " (" + c + ")");
                return NO_VERDICT;
            }
            System.out.println(String.format(Locale.ROOT, "%.6f\t%s", c, c > 0 ? "UNSAFE" : "SAFE"));
            return 0;
        }
        List<ObjectNode> rows = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(mode.file.input, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = readLine(in, mode.file.input, n + 1)) != null) {
                n++;
                if (line.isBlank()) continue;
                String loc = mode.file.input + ":" + n;
                JsonNode o;
                try {
                    o = JSON.readTree(line);
                } catch (Exception e) {
                    throw new DataException(loc, null, "invalid JSON");
                }
                if (!(o instanceof ObjectNode obj)) throw new DataException(loc, null, "expected a JSON object");
                for (String f : List.of("prompt", "response")) {
                    if (!obj.path(f).isTextual())
                        throw new DataException(loc, f, obj.has(f) ? "expected a string" : "missing");
                }
                rows.add(obj);
            }
        }
        int unsafe = 0, failed = 0;
        // scored in length buckets (each batch padded to its own longest row), written in file order; a batch with a
        // non-finite cost is rescored row by row so only the rows without a verdict get an error (fail closed)
        List<PromptResponse> items = rows.stream()
                .map(o -> new PromptResponse(
                        o.get("prompt").textValue(), o.get("response").textValue()))
                .toList();
        Scorer failClosed = new Scorer() {
            @Override
            public float[] score(List<PromptResponse> batch) {
                return costsOrNaN(m, batch);
            }

            @Override
            public int tokens(PromptResponse row) {
                return m.tokens(row);
            }
        };
        Evaluation.Scored scored;
        long t0 = System.nanoTime();
        try (Progress p = Progress.start("classify", rows.size(), "responses", !noProgress, System.err)) {
            scored = Evaluation.scoreBucketed(items, failClosed, model.batchSize, n -> {
                for (int i = 0; i < n; i++) p.step(0, Double.NaN);
            });
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        try (BufferedWriter out = Files.newBufferedWriter(mode.file.output, StandardCharsets.UTF_8)) {
            for (int i = 0; i < rows.size(); i++) {
                double c = scored.costs()[i];
                ObjectNode o = rows.get(i);
                if (!Double.isFinite(c)) {
                    o.put("error", NON_FINITE); // fail closed: no cost, no label
                    failed++;
                } else {
                    o.put("cost", (float) c);
                    o.put("label", c > 0 ? "UNSAFE" : "SAFE");
                    if (c > 0) unsafe++;
                }
                out.write(JSON.writeValueAsString(o));
                out.newLine();
            }
        }
        System.out.printf(
                "%d responses scored, %d UNSAFE, %d SAFE -> %s%n",
                rows.size() - failed, unsafe, rows.size() - failed - unsafe, mode.file.output);
        LengthBuckets b = scored.buckets();
        if (b != null) {
            System.out.printf(
                    "padding %.1f%% of tokens (%.1f%% in file order), %.0f useful tokens/s%n",
                    100 * b.paddingFraction(),
                    100 * b.paddingFractionUnbucketed(),
                    secs > 0 ? b.usefulTokens() / secs : 0);
        }
        if (failed > 0) {
            System.err.printf(
                    "gptneo classify: error: %d of %d responses got no verdict (%s); their lines in %s have an \"error\" field%n",
                    failed, rows.size(), NON_FINITE, mode.file.output);
            return NO_VERDICT;
        }
        return 0;
    }

    /** Exit code when some response got no verdict (a non-finite cost). */
    static final int NO_VERDICT = 3;

    static final String NON_FINITE = "the model gave a non-finite cost (NaN or infinity): no verdict";

    /** Costs of a batch; a pair whose cost is not finite gets NaN (scored alone to find it) so the caller fails it closed. */
    static float[] costsOrNaN(Scorer m, List<PromptResponse> batch) {
        try {
            return m.score(batch);
        } catch (NonFiniteCostException e) {
            float[] c = new float[batch.size()];
            if (c.length == 1) return new float[] {Float.NaN};
            for (int i = 0; i < c.length; i++) c[i] = costsOrNaN(m, batch.subList(i, i + 1))[0];
            return c;
        }
    }

    /** A line of the input; a file that is not UTF-8 text (e.g. binary) is named with the line. */
    private static String readLine(BufferedReader in, Path file, int lineNo) throws java.io.IOException {
        try {
            return in.readLine();
        } catch (java.nio.charset.CharacterCodingException e) {
            throw new DataException(file + ":" + lineNo, null, "not UTF-8 text (a binary file?)");
        }
    }
}
