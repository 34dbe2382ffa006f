package io.gptneo.train.data;

import io.gptneo.tensor.Seeds;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Seeded response positions for pair files whose order carries the label (in the shared PKU-SafeRLHF file the safe
 * response is always {@code response_0}): each pair is exchanged or not by a coin flipped from (seed, row index), so
 * the same seed gives the same rows on every JVM.
 */
public final class PairOrder {
    private PairOrder() {}

    public static List<PairExample> randomise(List<PairExample> rows, long seed) {
        List<PairExample> out = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++)
            out.add(swap(seed, i) ? rows.get(i).swapped() : rows.get(i));
        return List.copyOf(out);
    }

    static boolean swap(long seed, int index) {
        return new SplittableRandom(Seeds.mix(seed, index, 0x0DE2_0001L)).nextBoolean();
    }
}
