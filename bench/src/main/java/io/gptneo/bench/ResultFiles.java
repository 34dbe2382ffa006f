package io.gptneo.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDate;

/**
 * Default names for benchmark results: {@code bench/results/<prefix>-<date>.json}, and {@code -2}, {@code -3}, ...
 * before {@code .json} when a run of the same day already wrote that name, so that a second run never overwrites a
 * first one that bench/RESULTS.md may cite.
 */
final class ResultFiles {
    private ResultFiles() {}

    /** {@code bench/results} under {@code -Dgptneo.root} (the launcher sets it; else the working directory). */
    static Path dir() {
        return Path.of(System.getProperty("gptneo.root", "."), "bench", "results");
    }

    /** A name in {@link #dir()} for today's {@code prefix} results that no file has yet (the folder is created). */
    static Path fresh(String prefix) throws IOException {
        return fresh(dir(), prefix, LocalDate.now());
    }

    static Path fresh(Path dir, String prefix, LocalDate date) throws IOException {
        Files.createDirectories(dir);
        String base = prefix + "-" + date;
        Path p = dir.resolve(base + ".json");
        for (int i = 2; Files.exists(p); i++) p = dir.resolve(base + "-" + i + ".json");
        return p;
    }
}
