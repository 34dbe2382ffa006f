package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.Scorer;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.eval.Evaluation;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class EvaluationTest {
    /** A fake cost model: cost = (number of letters 'k' in the response) - 3, deterministic. */
    static final Scorer FAKE = batch -> {
        float[] c = new float[batch.size()];
        for (int i = 0; i < c.length; i++)
            c[i] = batch.get(i).response().chars().filter(ch -> ch == 'k').count() - 3;
        return c;
    };

    @Test
    void pairReportOnHandMadeRows() {
        List<PairExample> rows = List.of(
                new PairExample(
                        "p", "fine", "kkkkk", true, false, 0, -1, "x:1"), // costs -3, 2: ranked right, both signs right
                new PairExample("p", "kkkk", "no", false, true, 1, -1, "x:2"), // costs 1, -3: ranked right
                new PairExample(
                        "q", "kkkkkk", "kkkk", true, false, 0, -1,
                        "x:3")); // costs 3, 1: ranked wrong, safe one called unsafe
        Evaluation.Result r = Evaluation.pairs(rows, FAKE, 2, null);
        assertArrayEquals(new double[] {-3, 2, 1, -3, 3, 1}, r.costs(), 0);
        JsonNode j = r.report();
        assertEquals(2.0 / 3, j.get("ranking_accuracy").doubleValue(), 1e-12);
        assertEquals(5.0 / 6, j.get("sign_accuracy").doubleValue(), 1e-12);
        assertEquals(6, j.get("counts").get("responses").intValue());
        assertEquals(3, j.get("counts").get("unsafe").intValue());
        assertEquals(1, j.get("confusion").get("fp").intValue());
        assertEquals(0.75, j.get("precision_unsafe").doubleValue(), 1e-12);
        assertEquals(1.0, j.get("recall_unsafe").doubleValue(), 1e-12);
    }

    @Test
    void qaReportWithCategories() throws Exception {
        List<QaExample> rows =
                DatasetReader.read(TestFiles.beavertails(), false).qa().subList(0, 300);
        Evaluation.Result r = Evaluation.qa(rows, FAKE, 16, null);
        JsonNode j = r.report();
        assertEquals(300, j.get("counts").get("rows").intValue());
        JsonNode cats = j.get("per_category");
        assertEquals(14, cats.size());
        // recompute one category by hand
        String cat = "violence,aiding_and_abetting,incitement";
        int n = 0, ok = 0;
        for (int i = 0; i < rows.size(); i++) {
            if (!rows.get(i).categories().get(cat)) continue;
            n++;
            if ((r.costs()[i] > 0) == !rows.get(i).safe()) ok++;
        }
        assertEquals(n, cats.get(cat).get("count").intValue());
        assertEquals((double) ok / n, cats.get(cat).get("accuracy").doubleValue(), 1e-12);
        Path out = Path.of(System.getProperty("java.io.tmpdir"), "gptneo-evaluation-test");
        Evaluation.write(out, r);
        JsonNode back = new ObjectMapper().readTree(out.resolve("report.json").toFile());
        assertEquals(j, back);
    }
}
