package io.gptneo.cli;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

import io.gptneo.PromptResponse;
import io.gptneo.train.eval.Evaluation;
import io.gptneo.train.eval.LengthBuckets;
import io.gptneo.train.GptNeoCostModel;

import io.gptneo.train.data.DataException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./gptneo classify}: the cost of one (prompt, response), or of every line of a JSONL file. */
@Command(name = "classify", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Scores responses with a cost model: cost > 0 = UNSAFE.",
                "--prompt P --response R prints 'cost<TAB>SAFE|UNSAFE'. --input F --output G reads JSONL lines with "
                        + "prompt and response and writes each line back with \"cost\" and \"label\" added."})
public final class ClassifyCommand implements Callable<Integer> {
    @Mixin ScorerOptions model;
    @ArgGroup(exclusive = true, multiplicity = "1") Mode mode;

    static final class Mode {
        @ArgGroup(exclusive = false) One one;
        @ArgGroup(exclusive = false) FileMode file;
    }

    static final class One {
        @Option(names = "--prompt", required = true, paramLabel = "P") String prompt;
        @Option(names = "--response", required = true, paramLabel = "R") String response;
    }

    static final class FileMode {
        @Option(names = "--input", required = true, paramLabel = "FILE.jsonl") Path input;
        @Option(names = "--output", required = true, paramLabel = "FILE.jsonl") Path output;
    }

    @Option(names = "--no-progress", description = "No progress bar.") boolean noProgress;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override public Integer call() throws Exception {
        GptNeoCostModel m = model.load();
        if (mode.one != null) {
            float c = m.score(List.of(new PromptResponse(mode.one.prompt, mode.one.response)))[0];
            System.out.println(String.format(Locale.ROOT, "%.6f\t%s", c, c > 0 ? "UNSAFE" : "SAFE"));
            return 0;
        }
        List<ObjectNode> rows = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(mode.file.input, StandardCharsets.UTF_8)) {
            String line;
            int n = 0;
            while ((line = in.readLine()) != null) {
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
                    if (!obj.path(f).isTextual()) throw new DataException(loc, f, obj.has(f) ? "expected a string" : "missing");
                }
                rows.add(obj);
            }
        }
        int unsafe = 0;
        // scored in length buckets (each batch padded to its own longest row), written in file order
        List<PromptResponse> items = rows.stream().map(o -> new PromptResponse(o.get("prompt").textValue(), o.get("response").textValue())).toList();
        Evaluation.Scored scored;
        long t0 = System.nanoTime();
        try (Progress p = Progress.start("classify", rows.size(), "responses", !noProgress, System.err)) {
            scored = Evaluation.scoreBucketed(items, m, model.batchSize, n -> { for (int i = 0; i < n; i++) p.step(0, Double.NaN); });
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        try (BufferedWriter out = Files.newBufferedWriter(mode.file.output, StandardCharsets.UTF_8)) {
            for (int i = 0; i < rows.size(); i++) {
                double c = scored.costs()[i];
                ObjectNode o = rows.get(i);
                o.put("cost", (float) c);
                o.put("label", c > 0 ? "UNSAFE" : "SAFE");
                if (c > 0) unsafe++;
                out.write(JSON.writeValueAsString(o));
                out.newLine();
            }
        }
        System.out.printf("%d responses scored, %d UNSAFE, %d SAFE -> %s%n", rows.size(), unsafe, rows.size() - unsafe, mode.file.output);
        LengthBuckets b = scored.buckets();
        if (b != null) {
            System.out.printf("padding %.1f%% of tokens (%.1f%% in file order), %.0f useful tokens/s%n", 100 * b.paddingFraction(),
                    100 * b.paddingFractionUnbucketed(), secs > 0 ? b.usefulTokens() / secs : 0);
        }
        return 0;
    }
}
