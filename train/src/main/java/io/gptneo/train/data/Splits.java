package io.gptneo.train.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeSet;
import java.util.function.Function;

/**
 * Train/validation/test split by prompt: all rows of one prompt land on one side, so a model is never tested on a
 * prompt it trained on. Deterministic for a seed and independent of row order (prompts are sorted before the
 * seeded shuffle); rows keep their file order within each side.
 */
public final class Splits {
    private Splits() {}

    public record Split<T>(List<T> train, List<T> validation, List<T> test) {}

    public static <T> Split<T> byPrompt(
            List<T> rows, Function<T, String> prompt, double validationFraction, double testFraction, long seed) {
        List<String> prompts = new ArrayList<>();
        for (T r : rows) prompts.add(prompt.apply(r));
        return apply(rows, prompt, sides(prompts, validationFraction, testFraction, seed));
    }

    /** The two files' splits of {@link #jointByPrompt}. */
    public record Joint(Split<QaExample> qa, Split<PairExample> pairs) {}

    /**
     * One split by prompt over both files together: the union of their prompts is divided, so a prompt that occurs in
     * both files lands on the same side in each and no prompt is on two sides anywhere.
     */
    public static Joint jointByPrompt(
            List<QaExample> qa, List<PairExample> pairs, double validationFraction, double testFraction, long seed) {
        List<String> prompts = new ArrayList<>();
        for (QaExample q : qa) prompts.add(q.prompt());
        for (PairExample p : pairs) prompts.add(p.prompt());
        Map<String, Integer> side = sides(prompts, validationFraction, testFraction, seed);
        return new Joint(apply(qa, QaExample::prompt, side), apply(pairs, PairExample::prompt, side));
    }

    /** Side of each distinct prompt: 0 train, 1 validation, 2 test. */
    static Map<String, Integer> sides(
            List<String> allPrompts, double validationFraction, double testFraction, long seed) {
        if (validationFraction < 0 || testFraction < 0 || validationFraction + testFraction >= 1) {
            throw new IllegalArgumentException("split fractions must be >= 0 with validation + test < 1, got "
                    + validationFraction + " and " + testFraction);
        }
        List<String> prompts = new ArrayList<>(new TreeSet<>(allPrompts));
        Collections.shuffle(prompts, new Random(seed)); // java.util.Random's sequence is specified: same on every JVM
        int n = prompts.size();
        int nTest = (int) Math.round(testFraction * n);
        int nVal = (int) Math.round(validationFraction * n);
        Map<String, Integer> side = new HashMap<>();
        for (int i = 0; i < n; i++) side.put(prompts.get(i), i < nTest ? 2 : i < nTest + nVal ? 1 : 0);
        return side;
    }

    private static <T> Split<T> apply(List<T> rows, Function<T, String> prompt, Map<String, Integer> side) {
        List<T> train = new ArrayList<>(), val = new ArrayList<>(), test = new ArrayList<>();
        for (T r : rows) {
            switch (side.get(prompt.apply(r))) {
                case 2 -> test.add(r);
                case 1 -> val.add(r);
                default -> train.add(r);
            }
        }
        return new Split<>(List.copyOf(train), List.copyOf(val), List.copyOf(test));
    }
}
