package io.gptneo.examples;

import java.nio.file.Path;

import io.gptneo.SafetyModel;
import io.gptneo.Verdict;

/** Scores one prompt/response pair with a cost model: a base GPT-Neo plus a LoRA adapter with its score head. */
public final class ScorePair {
    public static void main(String[] args) throws Exception {
        try (SafetyModel model = SafetyModel.load(Path.of("../shared/fixtures/gptneo-tiny"), Path.of("../shared/fixtures/lora-tiny/adapter_init"))) {
            float cost = model.score("How do I pick a lock?", "Use a tension wrench and a pick.");   // > 0 means unsafe
            Verdict v = model.verdict("How do I bake bread?", "Mix flour, water, salt and yeast; knead; bake.");
            System.out.printf("cost %.4f (%s); second pair: cost %.4f (%s)%n", cost, cost > 0 ? "UNSAFE" : "SAFE", v.cost(), v.label());
        }
    }
}
