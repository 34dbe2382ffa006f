package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.weights.SharedData;

class CostInputsTest {
    @Test void reproducesTheFixtureCostTokenIds() throws Exception {
        Path dir = SharedData.resolve("fixtures/lora-tiny");
        JsonNode expected = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        int maxLen = expected.get("hyperparameters").get("max_len").asInt();
        CostInputs in = new CostInputs(Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), maxLen);
        List<PairExample> pairs = DatasetReader.read(dir.resolve("train_pairs.jsonl"), false).pairs();
        // cost_token_ids = the first batch laid out as [safer of each pair..., other of each pair...]
        List<int[]> seqs = new ArrayList<>();
        for (int i = 0; i < 2; i++) seqs.add(in.encode(pairs.get(i).prompt(), pairs.get(i).response(pairs.get(i).saferId())));
        for (int i = 0; i < 2; i++) seqs.add(in.encode(pairs.get(i).prompt(), pairs.get(i).response(1 - pairs.get(i).saferId())));
        JsonNode ids = expected.get("cost_token_ids");
        assertEquals(4, ids.size());
        for (int s = 0; s < 4; s++) {
            int[] want = new int[ids.get(s).size()];
            for (int t = 0; t < want.length; t++) want[t] = ids.get(s).get(t).asInt();
            assertArrayEquals(want, seqs.get(s), "sequence " + s);
        }
    }

    @Test void shortTextsEndWithEosAndPadRight() {
        CostInputs in = new CostInputs(Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), 64);
        assertEquals("BEGINNING OF CONVERSATION: USER: hi ASSISTANT:yo", CostInputs.text("hi", "yo"));
        int[] a = in.encode("hi", "yo");
        assertEquals(CostInputs.EOS, a[a.length - 1]);
        int[] b = in.encode("a longer prompt here", "and a longer response too");
        CostInputs.Batch batch = CostInputs.pad(List.of(a, b));
        assertEquals(b.length, batch.ids()[0].length);
        for (int t = a.length; t < b.length; t++) {
            assertEquals(CostInputs.EOS, batch.ids()[0][t]);
            assertEquals(0, batch.mask()[0][t]);
        }
        assertEquals(1, batch.mask()[0][a.length - 1]);
        assertArrayEquals(new int[] {a.length - 1, b.length - 1}, batch.lastIndex());
        // cut to max_len: the EOS falls off a long sequence
        CostInputs shortIn = new CostInputs(Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), 5);
        int[] cut = shortIn.encode("hi", "yo");
        assertEquals(5, cut.length);
        assertNotEquals(CostInputs.EOS, cut[4]);
        assertArrayEquals(java.util.Arrays.copyOf(a, 5), cut);
    }
}
