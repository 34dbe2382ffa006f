package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.TrainingThroughput;
import io.gptneo.tensor.Tensor;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.EpochOrder;
import io.gptneo.train.eval.LengthBuckets;
import io.gptneo.weights.SharedData;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Length-bucketed training batches: a seeded permutation of every epoch, padding below plain shuffling on the real
 * data's token lengths, file order untouched without shuffling, each batch padded to its own longest sequence, and a
 * resumed run feeding exactly the batches of an uninterrupted one.
 */
class LengthBucketedTrainingTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());
    static List<TrainItem> real;

    @TempDir
    Path dir;

    /** 300 BeaverTails responses and 150 PKU pairs, tokenised as training does (window 1024). */
    @BeforeAll
    static void readRealData() {
        CostInputs in = new CostInputs(Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), 1024);
        real = new ArrayList<>();
        DatasetReader.read(TestFiles.beavertails(), false)
                .qa()
                .subList(0, 300)
                .forEach(q -> real.add(TrainItem.of(q, in)));
        DatasetReader.read(TestFiles.pairs(), false)
                .pairs()
                .subList(0, 150)
                .forEach(p -> real.add(TrainItem.of(p, in)));
    }

    static TrainConfig cfg(Path out, int batchSize) {
        TrainConfig c = TrainerResumeTest.cfg(out);
        c.batchSize = batchSize;
        c.lengthBuckets = true; // opt-in (off by default: it lowered the main job's validation scores)
        return c;
    }

    static int[] lengths(List<TrainItem> items) {
        return items.stream()
                .mapToInt(it ->
                        Arrays.stream(it.ids()).mapToInt(q -> q.length).max().orElseThrow())
                .toArray();
    }

    static boolean isPermutation(int[] p, int n) {
        int[] s = p.clone();
        Arrays.sort(s);
        for (int i = 0; i < n; i++) if (s[i] != i) return false;
        return s.length == n;
    }

    @Test
    void bucketedOrderIsASeededPermutationWithTheShortBatchLast() {
        int[] len = lengths(real);
        for (int bs : new int[] {1, 3, 4, 7, 64}) { // 450 rows: chunks of 50 batches, short batches for 4, 7 and 64
            int[] p = EpochOrder.bucketed(len, bs, 42, 0);
            assertTrue(isPermutation(p, len.length), "every row exactly once, batch size " + bs);
            assertArrayEquals(p, EpochOrder.bucketed(len, bs, 42, 0), "a pure function of (lengths, seed, epoch)");
            assertFalse(Arrays.equals(p, EpochOrder.bucketed(len, bs, 43, 0)), "another seed, another order");
            assertFalse(Arrays.equals(p, EpochOrder.bucketed(len, bs, 42, 1)), "another epoch, another order");
            // each full batch is a run of its chunk's rows in length order: its rows span no wider a length range
            // than the batch's own rows do in the sorted chunk, so its padding is that of neighbours
            int chunk = EpochOrder.CHUNK_BATCHES * bs;
            int[] shuffled = EpochOrder.permutation(len.length, 42, 0, true);
            for (int s = 0; s + bs <= len.length; s += bs) {
                int min = Integer.MAX_VALUE, max = 0, c = -1;
                for (int i = s; i < s + bs; i++) {
                    min = Math.min(min, len[p[i]]);
                    max = Math.max(max, len[p[i]]);
                    int at = indexOf(shuffled, p[i]) / chunk;
                    assertTrue(c < 0 || c == at, "a batch stays within one chunk");
                    c = at;
                }
                int between = 0; // rows of the chunk strictly shorter than max and longer than min
                for (int i = c * chunk; i < Math.min(len.length, (c + 1) * chunk); i++)
                    if (len[shuffled[i]] > min && len[shuffled[i]] < max) between++;
                assertTrue(between <= Math.max(0, bs - 2), "batch at " + s + " skips rows of its chunk's length order");
            }
        }
        assertTrue(isPermutation(EpochOrder.bucketed(new int[] {5}, 4, 1, 0), 1), "one row");
        assertEquals(0, EpochOrder.bucketed(new int[0], 4, 1, 0).length, "no rows");
    }

    @Test
    void trainerEpochsFeedEveryExampleOnceAndPadLessThanPlainShuffling() {
        TrainConfig c = cfg(dir, 4);
        Trainer t = new Trainer(new TrainerResumeTest.TinyModel(), c, real, List.of(), dir, QUIET);
        for (int epoch = 0; epoch < 2; epoch++) {
            Map<String, Integer> seen = new HashMap<>();
            LengthBuckets.Tokens fed = LengthBuckets.Tokens.NONE;
            for (int b = 0; b < t.batchesPerEpoch(); b++) {
                List<TrainItem> batch = t.batch((long) epoch * t.batchesPerEpoch() + b);
                for (TrainItem it : batch) seen.merge(key(it), 1, Integer::sum);
                fed = fed.plus(Trainer.tokens(batch));
            }
            Map<String, Integer> want = new HashMap<>();
            for (TrainItem it : real) want.merge(key(it), 1, Integer::sum);
            assertEquals(want, seen, "epoch " + epoch + " feeds every example exactly once");
            if (epoch == 0) {
                TrainingThroughput th = t.throughput(LengthBuckets.Tokens.NONE, 0);
                assertTrue(th.lengthBuckets());
                assertEquals(th.epochPaddingFractionBucketed(), fed.paddingFraction(), 0, "what the batches pad");
                // real lengths spread widely: bucketing must remove most of the padding of plain shuffling
                assertTrue(
                        th.epochPaddingFractionBucketed() < 0.5 * th.epochPaddingFractionUnbucketed(),
                        th.epochPaddingFractionBucketed() + " vs " + th.epochPaddingFractionUnbucketed());
            }
        }
        // switched off: the plain seeded shuffle of before, and its padding is the "unbucketed" figure
        c.lengthBuckets = false;
        Trainer plain = new Trainer(new TrainerResumeTest.TinyModel(), c, real, List.of(), dir, QUIET);
        int[] perm = EpochOrder.permutation(real.size(), c.seed, 0, true);
        LengthBuckets.Tokens fed = LengthBuckets.Tokens.NONE;
        for (int b = 0; b < plain.batchesPerEpoch(); b++) {
            List<TrainItem> batch = plain.batch(b);
            for (int i = 0; i < batch.size(); i++)
                assertEquals(key(real.get(perm[b * c.batchSize + i])), key(batch.get(i)));
            fed = fed.plus(Trainer.tokens(batch));
        }
        TrainingThroughput th = plain.throughput(LengthBuckets.Tokens.NONE, 0);
        assertFalse(th.lengthBuckets());
        assertEquals(th.epochPaddingFractionUnbucketed(), fed.paddingFraction(), 0);
    }

    @Test
    void noShuffleKeepsFileOrderExactlyWithLengthBucketsOn() {
        TrainConfig c = cfg(dir, 4);
        c.shuffle = false;
        assertTrue(c.lengthBuckets);
        Trainer t = new Trainer(new TrainerResumeTest.TinyModel(), c, real, List.of(), dir, QUIET);
        List<TrainItem> fed = new ArrayList<>();
        for (int b = 0; b < 2 * t.batchesPerEpoch(); b++) fed.addAll(t.batch(b));
        for (int i = 0; i < fed.size(); i++) {
            TrainItem want = real.get(i % real.size()), got = fed.get(i);
            assertArrayEquals(want.ids(), got.ids(), "row " + i + ": file order, responses unswapped");
            assertEquals(want.saferId(), got.saferId());
        }
    }

    /** The stand-in model, recording the [B, T] shape of every batch it scores. */
    static final class WidthModel extends TrainerResumeTest.TinyModel {
        final List<int[]> widths = new ArrayList<>();

        @Override
        public Tensor costs(int[][] ids, int[][] mask) {
            int longest = 0;
            for (int[] m : mask) longest = Math.max(longest, Arrays.stream(m).sum());
            widths.add(new int[] {ids.length, ids[0].length, longest});
            return super.costs(ids, mask);
        }
    }

    /** Examples of 2-41 tokens per sequence, a third single responses, the rest pairs. */
    static List<TrainItem> varied(int n) {
        SplittableRandom r = new SplittableRandom(9);
        List<TrainItem> l = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] a = r.ints(2 + r.nextInt(40), 0, 1000).toArray(),
                    b = r.ints(2 + r.nextInt(40), 0, 1000).toArray();
            if (i % 3 == 0) l.add(new TrainItem(new int[][] {a}, new boolean[] {i % 2 == 0}, -1));
            else l.add(new TrainItem(new int[][] {a, b}, new boolean[] {true, false}, 0));
        }
        return l;
    }

    @Test
    void eachBatchPadsToItsOwnLongestAndTheMetricsCountIt() throws Exception {
        List<TrainItem> train = varied(30);
        WidthModel m = new WidthModel();
        Path out = dir.resolve("w");
        Trainer.Result r = new Trainer(m, cfg(out, 4), train, List.of(), out, QUIET).run(null);
        long slots = 0;
        for (int[] w : m.widths) {
            assertEquals(w[2], w[1], "a batch is padded to its own longest sequence, no further");
            slots += (long) w[0] * w[1];
        }
        long tokens = 0, pads = 0;
        for (JsonNode n : MetricsLog.read(out.resolve("metrics.jsonl"))) {
            tokens += n.get("tokens").asLong();
            pads += n.get("pad_tokens").asLong();
        }
        long want = train.stream().mapToLong(TrainItem::tokens).sum() * 3; // 3 epochs
        assertEquals(want, tokens, "every real token of 3 epochs is counted once");
        assertEquals(slots, tokens + pads, "the positions the model computed");
        assertEquals(want, r.throughput().usefulTokens());
        assertEquals(slots, r.throughput().tokenSlots());
        assertTrue(r.throughput().seconds() > 0 && r.throughput().usefulTokensPerSecond() > 0);
    }

    @Test
    void resumeMidEpochFeedsTheUninterruptedRunsBatches() throws Exception {
        List<TrainItem> train = varied(30), val = varied(6);
        Path a = dir.resolve("a"), b = dir.resolve("b");
        WidthModel full = new WidthModel();
        Trainer.Result ra = new Trainer(full, cfg(a, 4), train, val, a, QUIET).run(null);
        assertTrue(ra.throughput().lengthBuckets());
        WidthModel first = new WidthModel(), second = new WidthModel();
        Trainer.Result rb1 =
                new Trainer(first, cfg(b, 4), train, val, b, QUIET).stopAfter(7).run(null); // mid epoch 2 of 3
        assertTrue(rb1.stopped());
        TrainConfig rc = cfg(b, 4);
        rc.resume = b.toString();
        Trainer.Result rb2 = new Trainer(second, rc, train, val, b, QUIET).run(null);
        assertEquals(ra.steps(), rb2.steps());
        assertArrayEquals(
                full.table.data().ravel().toFloatVector(),
                second.table.data().ravel().toFloatVector(),
                0f);
        assertArrayEquals(
                full.w.data().ravel().toFloatVector(), second.w.data().ravel().toFloatVector(), 0f);
        // the same batch shapes in the same order (validation batches included), and the same metrics lines
        List<int[]> resumed = new ArrayList<>(first.widths);
        resumed.addAll(second.widths);
        assertEquals(shapes(full.widths), shapes(resumed));
        assertEquals(Files.readAllLines(a.resolve("metrics.jsonl")), Files.readAllLines(b.resolve("metrics.jsonl")));
        assertEquals(
                ra.throughput().usefulTokens(),
                rb1.throughput().usefulTokens() + rb2.throughput().usefulTokens());
        assertEquals(
                ra.throughput().tokenSlots(),
                rb1.throughput().tokenSlots() + rb2.throughput().tokenSlots());
    }

    private static int indexOf(int[] a, int v) {
        for (int i = 0; i < a.length; i++) if (a[i] == v) return i;
        return -1;
    }

    private static List<String> shapes(List<int[]> l) {
        return l.stream().map(Arrays::toString).toList();
    }

    /** An example's identity whichever way its responses are ordered. */
    private static String key(TrainItem it) {
        return Arrays.stream(it.ids()).map(Arrays::toString).sorted().toList().toString();
    }
}
