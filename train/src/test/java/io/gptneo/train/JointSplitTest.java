package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.PairOrder;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.data.Splits;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pipeline's split over both shared files and its seeded pair positions. */
class JointSplitTest {
    static final List<QaExample> QA =
            DatasetReader.read(TestFiles.beavertails(), false).qa();
    static final List<PairExample> PAIRS =
            DatasetReader.read(TestFiles.pairs(), false).pairs();

    @Test
    void noPromptOnTwoSidesAcrossBothFiles() {
        Splits.Joint j = Splits.jointByPrompt(QA, PAIRS, 0.1, 0.2, 1234);
        Map<String, Integer> side = new HashMap<>();
        int[] seen = new int[1];
        Set<String> shared = new HashSet<>();
        QA.forEach(q -> shared.add(q.prompt()));
        Set<String> both = new HashSet<>();
        PAIRS.forEach(p -> {
            if (shared.contains(p.prompt())) both.add(p.prompt());
        });
        assertTrue(both.size() > 100, "the files share prompts (139 distinct), got " + both.size());
        List<List<?>> sides = List.of(
                List.of(j.qa().train(), j.pairs().train()),
                List.of(j.qa().validation(), j.pairs().validation()),
                List.of(j.qa().test(), j.pairs().test()));
        for (int s = 0; s < 3; s++) {
            for (Object rows : sides.get(s)) {
                for (Object r : (List<?>) rows) {
                    String p = r instanceof QaExample q ? q.prompt() : ((PairExample) r).prompt();
                    Integer before = side.put(p, s);
                    assertTrue(before == null || before == s, "prompt on sides " + before + " and " + s + ": " + p);
                    seen[0]++;
                }
            }
        }
        assertEquals(QA.size() + PAIRS.size(), seen[0], "every row lands on exactly one side");
        int sharedInTest = 0;
        for (String p : both) if (side.get(p) == 2) sharedInTest++;
        assertTrue(
                sharedInTest > 0 && sharedInTest < both.size(),
                "shared prompts are spread over the sides, got " + sharedInTest + " in test");
        // the prompt fractions hold over the union
        long nTest = side.values().stream().filter(v -> v == 2).count();
        assertEquals(Math.round(0.2 * side.size()), nTest);
    }

    @Test
    void deterministicForASeedAndDifferentForAnother() {
        Splits.Joint a = Splits.jointByPrompt(QA, PAIRS, 0.1, 0.2, 1234);
        Splits.Joint b = Splits.jointByPrompt(QA, PAIRS, 0.1, 0.2, 1234);
        assertEquals(a, b);
        Splits.Joint c = Splits.jointByPrompt(QA, PAIRS, 0.1, 0.2, 7);
        assertNotEquals(a.qa().test(), c.qa().test());
    }

    @Test
    void aSingleFileSplitsAsBefore() {
        // with no pairs the joint split is byPrompt of the QA file alone
        assertEquals(
                Splits.byPrompt(QA, QaExample::prompt, 0.1, 0.2, 5),
                Splits.jointByPrompt(QA, List.of(), 0.1, 0.2, 5).qa());
    }

    @Test
    void pairPositionsAreRandomisedDeterministicallyWithLabelsFollowing() {
        assertTrue(
                PAIRS.stream().allMatch(p -> p.saferId() == 0 && p.safe0() && !p.safe1()),
                "the shared file puts the safe response first");
        List<PairExample> r = PairOrder.randomise(PAIRS, 1234);
        assertEquals(r, PairOrder.randomise(PAIRS, 1234));
        assertNotEquals(r, PairOrder.randomise(PAIRS, 1235));
        long first = r.stream().filter(p -> p.saferId() == 0).count();
        double frac = (double) first / r.size();
        assertTrue(frac > 0.45 && frac < 0.55, "safe response first in " + frac + " of pairs");
        for (int i = 0; i < r.size(); i++) {
            PairExample o = PAIRS.get(i), p = r.get(i);
            assertEquals(o.prompt(), p.prompt());
            assertEquals(o.response(0), p.response(p.saferId()), "the safer id follows the safe response");
            assertTrue(p.safe(p.saferId()) && !p.safe(1 - p.saferId()));
        }
    }
}
