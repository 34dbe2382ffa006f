package io.gptneo.train;

import io.gptneo.weights.SharedData;
import java.nio.file.Path;

/** Shared inputs for the train tests (located through -Dgptneo.shared / GPTNEO_SHARED / ../shared). */
final class TestFiles {
    private TestFiles() {}

    static Path beavertails() {
        return SharedData.resolve("data/beavertails_qa.jsonl");
    }

    static Path pairs() {
        return SharedData.resolve("data/pku_saferlhf_pairs.jsonl");
    }
}
