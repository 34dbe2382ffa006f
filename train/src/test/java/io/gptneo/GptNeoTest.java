package io.gptneo;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.model.GenerationConfig;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;

class GptNeoTest {
    static final Path TINY = SharedData.resolve("fixtures/gptneo-tiny");

    static int[] ints(JsonNode a) {
        int[] r = new int[a.size()];
        for (int i = 0; i < r.length; i++) r[i] = a.get(i).asInt();
        return r;
    }

    @Test
    void logitsAndGreedyIdsMatchTheFixture() throws Exception {
        JsonNode exp = new ObjectMapper().readTree(TINY.resolve("expected.json").toFile());
        float[] want;
        try (SafeTensorsFile f = SafeTensorsFile.open(TINY.resolve("expected.safetensors"))) {
            want = f.load("single.logits_last3", DataType.FLOAT)
                    .getRow(2)
                    .dup()
                    .toFloatVector(); // logits after the last token
        }
        try (GptNeo lm = GptNeo.load(TINY)) {
            float[] got = lm.nextTokenLogits(ints(exp.get("single").get("ids")));
            assertEquals(want.length, got.length);
            for (int i = 0; i < got.length; i++)
                assertEquals(want[i], got[i], 1e-4 * Math.max(1, Math.abs(want[i])), "logit " + i);
            int[] prompt = ints(exp.get("greedy").get("prompt_ids")),
                    newIds = ints(exp.get("greedy").get("new_ids"));
            assertArrayEquals(newIds, lm.generate(prompt, GenerationConfig.greedy(newIds.length)));
            // text in, text out: the decoded ids of the same greedy run
            String text = lm.decode(prompt);
            assertArrayEquals(prompt, lm.encode(text));
            assertEquals(lm.decode(newIds), lm.generate(text, GenerationConfig.greedy(newIds.length)));
        }
    }

    /** Generation from several threads at once gives the ids of a sequential run. */
    @Test
    void concurrentGenerationEqualsSequential() throws Exception {
        try (GptNeo lm = GptNeo.load(TINY)) {
            int[] prompt = lm.encode("The safest way to cross a street is");
            GenerationConfig sampled = GenerationConfig.greedy(8).sampling(0.9, 40, 0.95, 7);
            int[] greedy = lm.generate(prompt, GenerationConfig.greedy(8)), drawn = lm.generate(prompt, sampled);
            float[] logits = lm.nextTokenLogits(prompt);
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<Object[]>> fs = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    fs.add(pool.submit(() -> new Object[] {
                        lm.generate(prompt, GenerationConfig.greedy(8)),
                        lm.generate(prompt, sampled),
                        lm.nextTokenLogits(prompt)
                    }));
                }
                for (Future<Object[]> f : fs) {
                    Object[] r = f.get();
                    assertArrayEquals(greedy, (int[]) r[0]);
                    assertArrayEquals(drawn, (int[]) r[1]);
                    assertArrayEquals(logits, (float[]) r[2], 0f);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    @Test
    void badInputNamesTheLimit() throws Exception {
        try (GptNeo lm = GptNeo.load(TINY)) {
            int positions = lm.config().maxPositionEmbeddings();
            int[] prompt = new int[positions - 4];
            GptNeoException e =
                    assertThrows(GptNeoException.class, () -> lm.generate(prompt, GenerationConfig.greedy(10)));
            assertTrue(e.getMessage().contains("max_position_embeddings " + positions), e.getMessage());
            assertEquals(
                    5,
                    lm.generate(prompt, GenerationConfig.greedy(5)).length); // 124 + 4 fed back = 128 positions: fits
            e = assertThrows(GptNeoException.class, () -> lm.nextTokenLogits(new int[positions + 1]));
            assertTrue(e.getMessage().contains("max_position_embeddings"), e.getMessage());
            e = assertThrows(
                    GptNeoException.class,
                    () -> lm.nextTokenLogits(new int[] {1, lm.config().vocabSize()}));
            assertTrue(e.getMessage().contains("vocab_size"), e.getMessage());
            assertThrows(GptNeoException.class, () -> lm.nextTokenLogits(new int[0]));
        }
        assertFalse(GptNeo.version().isBlank());
        assertNotEquals("unknown", GptNeo.version());
    }
}
