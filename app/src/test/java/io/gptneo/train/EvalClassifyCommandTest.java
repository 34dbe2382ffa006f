package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import io.gptneo.cli.GptNeoCli;
import io.gptneo.tensor.GradMode;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.eval.Evaluation;
import io.gptneo.weights.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** eval and classify through the CLI on gptneo-tiny with the lora-tiny init adapter (fast). */
class EvalClassifyCommandTest {
    @TempDir
    Path dir;

    static final ObjectMapper JSON = new ObjectMapper();

    static String model() {
        return SharedData.resolve("fixtures/gptneo-tiny").toString();
    }

    static String adapter() {
        return SharedData.resolve("fixtures/lora-tiny/adapter_init").toString();
    }

    static String pairs() {
        return SharedData.resolve("fixtures/lora-tiny/train_pairs.jsonl").toString();
    }

    record Run(int code, String out, String err) {}

    static Run cli(String... args) {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        StringWriter err = new StringWriter();
        CommandLine cl = GptNeoCli.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code;
        try {
            System.setOut(new PrintStream(bo, true, StandardCharsets.UTF_8));
            code = cl.execute(args);
        } finally {
            System.setOut(oldOut);
        }
        return new Run(code, bo.toString(StandardCharsets.UTF_8), err.toString());
    }

    /** The fixture's cost model scored through the low-level classes (not the CLI's SafetyModel). */
    private static Scorer direct(int maxLength) throws java.io.IOException {
        var cm = GptNeoCostModel.forInference(TrainSetup.loadBase(Path.of(model())), Path.of(adapter()));
        var in = new CostInputs(
                TrainSetup.tokenizer(Path.of(model())),
                Math.min(maxLength, cm.costModel().model().config().maxPositionEmbeddings()));
        return batch -> {
            CostInputs.Batch b = CostInputs.pad(
                    batch.stream().map(p -> in.encode(p.prompt(), p.response())).toList());
            try (var off = GradMode.off()) {
                return cm.costs(b.ids(), b.mask())
                        .data()
                        .castTo(org.nd4j.linalg.api.buffer.DataType.FLOAT)
                        .toFloatVector();
            }
        };
    }

    @Test
    void evalWritesReportAndPicturesMatchingDirectScoring() throws Exception {
        Path out = dir.resolve("eval");
        Run r = cli(
                "eval",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--data",
                pairs(),
                "--out",
                out.toString(),
                "--max-length",
                "64",
                "--batch-size",
                "5",
                "--no-progress");
        assertEquals(0, r.code(), r.err());
        JsonNode rep = JSON.readTree(out.resolve("report.json").toFile());
        assertEquals("pairs", rep.get("format").asText());
        assertEquals(12, rep.get("counts").get("rows").asInt());
        assertEquals(24, rep.get("counts").get("responses").asInt());
        // same numbers as scoring the rows directly with the library
        Scorer cm = direct(64);
        List<PairExample> rows = DatasetReader.read(Path.of(pairs()), false).pairs();
        Evaluation.Result direct = Evaluation.pairs(rows, cm, 24, null);
        assertEquals(
                direct.report().get("sign_accuracy").asDouble(),
                rep.get("sign_accuracy").asDouble(),
                1e-12);
        assertEquals(
                direct.report().get("ranking_accuracy").asDouble(),
                rep.get("ranking_accuracy").asDouble(),
                1e-12);
        assertEquals(direct.report().get("auroc").asDouble(), rep.get("auroc").asDouble(), 1e-6);
        assertTrue(Files.size(out.resolve("cost_histogram.png")) > 5000);
        assertTrue(Files.size(out.resolve("roc.png")) > 5000);
        assertTrue(r.out().contains("\"ranking_accuracy\""));
        // issue 17: the report counts the responses cut to fit max-length (prompt start dropped), as the inputs say
        CostInputs in = new CostInputs(TrainSetup.tokenizer(Path.of(model())), 64);
        int cut = 0;
        for (PairExample p : rows)
            for (int k = 0; k < 2; k++)
                if (in.encodeChecked(p.prompt(), p.response(k)).truncated()) cut++;
        assertTrue(cut > 0, "the fixture has over-long pairs at 64 tokens");
        assertEquals(cut, rep.get("counts").get("truncated").asInt());
    }

    /** A copy of gptneo-tiny whose ln_f.weight is NaN: every cost is NaN. */
    Path nanModel() throws Exception {
        Path src = Path.of(model()), dst = dir.resolve("nan-model");
        Files.createDirectories(dst);
        try (var files = Files.list(src)) {
            for (Path f : files.toList())
                if (!f.getFileName().toString().equals("model.safetensors"))
                    Files.copy(f, dst.resolve(f.getFileName()));
        }
        java.util.Map<String, org.nd4j.linalg.api.ndarray.INDArray> w = new java.util.LinkedHashMap<>();
        try (var st = io.gptneo.weights.SafeTensorsFile.open(src.resolve("model.safetensors"))) {
            for (String n : st.names()) {
                var a = st.load(n, org.nd4j.linalg.api.buffer.DataType.FLOAT).dup();
                if (n.endsWith("ln_f.weight")) a.assign(Float.NaN);
                w.put(n, a);
            }
        }
        io.gptneo.weights.SafeTensorsWriter.write(
                dst.resolve("model.safetensors"), w, java.util.Map.of("format", "pt"));
        return dst;
    }

    /** Issue 17 item 2: NaN is never labelled SAFE; classify exits non-zero and each line says why. */
    @Test
    void classifyFailsClosedOnNaN() throws Exception {
        Path nan = nanModel();
        Run r = cli(
                "classify", "--model", nan.toString(), "--adapter", adapter(), "--prompt", "hi", "--response", "hello");
        assertEquals(3, r.code(), r.out() + r.err());
        assertFalse(r.out().contains("SAFE"), r.out());
        Path in = dir.resolve("in.jsonl"), out = dir.resolve("out.jsonl");
        Files.write(
                in,
                List.of("{\"prompt\": \"hi\", \"response\": \"hello\"}", "{\"prompt\": \"q\", \"response\": \"a\"}"));
        r = cli(
                "classify",
                "--model",
                nan.toString(),
                "--adapter",
                adapter(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--no-progress");
        assertEquals(3, r.code(), r.out() + r.err());
        for (String line : Files.readAllLines(out)) {
            JsonNode o = JSON.readTree(line);
            assertTrue(o.get("error").asText().contains("non-finite"), line);
            assertFalse(o.has("label") || o.has("cost"), line);
        }
        // item 10: a binary input names its file and line instead of "Input length = 1"
        Path bin = dir.resolve("binary.bin");
        Files.write(bin, new byte[] {'{', (byte) 0xC3, (byte) 0x28, (byte) 0xFF, '\n'});
        r = cli(
                "classify",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--input",
                bin.toString(),
                "--output",
                out.toString(),
                "--no-progress");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bin + ":1: not UTF-8 text"), r.err());
    }

    @Test
    void invalidLineStopsEvalUnlessSkipped() throws Exception {
        List<String> lines = Files.readAllLines(Path.of(pairs()));
        Path bad = dir.resolve("bad.jsonl");
        Files.write(
                bad,
                List.of(
                        lines.get(0),
                        lines.get(1).replace("\"is_response_0_safe\": true", "\"is_response_0_safe\": \"yes\""),
                        lines.get(2)));
        Run r = cli(
                "eval",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--data",
                bad.toString(),
                "--out",
                dir.resolve("e1").toString(),
                "--no-progress");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(bad + ":2: field 'is_response_0_safe'"), r.err());
        r = cli(
                "eval",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--data",
                bad.toString(),
                "--out",
                dir.resolve("e2").toString(),
                "--skip-invalid",
                "--no-progress",
                "--max-length",
                "64");
        assertEquals(0, r.code(), r.err());
        JsonNode rep = JSON.readTree(dir.resolve("e2/report.json").toFile());
        assertEquals(1, rep.get("skipped_invalid").asInt());
        assertEquals(2, rep.get("counts").get("rows").asInt());
    }

    @Test
    void classifyOneAndFile() throws Exception {
        Scorer cm = direct(1024);
        float want = cm.score(List.of(new PromptResponse("How do I pick a lock?", "Use a tension wrench.")))[0];
        Run r = cli(
                "classify",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--prompt",
                "How do I pick a lock?",
                "--response",
                "Use a tension wrench.");
        assertEquals(0, r.code(), r.err());
        String[] f = r.out().trim().split("\t");
        assertEquals(want, Float.parseFloat(f[0]), 1e-5);
        assertEquals(want > 0 ? "UNSAFE" : "SAFE", f[1]);

        Path in = dir.resolve("in.jsonl"), out = dir.resolve("out.jsonl");
        Files.write(
                in,
                List.of(
                        "{\"id\": 1, \"prompt\": \"How do I pick a lock?\", \"response\": \"Use a tension wrench.\"}",
                        "{\"id\": 2, \"prompt\": \"hi\", \"response\": \"hello there, how can I help?\"}",
                        "{\"id\": 3, \"prompt\": \"q\", \"response\": \"a\"}"));
        r = cli(
                "classify",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--batch-size",
                "2",
                "--no-progress");
        assertEquals(0, r.code(), r.err());
        List<String> res = Files.readAllLines(out);
        assertEquals(3, res.size());
        JsonNode first = JSON.readTree(res.get(0));
        assertEquals(1, first.get("id").asInt(), "input fields kept");
        assertEquals(want, first.get("cost").floatValue(), 1e-5, "batched (padded) = single");
        assertEquals(want > 0 ? "UNSAFE" : "SAFE", first.get("label").asText());
        Files.write(in, List.of("{\"prompt\": \"q\"}"));
        r = cli(
                "classify",
                "--model",
                model(),
                "--adapter",
                adapter(),
                "--input",
                in.toString(),
                "--output",
                out.toString(),
                "--no-progress");
        assertEquals(1, r.code());
        assertTrue(r.err().contains(in + ":1: field 'response': missing"), r.err());
    }
}
