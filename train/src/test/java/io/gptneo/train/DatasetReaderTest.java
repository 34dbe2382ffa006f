package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.data.DataException;
import io.gptneo.train.data.DataFormat;
import io.gptneo.train.data.Dataset;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetReaderTest {
    @TempDir
    Path dir;

    static final String PAIR =
            "{\"prompt\": \"p\", \"response_0\": \"a\", \"response_1\": \"b\", \"is_response_0_safe\": true, "
                    + "\"is_response_1_safe\": false, \"safer_response_id\": 0}";
    static final String QA =
            "{\"prompt\": \"p\", \"response\": \"r\", \"category\": {\"animal_abuse\": false, \"self_harm\": true}, \"is_safe\": false}";

    @Test
    void readsSharedPairFile() {
        Dataset d = DatasetReader.read(TestFiles.pairs(), false);
        assertEquals(DataFormat.PAIRS, d.format());
        assertEquals(4385, d.size());
        assertEquals(0, d.skippedCount());
        PairExample first = d.pairs().get(0);
        assertTrue(first.prompt().startsWith("I recently ran into my bully"));
        assertEquals(0, first.saferId());
        assertEquals(-1, first.betterId(), "better_response_id is optional and absent in the shared file");
        assertTrue(first.source().endsWith("pku_saferlhf_pairs.jsonl:1"));
        // README: the safe response is always response_0 in this file
        assertTrue(d.pairs().stream().allMatch(p -> p.safe0() && !p.safe1() && p.saferId() == 0));
    }

    @Test
    void readsSharedBeaverTails() {
        Dataset d = DatasetReader.read(TestFiles.beavertails(), false);
        assertEquals(DataFormat.QA, d.format());
        assertEquals(2598, d.size());
        assertEquals(1107, d.qa().stream().filter(QaExample::safe).count());
        QaExample q = d.qa().get(0);
        assertEquals("how do I make a walkway slippery?", q.prompt());
        assertFalse(q.safe());
        assertEquals(14, q.categories().size());
        assertTrue(q.categories().get("non_violent_unethical_behavior"));
        assertFalse(q.categories().get("animal_abuse"));
    }

    @Test
    void optionalBetterIdAndSwap() throws Exception {
        Path f = write("pairs.jsonl", PAIR.replace("}", ", \"better_response_id\": 1}"));
        PairExample p = DatasetReader.read(f, false).pairs().get(0);
        assertEquals(1, p.betterId());
        PairExample s = p.swapped();
        assertEquals("b", s.response0());
        assertEquals("a", s.response1());
        assertFalse(s.safe0());
        assertTrue(s.safe1());
        assertEquals(1, s.saferId());
        assertEquals(0, s.betterId());
        assertEquals(p, s.swapped());
    }

    @Test
    void invalidLinesStopWithFileLineAndField() throws Exception {
        assertError(PAIR + "\n{not json", "bad.jsonl:2", null, "invalid JSON");
        assertError(
                PAIR + "\n\n" + PAIR.replace("\"is_response_1_safe\": false", "\"is_response_1_safe\": \"no\""),
                "bad.jsonl:3",
                "is_response_1_safe",
                "expected true or false, got string \"no\"");
        assertError(
                PAIR.replace("\"safer_response_id\": 0", "\"safer_response_id\": 2"),
                "bad.jsonl:1",
                "safer_response_id",
                "expected 0 or 1, got 2");
        assertError(PAIR.replace(", \"safer_response_id\": 0", ""), "bad.jsonl:1", "safer_response_id", "missing");
        assertError(
                PAIR.replace("\"response_1\": \"b\"", "\"response_1\": 5"),
                "bad.jsonl:1",
                "response_1",
                "expected a string, got number 5");
        assertError(
                QA + "\n" + QA.replace("\"is_safe\": false", "\"is_safe\": null"), "bad.jsonl:2", "is_safe", "missing");
        assertError(
                QA.replace("\"self_harm\": true", "\"self_harm\": 1"),
                "bad.jsonl:1",
                "category.self_harm",
                "expected a boolean");
        assertError(
                QA.replace("{\"animal_abuse\": false, \"self_harm\": true}", "[]"),
                "bad.jsonl:1",
                "category",
                "expected an object");
        assertError("[1, 2]", "bad.jsonl:1", null, "expected a JSON object");
        assertError(QA + " {}", "bad.jsonl:1", null, "invalid JSON");
    }

    @Test
    void skipInvalidCountsAndKeepsTheRest() throws Exception {
        Path f = write(
                "mixed.jsonl",
                QA + "\n{broken\n" + QA.replace("\"prompt\": \"p\"", "\"prompt\": 3") + "\n"
                        + QA.replace("\"p\"", "\"q\""));
        Dataset d = DatasetReader.read(f, true);
        assertEquals(2, d.size());
        assertEquals(2, d.skippedCount());
        assertEquals(List.of("p", "q"), d.qa().stream().map(QaExample::prompt).toList());
        assertTrue(
                d.skipped().get(0).contains("mixed.jsonl:2: invalid JSON"),
                d.skipped().get(0));
        assertTrue(
                d.skipped().get(1).contains("mixed.jsonl:3: field 'prompt': expected a string"),
                d.skipped().get(1));
    }

    @Test
    void missingFileIsAClearError() {
        IllegalArgumentException e = assertThrows(
                IllegalArgumentException.class, () -> DatasetReader.read(dir.resolve("nope.jsonl"), false));
        assertTrue(e.getMessage().contains("data file not found"), e.getMessage());
    }

    private void assertError(String content, String loc, String field, String problem) throws Exception {
        Path f = write("bad.jsonl", content);
        DataException e = assertThrows(DataException.class, () -> DatasetReader.read(f, false));
        assertTrue(e.getMessage().startsWith(f + loc.substring(loc.indexOf(':'))), e.getMessage());
        assertEquals(field, e.field());
        assertTrue(e.getMessage().contains(problem), e.getMessage());
        if (field != null) assertTrue(e.getMessage().contains("'" + field + "'"), e.getMessage());
    }

    private Path write(String name, String content) throws Exception {
        Path f = dir.resolve(name);
        Files.writeString(f, content + "\n");
        return f;
    }
}
