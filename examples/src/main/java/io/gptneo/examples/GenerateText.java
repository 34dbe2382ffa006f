package io.gptneo.examples;

import java.nio.file.Path;
import java.util.Arrays;

import io.gptneo.GptNeo;
import io.gptneo.model.GenerationConfig;

/**
 * Generates text, greedy and sampled, and reads the next-token logits. The tiny test model has random weights, so
 * its text is gibberish; load a real one with {@code GptNeo.load("EleutherAI/gpt-neo-125M")}.
 */
public final class GenerateText {
    public static void main(String[] args) throws Exception {
        try (GptNeo lm = GptNeo.load(Path.of("../shared/fixtures/gptneo-tiny"))) {
            String greedy = lm.generate("The quick brown fox", 12);
            String sampled = lm.generate("The quick brown fox", GenerationConfig.greedy(12).sampling(0.8, 40, 0.95, 7));
            int[] ids = lm.generate(lm.encode("The quick brown fox"), GenerationConfig.greedy(5));
            float[] logits = lm.nextTokenLogits("The quick brown fox");
            System.out.println("greedy:  " + greedy);
            System.out.println("sampled: " + sampled);
            System.out.println("ids:     " + Arrays.toString(ids));
            System.out.println("logits over " + logits.length + " tokens");
        }
    }
}
