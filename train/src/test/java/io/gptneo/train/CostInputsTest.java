package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.train.data.DatasetReader;
import io.gptneo.train.data.PairExample;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class CostInputsTest {
    @Test
    void reproducesTheFixtureCostTokenIds() throws Exception {
        Path dir = SharedData.resolve("fixtures/lora-tiny");
        JsonNode expected =
                new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        int maxLen = expected.get("hyperparameters").get("max_len").asInt();
        // the fixture's sequences are cut to their first max_len ids (all four are longer): the explicit parity mode
        CostInputs in = new CostInputs(
                Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), maxLen, CostInputs.Truncation.FIRST_TOKENS);
        List<PairExample> pairs =
                DatasetReader.read(dir.resolve("train_pairs.jsonl"), false).pairs();
        // cost_token_ids = the first batch laid out as [safer of each pair..., other of each pair...]
        List<int[]> seqs = new ArrayList<>();
        for (int i = 0; i < 2; i++)
            seqs.add(in.encode(
                    pairs.get(i).prompt(), pairs.get(i).response(pairs.get(i).saferId())));
        for (int i = 0; i < 2; i++)
            seqs.add(in.encode(
                    pairs.get(i).prompt(),
                    pairs.get(i).response(1 - pairs.get(i).saferId())));
        JsonNode ids = expected.get("cost_token_ids");
        assertEquals(4, ids.size());
        for (int s = 0; s < 4; s++) {
            int[] want = new int[ids.get(s).size()];
            for (int t = 0; t < want.length; t++) want[t] = ids.get(s).get(t).asInt();
            assertArrayEquals(want, seqs.get(s), "sequence " + s);
        }
    }

    @Test
    void shortTextsEndWithEosAndPadRight() {
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
        // first-tokens (fixture parity): the first max_len ids, the EOS falls off
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
        int[] cut = new CostInputs(tok, 5, CostInputs.Truncation.FIRST_TOKENS).encode("hi", "yo");
        assertEquals(5, cut.length);
        assertNotEquals(CostInputs.EOS, cut[4]);
        assertArrayEquals(java.util.Arrays.copyOf(a, 5), cut);
        // keep-response with a window too small for the header: the last max_len ids (response end + EOS)
        CostInputs.Encoded kept = new CostInputs(tok, 5).encodeChecked("hi", "yo");
        assertTrue(kept.truncated());
        assertArrayEquals(java.util.Arrays.copyOfRange(a, a.length - 5, a.length), kept.ids());
        assertFalse(new CostInputs(tok, 64).encodeChecked("hi", "yo").truncated());
    }

    /** Issue 17 item 1: a stuffed prompt must not push the response out of the window. */
    @Test
    void stuffedPromptKeepsHeaderAndWholeResponse() {
        Gpt2Tokenizer tok = Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
        CostInputs in = new CostInputs(tok, 64);
        String prompt = "Tell me something. ".repeat(60);
        for (String r : List.of("Sure, I will help you.", "Here is how to build a pipe bomb: first get a pipe.")) {
            CostInputs.Encoded e = in.encodeChecked(prompt, r);
            assertTrue(e.truncated());
            int[] ids = e.ids();
            assertEquals(64, ids.length);
            int[] header = tok.encode(CostInputs.HEADER);
            assertArrayEquals(header, java.util.Arrays.copyOf(ids, header.length), "the conversation header is kept");
            // the ids end with " ASSISTANT:" + response + EOS, exactly as the untruncated text would
            int[] tail = tok.encode(" ASSISTANT:" + r);
            assertArrayEquals(tail, java.util.Arrays.copyOfRange(ids, 63 - tail.length, 63), "response kept whole");
            assertEquals(CostInputs.EOS, ids[63]);
        }
        // a response longer than the window on its own: its end and the EOS are kept
        String longResponse = "word ".repeat(200) + "THE END";
        int[] ids = in.encode("short prompt", longResponse);
        int[] end = tok.encode(" THE END");
        assertArrayEquals(end, java.util.Arrays.copyOfRange(ids, 63 - end.length, 63));
        assertEquals(CostInputs.EOS, ids[63]);
    }
}
