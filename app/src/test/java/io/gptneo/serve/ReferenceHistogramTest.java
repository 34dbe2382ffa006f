package io.gptneo.serve;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ReferenceHistogramTest {

    @Test
    void binsByLabelOverARangeThatIncludesTheThreshold() {
        ReferenceHistogram h = ReferenceHistogram.fromCosts(
                new double[] {1, 2, 3, 4}, new Boolean[] {true, false, false, null}, 4, "x");
        JsonNode j = h.toJson();
        assertEquals(0.0, j.get("edges").get(0).asDouble()); // 0 is in range though every cost is positive
        assertEquals(4.0, j.get("edges").get(4).asDouble());
        assertEquals("[0,1,0,0]", j.get("series").get("safe").toString());
        assertEquals("[0,0,1,1]", j.get("series").get("unsafe").toString());
        assertEquals("[0,0,0,1]", j.get("series").get("unlabelled").toString()); // the max lands in the last bin
        assertEquals(4, h.total());
        assertTrue(h.exact());
        assertEquals(0.0, h.fractionAtOrBelow(0.5));
        assertEquals(0.5, h.fractionAtOrBelow(2.0));
        assertEquals(1.0, h.fractionAtOrBelow(99));
    }

    @Test
    void unlabelledCostsFormOneSeries() {
        JsonNode j =
                ReferenceHistogram.fromCosts(new double[] {-1, 1}, null, 2, "x").toJson();
        assertEquals(1, j.get("series").size());
        assertEquals("[1,1]", j.get("series").get("all").toString());
    }

    @Test
    void readsJsonLinesAndNamesTheBadLine(@TempDir Path dir) throws Exception {
        Path ok = dir.resolve("costs.jsonl");
        Files.writeString(
                ok, "{\"cost\": -1.5, \"is_safe\": true}\n\n{\"cost\": 2.5, \"is_safe\": false, \"prompt\": \"x\"}\n");
        ReferenceHistogram h = ReferenceHistogram.fromCostsJsonl(ok, 8);
        assertEquals(2, h.total());
        assertEquals(0.5, h.fractionAtOrBelow(0));
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"cost\": 1}\n{\"cost\": \"high\"}\n");
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> ReferenceHistogram.fromCostsJsonl(bad, 8));
        assertTrue(e.getMessage().contains("line 2"), e.getMessage());
        Files.writeString(bad, "{\"cost\": 1}\n{\"cost\": 1\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ReferenceHistogram.fromCostsJsonl(bad, 8))
                .getMessage()
                .contains("line 2: invalid JSON"));
        Files.writeString(bad, "\n");
        assertThrows(IllegalArgumentException.class, () -> ReferenceHistogram.fromCostsJsonl(bad, 8));
    }

    @Test
    void readsBinsFromAnEvalReportAndInterpolatesWithinBins(@TempDir Path dir) throws Exception {
        Path report = dir.resolve("report.json");
        Files.writeString(
                report,
                "{\"auc\": 0.9, \"test\": {\"histogram\": {\"edges\": [-2, 0, 2], "
                        + "\"counts_safe\": [3, 1], \"counts_unsafe\": [0, 4]}}}");
        ReferenceHistogram h = ReferenceHistogram.fromEvalReport(report, 10);
        assertFalse(h.exact());
        assertEquals(8, h.total());
        assertEquals(3.0 / 8, h.fractionAtOrBelow(0), 1e-12);
        assertEquals((3 + 2.5) / 8, h.fractionAtOrBelow(1), 1e-12);
        assertEquals("[3,1]", h.toJson().get("series").get("safe").toString());

        Files.writeString(report, "{\"costs\": [-1, 1, 2], \"labels_safe\": [true, false, false]}");
        ReferenceHistogram fromCosts = ReferenceHistogram.fromEvalReport(report, 3);
        assertTrue(fromCosts.exact());
        assertEquals(1.0 / 3, fromCosts.fractionAtOrBelow(0), 1e-12);

        Files.writeString(report, "{\"auc\": 0.9}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ReferenceHistogram.fromEvalReport(report, 3))
                .getMessage()
                .contains("--reference-costs"));
        Files.writeString(report, "{\"histogram\": {\"edges\": [0, 1], \"counts\": [1, 2]}}");
        assertThrows(IllegalArgumentException.class, () -> ReferenceHistogram.fromEvalReport(report, 3));
    }
}
