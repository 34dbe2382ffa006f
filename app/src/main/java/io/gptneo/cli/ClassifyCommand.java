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
import io.gptneo.SafetyModel;

import io.gptneo.train.data.DataException;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code ./gptneo classify}: the cost of one (prompt, response), or of every line of a JSONL file. */
@Command(name = "classify", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Scores responses with a cost model; a cost above 0 means UNSAFE.",
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
        @Option(names = "--prompt", required = true, paramLabel = "P", description = "The user's prompt of the one pair to score.") String prompt;
        @Option(names = "--response", required = true, paramLabel = "R", description = "The response to that prompt.") String response;
    }

    static final class FileMode {
        @Option(names = "--input", required = true, paramLabel = "FILE.jsonl", description = "JSONL file: one object per line with \"prompt\" and \"response\" strings (other fields are kept).") Path input;
        @Option(names = "--output", required = true, paramLabel = "FILE.jsonl", description = "Where to write the input lines with \"cost\" and \"label\" added.") Path output;
    }

    @Option(names = "--no-progress", description = "Do not draw the progress bar on stderr.") boolean noProgress;

    private static final ObjectMapper JSON = new ObjectMapper();

    @Override public Integer call() throws Exception {
        SafetyModel m = model.load();
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
        try (BufferedWriter out = Files.newBufferedWriter(mode.file.output, StandardCharsets.UTF_8);
             Progress p = Progress.start("classify", rows.size(), "responses", !noProgress, System.err)) {
            for (int s = 0; s < rows.size(); s += model.batchSize) {
                List<ObjectNode> b = rows.subList(s, Math.min(rows.size(), s + model.batchSize));
                float[] c = m.score(b.stream().map(o -> new PromptResponse(o.get("prompt").textValue(), o.get("response").textValue())).toList());
                for (int i = 0; i < c.length; i++) {
                    ObjectNode o = b.get(i);
                    o.put("cost", c[i]);
                    o.put("label", c[i] > 0 ? "UNSAFE" : "SAFE");
                    if (c[i] > 0) unsafe++;
                    out.write(JSON.writeValueAsString(o));
                    out.newLine();
                    p.step(0, Double.NaN);
                }
            }
        }
        System.out.printf("%d responses scored, %d UNSAFE, %d SAFE -> %s%n", rows.size(), unsafe, rows.size() - unsafe, mode.file.output);
        return 0;
    }
}
