package io.gptneo.spark;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.cli.GptNeoCli;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.CostInputs;
import io.gptneo.weights.SharedData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Batch scoring in local mode against ./gptneo classify on the same rows; bad rows; a missing model folder. */
class SparkScoringTest {
    static final int ROWS = 300;
    static final ObjectMapper JSON = new ObjectMapper();
    static SparkSession spark;

    @TempDir
    Path dir;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.start();
    }

    @AfterAll
    static void stop() {
        if (spark != null) spark.stop();
    }

    /** The first {@code n} BeaverTails rows, each with its line number as "row". */
    static List<ObjectNode> beaverTails(int n) throws Exception {
        List<ObjectNode> rows = new ArrayList<>();
        for (String line : Files.readAllLines(SharedData.resolve("data/beavertails_qa.jsonl"))) {
            if (rows.size() == n) break;
            ObjectNode o = (ObjectNode) JSON.readTree(line);
            o.put("row", rows.size());
            rows.add(o);
        }
        return rows;
    }

    /** Costs ./gptneo classify writes for these rows, by "row". */
    Map<Integer, Double> classify(List<ObjectNode> rows) throws Exception {
        Path in = dir.resolve("classify-in.jsonl"), out = dir.resolve("classify-out.jsonl");
        List<String> lines = new ArrayList<>();
        for (ObjectNode o : rows) lines.add(JSON.writeValueAsString(o));
        Files.write(in, lines);
        int code = GptNeoCli.commandLine()
                .execute(
                        "classify",
                        "--model",
                        SparkTestSession.tiny().toString(),
                        "--adapter",
                        SparkTestSession.adapter().toString(),
                        "--input",
                        in.toString(),
                        "--output",
                        out.toString(),
                        "--no-progress");
        assertEquals(0, code);
        Map<Integer, Double> m = new HashMap<>();
        for (String l : Files.readAllLines(out)) {
            JsonNode o = JSON.readTree(l);
            m.put(o.get("row").intValue(), o.get("cost").doubleValue());
        }
        return m;
    }

    @Test
    void costsEqualClassifyAndBadRowsStay() throws Exception {
        List<ObjectNode> good = beaverTails(ROWS);
        Map<Integer, Double> expected = classify(good);
        List<String> lines = new ArrayList<>();
        for (ObjectNode o : good) lines.add(JSON.writeValueAsString(o));
        // Bad rows, mixed in: a missing response, a null one, a line that is not JSON.
        lines.add(17, "{\"row\": 1000, \"prompt\": \"no response here\"}");
        lines.add(120, "{\"row\": 1001, \"prompt\": \"a null response\", \"response\": null}");
        lines.add(250, "{\"row\": 1002, \"prompt\": \"cut off");
        Path input = dir.resolve("input.jsonl");
        Files.write(input, lines, StandardCharsets.UTF_8);

        Dataset<Row> in = spark.read().json(input.toString()).repartition(3);
        List<Row> out = SparkScoring.score(
                        in,
                        ScoreSettings.of(
                                SparkTestSession.tiny().toString(),
                                SparkTestSession.adapter().toString()))
                .collectAsList();

        assertEquals(lines.size(), out.size(), "one output row per input row");
        Map<Integer, Row> byRow = new HashMap<>();
        int errors = 0;
        double worst = 0;
        for (Row r : out) {
            String err = r.getAs("error");
            if (r.isNullAt(r.fieldIndex("row"))) { // the unparseable line: only _corrupt_record survives
                assertEquals("invalid JSON line", err);
                assertTrue(r.<String>getAs("_corrupt_record").contains("cut off"));
                errors++;
                continue;
            }
            int id = (int) r.<Long>getAs("row").longValue();
            assertNull(byRow.put(id, r), "row " + id + " twice");
            if (id >= 1000) {
                assertEquals("response: missing", err, "row " + id);
                assertTrue(r.isNullAt(r.fieldIndex("cost")) && r.isNullAt(r.fieldIndex("unsafe")));
                errors++;
                continue;
            }
            assertNull(err, "row " + id);
            double c = r.<Float>getAs("cost");
            double e = expected.get(id);
            worst = Math.max(worst, Math.abs(c - e));
            assertEquals(e, c, 1e-5, "cost of row " + id);
            assertEquals(c > 0, r.<Boolean>getAs("unsafe"));
            ObjectNode src = good.get(id); // the input's fields come back unchanged
            assertEquals(src.get("prompt").textValue(), r.getAs("prompt"));
            assertEquals(src.get("response").textValue(), r.getAs("response"));
            assertEquals(src.get("is_safe").booleanValue(), r.<Boolean>getAs("is_safe"));
        }
        assertEquals(3, errors);
        assertEquals(ROWS + 2, byRow.size());
        System.out.printf("spark score vs classify: %d rows, max |cost difference| %.3g%n", ROWS, worst);
    }

    @Test
    void lengthLimitAndNonStringColumnAreRowErrors() throws Exception {
        List<ObjectNode> rows = beaverTails(40);
        Path input = dir.resolve("input.jsonl");
        List<String> lines = new ArrayList<>();
        for (ObjectNode o : rows) lines.add(JSON.writeValueAsString(o));
        Files.write(input, lines);
        int limit = 60;
        List<Row> out = SparkScoring.score(
                        spark.read().json(input.toString()),
                        new ScoreSettings(
                                SparkTestSession.tiny().toString(),
                                SparkTestSession.adapter().toString(),
                                1024,
                                4,
                                limit))
                .collectAsList();
        assertEquals(rows.size(), out.size());
        CostInputs full = new CostInputs(Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), Integer.MAX_VALUE);
        int over = 0;
        for (Row r : out) {
            int n = full.encode(r.getAs("prompt"), r.getAs("response")).length;
            String err = r.getAs("error");
            if (n > limit) {
                over++;
                assertEquals("response: " + n + " tokens (template + EOS) > max-tokens " + limit, err);
                assertTrue(r.isNullAt(r.fieldIndex("cost")));
            } else {
                assertNull(err);
                assertFalse(r.isNullAt(r.fieldIndex("cost")));
            }
        }
        assertTrue(over > 0 && over < rows.size(), "the limit splits the rows: " + over + " over");

        StructType schema = new StructType().add("prompt", DataTypes.StringType).add("response", DataTypes.IntegerType);
        List<Row> typed = SparkScoring.score(
                        spark.createDataFrame(List.of(RowFactory.create("p", 7), RowFactory.create(null, 8)), schema),
                        ScoreSettings.of(SparkTestSession.tiny().toString(), null))
                .collectAsList();
        assertEquals(
                List.of("response: not a string (int)", "prompt: missing"),
                typed.stream().map(r -> r.<String>getAs("error")).toList());
    }

    @Test
    void pairsPerPairAndPerResponseAgree() throws Exception {
        List<String> lines = Files.readAllLines(SharedData.resolve("data/pku_saferlhf_pairs.jsonl"))
                .subList(0, 20);
        Path input = dir.resolve("pairs.jsonl");
        Files.write(input, lines);
        ScoreSettings s = ScoreSettings.of(
                SparkTestSession.tiny().toString(), SparkTestSession.adapter().toString());
        Dataset<Row> in = spark.read().json(input.toString());
        List<Row> pairs = SparkScoring.scorePairs(in, s).collectAsList();
        List<Row> responses = SparkScoring.scorePairResponses(in, s).collectAsList();
        assertEquals(20, pairs.size());
        assertEquals(40, responses.size());
        Map<String, Float> byResponse = new HashMap<>();
        for (Row r : responses)
            byResponse.put(
                    r.<String>getAs("prompt") + "\u0000" + r.<Integer>getAs("response_id"), r.<Float>getAs("cost"));
        for (Row p : pairs) {
            assertNull(p.getAs("error"));
            float c0 = p.getAs("cost_0"), c1 = p.getAs("cost_1");
            assertEquals(byResponse.get(p.<String>getAs("prompt") + "\u00000"), c0, 1e-5);
            assertEquals(byResponse.get(p.<String>getAs("prompt") + "\u00001"), c1, 1e-5);
            assertEquals(c1 < c0 ? 1 : 0, p.<Integer>getAs("safer"));
            assertEquals(c0 > 0, p.<Boolean>getAs("unsafe_0"));
        }
    }

    @Test
    void missingModelFolderFailsTheJob() throws Exception {
        String missing = dir.resolve("no-such-model").toString();
        Dataset<Row> in = spark.createDataFrame(
                List.of(RowFactory.create("p", "r")),
                new StructType().add("prompt", DataTypes.StringType).add("response", DataTypes.StringType));
        Exception e = assertThrows(Exception.class, () -> SparkScoring.score(in, ScoreSettings.of(missing, null))
                .collectAsList());
        assertTrue(e.getMessage().contains("model folder " + missing + " not found"), e.getMessage());
    }
}
