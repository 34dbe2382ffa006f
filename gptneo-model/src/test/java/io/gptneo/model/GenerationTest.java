package io.gptneo.model;

import static io.gptneo.model.Fixture.ints;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import io.gptneo.weights.SharedData;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Decoding: fixture greedy ids, KV cache vs full recompute, batching, sampling, EOS. */
class GenerationTest {
    static GptNeoModel tiny;
    // Three prompts of different lengths; with 24 new tokens every row runs past the local window (8).
    static final int[][] PROMPTS = {
        {1026, 373, 257, 27737, 3329, 11, 290, 262, 1751, 6807}, {15496, 11, 616}, {8888, 11, 314, 716, 1016}
    };

    @BeforeAll
    static void load() throws Exception {
        tiny = GptNeoModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "gptneo-tiny,gptneo-tiny",
        "gptneo-tiny-legacy,gptneo-tiny",
        "gptneo-tiny-bf16-sharded,gptneo-tiny-bf16-sharded",
        "gptneo-tiny-f16,gptneo-tiny-f16"
    })
    void greedyMatchesFixture(String model, String oracle) throws Exception {
        Fixture f = new Fixture(model, oracle);
        GptNeoModel m = GptNeoModel.load(f.modelDir, DataType.FLOAT);
        var g = f.expected.get("greedy");
        int[] expected = ints(g.get("new_ids"));
        // Without the cache too on the base fixture (the cache-vs-recompute test below covers the rest).
        for (boolean cache : model.equals("gptneo-tiny") ? new boolean[] {true, false} : new boolean[] {true}) {
            int[] got = new Generator(m)
                    .generate(
                            new int[][] {ints(g.get("prompt_ids"))},
                            GenerationConfig.greedy(expected.length).withCache(cache))
                    .first();
            assertArrayEquals(expected, got, model + " greedy ids (cache " + cache + ")");
        }
    }

    /** Runs a config and records every step's logits. */
    static List<INDArray> run(GenerationConfig cfg, int[][] out) {
        Generator.Batch b = Generator.leftPad(PROMPTS, 50256);
        List<INDArray> logits = new ArrayList<>();
        Generator.Result r =
                new Generator(tiny).generate(b.ids(), b.mask(), cfg, (step, l, next) -> logits.add(l.dup()));
        System.arraycopy(r.newIds(), 0, out, 0, out.length);
        return logits;
    }

    @ParameterizedTest(name = "sample={0}")
    @CsvSource({"false", "true"})
    void cachedDecodingEqualsRecomputingTheFullSequence(boolean sample) {
        GenerationConfig cfg = GenerationConfig.greedy(24);
        if (sample) cfg = cfg.sampling(0.9, 40, 0.95, 1234);
        int[][] cachedIds = new int[3][], fullIds = new int[3][];
        List<INDArray> cached = run(cfg.withCache(true), cachedIds);
        List<INDArray> full = run(cfg.withCache(false), fullIds);
        assertArrayEquals(fullIds, cachedIds, "same ids with and without the KV cache");
        assertEquals(full.size(), cached.size());
        for (int s = 0; s < full.size(); s++)
            Fixture.assertClose("logits at step " + s, full.get(s), cached.get(s), 1e-4);
    }

    @Test
    void batchedLeftPaddedEqualsOnePromptAtATime() {
        GenerationConfig cfg = GenerationConfig.greedy(16);
        int[][] batched = new Generator(tiny).generate(PROMPTS, cfg).newIds();
        for (int i = 0; i < PROMPTS.length; i++) {
            assertArrayEquals(
                    new Generator(tiny).generate(new int[][] {PROMPTS[i]}, cfg).first(), batched[i], "row " + i);
        }
    }

    @Test
    void seededSamplingIsReproducibleAndTopK1IsGreedy() {
        GenerationConfig base = GenerationConfig.greedy(10);
        Generator g = new Generator(tiny);
        int[][] a = g.generate(PROMPTS, base.sampling(1.0, 0, 1.0, 7)).newIds();
        int[][] b = g.generate(PROMPTS, base.sampling(1.0, 0, 1.0, 7)).newIds();
        int[][] c = g.generate(PROMPTS, base.sampling(1.0, 0, 1.0, 8)).newIds();
        assertArrayEquals(a, b, "same seed, same tokens");
        assertNotEquals(
                java.util.Arrays.deepToString(a), java.util.Arrays.deepToString(c), "another seed draws other tokens");
        assertArrayEquals(
                g.generate(PROMPTS, base).newIds(),
                g.generate(PROMPTS, base.sampling(0.7, 1, 1.0, 3)).newIds(),
                "top-k 1 = greedy");
        assertArrayEquals(
                g.generate(PROMPTS, base).newIds(),
                g.generate(PROMPTS, base.sampling(1.0, 0, 1e-9, 3)).newIds(),
                "tiny top-p = greedy");
    }

    @Test
    void samplingFiltersFollowHfOrder() {
        // logits: token 0..4 with probabilities after temperature 1: softmax([3, 2, 1, 0, -inf])
        INDArray row = org.nd4j.linalg.factory.Nd4j.createFromArray(3f, 2f, 1f, 0f, -1e30f);
        java.util.SplittableRandom rng = new java.util.SplittableRandom(1);
        int[] counts = new int[5];
        GenerationConfig topK2 = GenerationConfig.greedy(1).sampling(1.0, 2, 1.0, 0);
        for (int i = 0; i < 4000; i++) counts[Generator.choose(row, topK2, rng)]++;
        assertEquals(0, counts[2] + counts[3] + counts[4], "top-k 2 keeps tokens 0 and 1 only");
        assertEquals(Math.E / (Math.E + 1), counts[0] / 4000.0, 0.03);
        // p = [.644, .237, .087, .032]: top-p 0.8 keeps 0 and 1 (mass before token 1 = .644 < .8, before token 2 =
        // .881)
        int[] c2 = new int[5];
        GenerationConfig topP = GenerationConfig.greedy(1).sampling(1.0, 0, 0.8, 0);
        for (int i = 0; i < 4000; i++) c2[Generator.choose(row, topP, rng)]++;
        assertEquals(0, c2[2] + c2[3] + c2[4]);
        assertEquals(0, Generator.choose(row, GenerationConfig.greedy(1), rng), "greedy = argmax");
    }

    @Test
    void stopsAtEosAndPadsFinishedRows() {
        // Greedy row 0 of the fixture prompt emits 13387, 32539, 32539, 40671 ...: make 40671 the EOS.
        GenerationConfig cfg = GenerationConfig.greedy(12).withEos(40671, 50256);
        int[][] r = new Generator(tiny).generate(PROMPTS, cfg).newIds();
        assertArrayEquals(new int[] {13387, 32539, 32539, 40671}, r[0], "stops after emitting EOS");
        int[][] free = new Generator(tiny)
                .generate(PROMPTS, GenerationConfig.greedy(12))
                .newIds();
        for (int i = 1; i < 3; i++) {
            int stop = -1;
            for (int j = 0; j < free[i].length && stop < 0; j++) if (free[i][j] == 40671) stop = j;
            int[] want = stop < 0 ? free[i] : java.util.Arrays.copyOf(free[i], stop + 1);
            assertArrayEquals(want, r[i], "row " + i + " is unaffected by row 0 finishing");
        }
        assertEquals(
                0,
                new Generator(tiny)
                        .generate(PROMPTS, GenerationConfig.greedy(0))
                        .first()
                        .length);
    }
}
