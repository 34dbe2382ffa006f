package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.EpochOrder;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.data.Splits;
import io.gptneo.train.data.Splits.Split;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

class SplitsTest {

    @Test
    void noPromptOnTwoSidesAndEveryRowSomewhere() {
        List<QaExample> rows =
                DatasetReader.read(TestFiles.beavertails(), false).qa();
        Split<QaExample> s = Splits.byPrompt(rows, QaExample::prompt, 0.1, 0.2, 7);
        assertEquals(
                rows.size(), s.train().size() + s.validation().size() + s.test().size());
        Set<String> tr = prompts(s.train()), va = prompts(s.validation()), te = prompts(s.test());
        assertTrue(Collections.disjoint(tr, va));
        assertTrue(Collections.disjoint(tr, te));
        assertTrue(Collections.disjoint(va, te));
        int n = tr.size() + va.size() + te.size();
        assertEquals(2166, n);
        assertEquals(Math.round(0.2 * n), te.size());
        assertEquals(Math.round(0.1 * n), va.size());
        // pairs: 790 prompts with ~5.5 pairs each must still be split whole
        List<PairExample> pairs = DatasetReader.read(TestFiles.pairs(), false).pairs();
        Split<PairExample> ps = Splits.byPrompt(pairs, PairExample::prompt, 0.1, 0.1, 1);
        Set<String> ptr = ps.train().stream().map(PairExample::prompt).collect(Collectors.toSet());
        assertTrue(ps.test().stream().noneMatch(p -> ptr.contains(p.prompt())));
        assertTrue(ps.validation().stream().noneMatch(p -> ptr.contains(p.prompt())));
    }

    @Test
    void deterministicSeededAndOrderIndependent() {
        List<QaExample> rows =
                DatasetReader.read(TestFiles.beavertails(), false).qa();
        Split<QaExample> a = Splits.byPrompt(rows, QaExample::prompt, 0.1, 0.2, 7);
        Split<QaExample> b = Splits.byPrompt(rows, QaExample::prompt, 0.1, 0.2, 7);
        assertEquals(a, b);
        List<QaExample> reversed = new ArrayList<>(rows);
        Collections.reverse(reversed);
        assertEquals(
                prompts(a.test()),
                prompts(Splits.byPrompt(reversed, QaExample::prompt, 0.1, 0.2, 7)
                        .test()));
        assertNotEquals(
                prompts(a.test()),
                prompts(Splits.byPrompt(rows, QaExample::prompt, 0.1, 0.2, 8).test()));
        // rows keep file order inside a side
        List<String> order = a.train().stream().map(QaExample::source).toList();
        List<Integer> lines = order.stream()
                .map(x -> Integer.parseInt(x.substring(x.lastIndexOf(':') + 1)))
                .toList();
        List<Integer> sorted = new ArrayList<>(lines);
        Collections.sort(sorted);
        assertEquals(sorted, lines);
    }

    @Test
    void rejectsBadFractions() {
        assertThrows(IllegalArgumentException.class, () -> Splits.byPrompt(List.of("a"), x -> x, 0.5, 0.5, 1));
        assertThrows(IllegalArgumentException.class, () -> Splits.byPrompt(List.of("a"), x -> x, -0.1, 0.5, 1));
    }

    @Test
    void epochShuffleIsSeededPermutation() {
        int[] p0 = EpochOrder.permutation(100, 42, 0, true);
        assertArrayEquals(p0, EpochOrder.permutation(100, 42, 0, true));
        assertFalse(Arrays.equals(p0, EpochOrder.permutation(100, 42, 1, true)), "each epoch has its own order");
        assertFalse(Arrays.equals(p0, EpochOrder.permutation(100, 43, 0, true)));
        int[] sorted = p0.clone();
        Arrays.sort(sorted);
        for (int i = 0; i < 100; i++) assertEquals(i, sorted[i]);
        int[] id = EpochOrder.permutation(5, 42, 3, false);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, id);
        // response flips: seeded and roughly balanced
        int flips = 0;
        for (int i = 0; i < 2000; i++) {
            boolean f = EpochOrder.swapResponses(9, 0, i);
            assertEquals(f, EpochOrder.swapResponses(9, 0, i));
            if (f) flips++;
        }
        assertTrue(flips > 900 && flips < 1100, "flips " + flips);
    }

    private static Set<String> prompts(List<QaExample> rows) {
        return rows.stream().map(QaExample::prompt).collect(Collectors.toCollection(HashSet::new));
    }
}
