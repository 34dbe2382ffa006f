package io.gptneo.cli;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.gptneo.model.GptNeoModel;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code ./gptneo forward --model DIR --ids "i1 i2 ..." [--out FILE]}: final hidden states and last logits as JSON. */
@Command(
        name = "forward",
        mixinStandardHelpOptions = true,
        description = {
            "Runs one forward pass (float32, no padding, positions 0..T-1) and writes the result as JSON.",
            "The JSON is {\"hidden\": [[H floats] x T], \"logits_last\": [V floats]}: hidden = states after ln_f at every position,",
            "logits_last = LM logits at the last position. Without --out the JSON goes to stdout."
        })
public final class ForwardCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Option(
            names = "--ids",
            required = true,
            paramLabel = "\"i1 i2 ...\"",
            description = "Token ids, separated by spaces or commas.")
    String ids;

    @Option(names = "--out", paramLabel = "FILE", description = "Write the JSON here instead of stdout.")
    Path out;

    @Override
    public Integer call() throws Exception {
        int[] tokens = parseIds(ids);
        GptNeoModel m = GptNeoModel.load(model.resolve(), DataType.FLOAT);
        float[][] hidden;
        float[] logits;
        try (var off = GradMode.off()) {
            Tensor h = m.forward(new int[][] {tokens}, null, null); // [1, T, H]
            hidden = h.data().reshape(tokens.length, m.config().hiddenSize()).toFloatMatrix();
            logits = m.lastLogits(h).data().reshape(m.config().vocabSize()).toFloatVector();
        }
        JsonFactory f = new JsonFactory();
        if (out != null) {
            Path parent = out.toAbsolutePath().getParent();
            if (parent != null) Files.createDirectories(parent);
            try (OutputStream os = Files.newOutputStream(out);
                    JsonGenerator g = f.createGenerator(os, JsonEncoding.UTF8)) {
                write(g, hidden, logits);
            }
        } else {
            PrintWriter pw = spec.commandLine().getOut();
            try (JsonGenerator g = f.createGenerator(pw)) {
                write(g, hidden, logits);
            }
            pw.println();
            pw.flush();
        }
        return 0;
    }

    private static void write(JsonGenerator g, float[][] hidden, float[] logits) throws java.io.IOException {
        g.writeStartObject();
        g.writeArrayFieldStart("hidden");
        for (float[] row : hidden) {
            g.writeStartArray();
            for (float v : row) g.writeNumber(v);
            g.writeEndArray();
        }
        g.writeEndArray();
        g.writeArrayFieldStart("logits_last");
        for (float v : logits) g.writeNumber(v);
        g.writeEndArray();
        g.writeEndObject();
    }

    /** "1 2 3" or "1,2,3" -> ids; errors name the bad entry. */
    static int[] parseIds(String text) {
        String t = text.trim();
        if (t.isEmpty()) throw new IllegalArgumentException("--ids is empty");
        String[] parts = t.split("[\\s,]+");
        int[] r = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                r[i] = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--ids: '" + parts[i] + "' is not an integer token id");
            }
        }
        return r;
    }
}
