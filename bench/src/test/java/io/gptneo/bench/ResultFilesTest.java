package io.gptneo.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ResultFilesTest {
    @Test
    void aSecondRunOfTheDayGetsANewNameAndTheFirstIsKept(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("bench/results"); // created on first use
        LocalDate day = LocalDate.of(2026, 12, 3);
        Path first = ResultFiles.fresh(dir, "forward", day);
        assertEquals(dir.resolve("forward-2026-12-03.json"), first);
        Files.writeString(first, "{\"run\": 1}");
        Path second = ResultFiles.fresh(dir, "forward", day);
        assertEquals(dir.resolve("forward-2026-12-03-2.json"), second);
        Files.writeString(second, "{\"run\": 2}");
        assertEquals(dir.resolve("forward-2026-12-03-3.json"), ResultFiles.fresh(dir, "forward", day));
        assertEquals("{\"run\": 1}", Files.readString(first), "the first run's file is untouched");
        assertEquals(dir.resolve("train-step-2026-12-03.json"), ResultFiles.fresh(dir, "train-step", day));
    }
}
