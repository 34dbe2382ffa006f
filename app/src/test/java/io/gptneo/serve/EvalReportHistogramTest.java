package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.eval.Evaluation;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The report.json that eval (and the pipeline) writes is what serve --eval-report reads. */
class EvalReportHistogramTest {
    @TempDir
    Path dir;

    @Test
    void evalReportHistogramRoundTripsThroughServesReader() throws Exception {
        List<QaExample> rows = DatasetReader.read(SharedData.resolve("data/beavertails_qa.jsonl"), false)
                .qa()
                .subList(0, 300);
        Evaluation.Result r = Evaluation.qa(rows, new FakeScorer(0), 32, null);
        Evaluation.write(dir, r);
        ReferenceHistogram h = ReferenceHistogram.fromEvalReport(dir.resolve("report.json"), 7);
        assertEquals(rows.size(), h.total());
        assertFalse(h.exact(), "read from bins, not raw costs");
        // the same bins serve makes from the raw costs and labels
        Boolean[] safe = new Boolean[rows.size()];
        for (int i = 0; i < safe.length; i++) safe[i] = !r.unsafe()[i];
        JsonNode want = ReferenceHistogram.fromCosts(r.costs(), safe, Evaluation.HISTOGRAM_BINS, "x")
                .toJson();
        JsonNode got = h.toJson();
        assertEquals(want.get("series"), got.get("series"));
        assertEquals(Evaluation.HISTOGRAM_BINS + 1, got.get("edges").size());
        for (int i = 0; i < got.get("edges").size(); i++) {
            assertEquals(
                    want.get("edges").get(i).asDouble(), got.get("edges").get(i).asDouble(), 1e-12);
        }
        // placing a cost among the reference: everything is at or below the largest cost, nothing below the smallest
        double max = Double.NEGATIVE_INFINITY, min = Double.POSITIVE_INFINITY;
        for (double c : r.costs()) {
            max = Math.max(max, c);
            min = Math.min(min, c);
        }
        assertEquals(1.0, h.fractionAtOrBelow(Math.max(max, 0)), 1e-12);
        assertEquals(0.0, h.fractionAtOrBelow(Math.min(min, 0) - 1), 1e-12);
    }
}
