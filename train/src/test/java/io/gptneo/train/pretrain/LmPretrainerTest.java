package io.gptneo.train.pretrain;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.model.GptNeoModel;
import io.gptneo.tensor.GradCheck;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.QaExample;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.SharedData;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class LmPretrainerTest {
    /** Vocabulary 40, hidden 8, 2 layers (global/local), positions 16. */
    static final GptNeoConfig TINY = GptNeoConfig.of(40, 16, 8, 2, 2, 4);

    static final int[][] ROWS = {{3, 17, 39, 8, 25, 1, 23, 5}, {7, 7, 30, 2, 12, 12, 0, 31}};
    /** Ids 30..39 are left out, so some targets fall outside the set. */
    static final int[] CAND = {12, 7, 0, 1, 2, 3, 5, 8, 17, 23, 25, 29, 4, 6};

    static GptNeoModel tiny(DataType dt) {
        GptNeoModel m = GptNeoModel.random(TINY, 3, dt);
        for (var e : m.parameters().entrySet())
            if (!e.getKey().contains("ln_")) e.getValue().data().muli(10);
        m.setTrainable(true);
        return m;
    }

    @Test
    void restrictedLossIsFullVocabularyCrossEntropyOverTheCandidateLogits() {
        GptNeoModel m = tiny(DataType.DOUBLE);
        double got;
        INDArray logits;
        try (var off = GradMode.off()) {
            got = LmPretrainer.loss(m, ROWS, CAND).item();
            logits = m.logits(m.forward(ROWS, null, null)).data(); // [B, T, V], every id
        }
        // plain reference: log-softmax over the candidate columns of the full logits, targets outside skipped
        double sum = 0;
        int n = 0;
        for (int b = 0; b < ROWS.length; b++)
            for (int t = 0; t + 1 < ROWS[b].length; t++) {
                int target = ROWS[b][t + 1];
                int slot = -1;
                for (int k = 0; k < CAND.length; k++) if (CAND[k] == target) slot = k;
                if (slot < 0) continue;
                double max = Double.NEGATIVE_INFINITY;
                for (int c : CAND) max = Math.max(max, logits.getDouble(b, t, c));
                double z = 0;
                for (int c : CAND) z += Math.exp(logits.getDouble(b, t, c) - max);
                sum += Math.log(z) + max - logits.getDouble(b, t, target);
                n++;
            }
        assertTrue(n > 0 && n < ROWS.length * (ROWS[0].length - 1), "some targets in, some out: " + n);
        assertEquals(sum / n, got, 1e-10);
    }

    @Test
    void restrictedCrossEntropyMatchesFiniteDifferencesIntoHiddenAndTheGatheredHeadRows() {
        int n = 7, h = 4, v = 12;
        Tensor x = Tensor.of(io.gptneo.tensor.Rand.uniform(DataType.DOUBLE, 1, -2, 2, n, h), true);
        Tensor head = Tensor.of(io.gptneo.tensor.Rand.uniform(DataType.DOUBLE, 2, -2, 2, v, h), true);
        int[] cand = {9, 0, 4, 7, 2};
        int[] slot = LmPretrainer.slots(cand, v);
        int[] next = {4, 11, 0, 9, 9, 3, 2}; // 11 and 3 are outside the set
        double err = GradCheck.maxRelativeError(
                in -> LmPretrainer.restrictedCrossEntropy(in[0], in[1], cand, slot, next),
                new Tensor[] {x, head},
                1e-6,
                7);
        assertTrue(err < 1e-6, "relative error " + err);
    }

    @Test
    void gradientFlowsIntoTheTiedEmbeddingThroughInputsAndCandidatesOnly() {
        GptNeoModel m = tiny(DataType.FLOAT);
        Tensor wte = m.lmHeadWeight();
        LmPretrainer.loss(m, ROWS, CAND).backward();
        INDArray g = wte.grad();
        assertEquals(0.0, g.getRow(35).norm2Number().doubleValue(), "neither an input nor a candidate");
        assertTrue(g.getRow(29).norm2Number().doubleValue() > 0, "candidate 29 (never an input) has a gradient");
        assertTrue(g.getRow(39).norm2Number().doubleValue() > 0, "input 39 (not a candidate) has a gradient");
    }

    @Test
    void packingIsDeterministicKeepsEveryDocumentInOrderAndDropsOnlyTheTail() {
        List<int[]> docs = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < 50; i++) {
            int[] d = new int[1 + r.nextInt(20)];
            for (int k = 0; k < d.length; k++) d[k] = 1000 * (i + 1) + k; // each id names its document and place
            docs.add(d);
        }
        int eos = 7;
        int[][] a = LmPretrainer.pack(docs, 16, eos, 42), b = LmPretrainer.pack(docs, 16, eos, 42);
        assertArrayEquals(a, b);
        assertFalse(Arrays.deepEquals(a, LmPretrainer.pack(docs, 16, eos, 43)), "another seed, another order");
        long total = docs.stream().mapToLong(d -> d.length + 1).sum();
        assertEquals(total / 16, a.length);
        // the stream: whole documents, each followed by EOS, each document once
        int[] flat = Arrays.stream(a).flatMapToInt(Arrays::stream).toArray();
        boolean[] seen = new boolean[docs.size()];
        int i = 0;
        while (i < flat.length) {
            int doc = flat[i] / 1000 - 1;
            assertFalse(seen[doc], "document " + doc + " twice");
            seen[doc] = true;
            int[] d = docs.get(doc);
            for (int k = 0; k <= d.length && i < flat.length; k++, i++)
                assertEquals(k < d.length ? d[k] : eos, flat[i], "position " + i);
        }
    }

    @Test
    void topIdsAreTheMostFrequentWithTiesBySmallerId() {
        List<int[]> docs = List.of(new int[] {5, 5, 5, 9, 9, 2}, new int[] {9, 3, 3});
        assertArrayEquals(new int[] {2, 5, 9, 3}, LmPretrainer.topIds(docs, 4, 2, 10)); // 2:1+2 eos, 5:3, 9:3, 3:2
        assertArrayEquals(new int[] {2, 5, 9, 3}, LmPretrainer.topIds(docs, 100, 2, 10)); // only ids that occur
        assertThrows(IllegalArgumentException.class, () -> LmPretrainer.topIds(List.of(new int[] {10}), 2, 2, 10));
    }

    @Test
    void shortPretrainingLowersTheLossOnHeldOutFixtureText() throws Exception {
        List<QaExample> qa = DatasetReader.read(SharedData.resolve("data/beavertails_qa.jsonl"), false)
                .qa();
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
        List<int[]> train = new ArrayList<>(), held = new ArrayList<>();
        for (int i = 0; i < 360; i++)
            (i < 300 ? train : held).add(tok.encode(qa.get(i).response()));
        GptNeoModel m = GptNeoModel.random(GptNeoConfig.of(50257, 32, 16, 1, 2, 16), 5, DataType.FLOAT);
        var o = new LmPretrainer.Options(25, 8, 32, 512, 1e-2, 0.0, 3, 9);
        LmPretrainer.Result r = LmPretrainer.run(m, train, held, 50256, o, null);
        assertEquals(512, r.vocab());
        assertTrue(r.coverage() > 0.6 && r.coverage() < 1, "coverage " + r.coverage());
        assertTrue(r.heldOutAfter() < r.heldOutBefore() - 0.5, r.heldOutBefore() + " -> " + r.heldOutAfter());
        assertThrows(
                IllegalArgumentException.class,
                () -> LmPretrainer.run(m, train.subList(0, 1), held, 50256, o, null),
                "fewer rows than one batch");
    }
}
