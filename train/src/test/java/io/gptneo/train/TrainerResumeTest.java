package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/** The loop's bookkeeping on a tiny stand-in model (fast): resume exactness, checkpoints, metrics lines. */
class TrainerResumeTest {
    @TempDir
    Path dir;

    /** cost = w · dropout(E[last real token id mod 97]): trainable, seeded dropout, nothing else. */
    static class TinyModel implements TrainableCostModel {
        final Tensor table = Tensor.parameter(Rand.normal(DataType.FLOAT, 1, 0.5, 97, 8));
        final Tensor w = Tensor.parameter(Rand.normal(DataType.FLOAT, 2, 0.5, 1, 8));
        boolean training;
        long seed;

        @Override
        public Tensor costs(int[][] ids, int[][] mask) {
            int[] last = new int[ids.length];
            for (int b = 0; b < ids.length; b++) {
                int t = 0;
                for (int j = 0; j < mask[b].length; j++) if (mask[b][j] != 0) t = j;
                // mix two tokens so the examples differ more than their EOS
                last[b] = Math.floorMod(ids[b][Math.max(0, t - 1)] * 31 + ids[b][t], 97);
            }
            Tensor h = Ops.gatherRows(table, last);
            if (training) h = Ops.dropout(h, 0.1, seed);
            return Ops.reshape(Ops.linear(h, w, null), ids.length);
        }

        @Override
        public Map<String, Tensor> trainable() {
            Map<String, Tensor> m = new LinkedHashMap<>();
            m.put("table", table);
            m.put("score.weight", w);
            return m;
        }

        @Override
        public void setTraining(boolean on) {
            training = on;
        }

        @Override
        public void setStepSeed(long s) {
            seed = s;
        }

        @Override
        public void save(Path d) throws IOException {
            Files.createDirectories(d);
            io.gptneo.weights.SafeTensorsWriter.write(
                    d.resolve("model.safetensors"), Map.of("table", table.data(), "score.weight", w.data()), Map.of());
        }
    }

    static List<TrainItem> items(int n) {
        List<TrainItem> l = new ArrayList<>();
        java.util.Random r = new java.util.Random(5);
        for (int i = 0; i < n; i++) {
            int[] a = {r.nextInt(1000), r.nextInt(1000), 50256}, b = {r.nextInt(1000), 50256};
            if (i % 3 == 0) l.add(new TrainItem(new int[][] {a}, new boolean[] {i % 2 == 0}, -1));
            else l.add(new TrainItem(new int[][] {a, b}, new boolean[] {true, false}, 0));
        }
        return l;
    }

    static TrainConfig cfg(Path out) {
        TrainConfig c = new TrainConfig();
        c.out = out.toString();
        c.lr = 0.05;
        c.warmupSteps = 3;
        c.epochs = 3;
        c.batchSize = 4;
        c.gradAccum = 2;
        c.saveEvery = 4;
        c.keepCheckpoints = 2;
        c.evalEvery = 5;
        c.progress = false;
        c.seed = 11;
        return c;
    }

    @Test
    void stopAndResumeGivesTheUninterruptedResultExactly() throws Exception {
        List<TrainItem> train = items(30), val = items(6);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        TinyModel full = new TinyModel();
        Path a = dir.resolve("a");
        Trainer ta = new Trainer(full, cfg(a), train, val, a, quiet);
        assertEquals(8, ta.batchesPerEpoch());
        assertEquals(12, ta.totalSteps(), "3 epochs x 8 batches / accumulation 2");
        Trainer.Result ra = ta.run(null);
        assertFalse(ra.stopped());
        assertEquals(12, ra.steps());

        // interrupted after 7 steps (between checkpoints 4 and 8), then resumed in a fresh model/process state
        Path b = dir.resolve("b");
        Trainer.Result rb1 = new Trainer(new TinyModel(), cfg(b), train, val, b, quiet)
                .stopAfter(7)
                .run(null);
        assertTrue(rb1.stopped());
        assertEquals(7, rb1.steps());
        assertTrue(Files.isRegularFile(b.resolve("checkpoints/checkpoint-7/trainer_state.json")));
        JsonNode st = Trainer.JSON.readTree(
                b.resolve("checkpoints/checkpoint-7/trainer_state.json").toFile());
        assertEquals(14, st.get("rng").get("batch_cursor").asLong());
        TinyModel resumed = new TinyModel();
        TrainConfig rc = cfg(b);
        rc.resume = b.toString();
        Trainer.Result rb2 = new Trainer(resumed, rc, train, val, b, quiet).run(null);
        assertEquals(12, rb2.steps());

        assertArrayEquals(
                full.table.data().ravel().toFloatVector(),
                resumed.table.data().ravel().toFloatVector(),
                0f,
                "bit-identical parameters");
        assertArrayEquals(
                full.w.data().ravel().toFloatVector(), resumed.w.data().ravel().toFloatVector(), 0f);
        // the metrics files are identical line for line (the resumed run dropped nothing and duplicated nothing)
        assertEquals(Files.readAllLines(a.resolve("metrics.jsonl")), Files.readAllLines(b.resolve("metrics.jsonl")));
        List<JsonNode> lines = MetricsLog.read(a.resolve("metrics.jsonl"));
        assertEquals(12, lines.stream().filter(n -> !n.has("eval")).count());
        assertEquals(3, lines.stream().filter(n -> n.has("eval")).count(), "eval at steps 5, 10 and the end");
        JsonNode first = lines.get(0);
        assertEquals(0.0, first.get("lr").doubleValue(), "warmup starts at 0");
        assertTrue(first.get("grad_norm").doubleValue() > 0);
        // only the last 2 checkpoints are kept
        assertEquals(
                List.of(8L, 12L),
                new CheckpointManager(a, 2)
                        .list().stream().map(CheckpointManager::stepOf).toList());
        assertTrue(Files.isRegularFile(a.resolve("adapter/model.safetensors")));
    }

    @Test
    void shuffledEpochsDifferAndNoShuffleKeepsFileOrder() {
        List<TrainItem> train = items(10);
        PrintStream quiet = new PrintStream(java.io.OutputStream.nullOutputStream());
        TrainConfig c = cfg(dir);
        c.batchSize = 10;
        Trainer t = new Trainer(new TinyModel(), c, train, List.of(), dir, quiet);
        List<TrainItem> e0 = t.batch(0), e1 = t.batch(1);
        assertNotEquals(ids(e0), ids(e1));
        assertEquals(ids(e0), ids(new Trainer(new TinyModel(), c, train, List.of(), dir, quiet).batch(0)), "seeded");
        boolean anyFlip = false;
        for (TrainItem it : e0) if (it.isPair() && it.saferId() == 1) anyFlip = true;
        assertTrue(anyFlip, "pair response order is randomised");
        c.shuffle = false;
        List<TrainItem> plain = new Trainer(new TinyModel(), c, train, List.of(), dir, quiet).batch(1);
        assertEquals(ids(train), ids(plain));
    }

    private static List<Integer> ids(List<TrainItem> l) {
        List<Integer> r = new ArrayList<>();
        for (TrainItem it : l) r.add(it.ids()[0][0] * 100000 + it.ids()[it.ids().length - 1][0]);
        return r;
    }
}
