package io.gptneo.train.data;

import java.nio.file.Path;
import java.util.List;

/**
 * The valid rows of one JSONL file (exactly one of {@code pairs}/{@code qa} is non-empty unless the file is empty),
 * plus the invalid lines that were skipped under {@code --skip-invalid}.
 */
public record Dataset(Path file, DataFormat format, List<PairExample> pairs, List<QaExample> qa, List<String> skipped) {

    public int size() {
        return format == DataFormat.PAIRS ? pairs.size() : qa.size();
    }

    public int skippedCount() {
        return skipped.size();
    }
}
