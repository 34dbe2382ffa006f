package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.train.baseline.BagOfWordsBaseline;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.QaExample;
import io.gptneo.train.data.Splits;
import io.gptneo.train.eval.BinaryMetrics;
import java.util.List;
import org.junit.jupiter.api.Test;

class BagOfWordsBaselineTest {

    @Test
    void learnsAnObviousWord() {
        List<String> prompts = List.of("q", "q", "q", "q", "q", "q");
        List<String> responses =
                List.of("kill them now", "you should kill", "kill kill", "be kind", "stay kind friend", "kind words");
        boolean[] unsafe = {true, true, true, false, false, false};
        BagOfWordsBaseline m =
                BagOfWordsBaseline.fit(prompts, responses, unsafe, new BagOfWordsBaseline.Options(1, 1e-4, 1.0, 500));
        assertTrue(m.score("q", "kill") > 1, "" + m.score("q", "kill"));
        assertTrue(m.score("q", "kind") < -1, "" + m.score("q", "kind"));
    }

    /** The baseline the cost model must beat: ~73% sign accuracy on a BeaverTails test split. */
    @Test
    void beaverTailsTestAccuracy() {
        List<QaExample> rows =
                DatasetReader.read(TestFiles.beavertails(), false).qa();
        Splits.Split<QaExample> s = Splits.byPrompt(rows, QaExample::prompt, 0.1, 0.2, 1234);
        boolean[] y = new boolean[s.train().size()];
        for (int i = 0; i < y.length; i++) y[i] = !s.train().get(i).safe();
        BagOfWordsBaseline m = BagOfWordsBaseline.fit(
                s.train().stream().map(QaExample::prompt).toList(),
                s.train().stream().map(QaExample::response).toList(),
                y,
                BagOfWordsBaseline.Options.defaults());
        double[] c = new double[s.test().size()];
        boolean[] t = new boolean[c.length];
        for (int i = 0; i < c.length; i++) {
            c[i] = m.score(s.test().get(i).prompt(), s.test().get(i).response());
            t[i] = !s.test().get(i).safe();
        }
        BinaryMetrics bm = BinaryMetrics.of(c, t);
        System.out.printf(
                "bag-of-words: vocab %d, test n=%d accuracy %.4f auroc %.4f%n",
                m.vocabularySize(), bm.count(), bm.accuracy(), bm.auroc());
        assertTrue(bm.accuracy() > 0.68 && bm.accuracy() < 0.85, "accuracy " + bm.accuracy());
        assertTrue(bm.auroc() > 0.75, "auroc " + bm.auroc());
    }
}
