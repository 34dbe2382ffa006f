package io.gptneo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Gpt2TokenizerTest {
    static Gpt2Tokenizer tok;

    @BeforeAll
    static void load() {
        tok = Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
    }

    /** All prompts and responses of both data files, in file order. */
    static List<String> dataTexts() throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> texts = new ArrayList<>();
        for (String file : List.of("data/pku_saferlhf_pairs.jsonl", "data/beavertails_qa.jsonl")) {
            for (String line : Files.readAllLines(SharedData.resolve(file), StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                JsonNode row = json.readTree(line);
                for (String field : List.of("prompt", "response", "response_0", "response_1")) {
                    if (row.hasNonNull(field)) texts.add(row.get(field).asText());
                }
            }
        }
        return texts;
    }

    @Test
    void basicsOfTheGpt2Vocabulary() {
        assertEquals(50257, tok.vocabSize());
        assertEquals(50256, tok.eosId());
        assertEquals("<|endoftext|>", tok.token(50256));
        assertEquals("Ġthe", tok.token(262));
        assertEquals("!", tok.token(0));
        assertArrayEquals(new int[] {15496, 995, 0}, tok.encode("Hello world!"));
        assertArrayEquals(new int[0], tok.encode(""));
        assertEquals("", tok.decode(new int[0]));
        assertThrows(IllegalArgumentException.class, () -> tok.token(50257));
        assertThrows(IllegalArgumentException.class, () -> tok.decode(new int[] {-1}));
    }

    @Test
    void preTokenizationRulesOfGpt2() {
        // Contractions are lower-case only and split from the word; "'S" is punctuation followed by a letter.
        assertPieces("don't", "don", "'t");
        assertPieces("I'LL we'll", "I", "'", "LL", " we", "'ll");
        // Runs of spaces: all but the last belong to the whitespace piece, the last one prefixes the word.
        assertPieces("a   b", "a", "  ", " b");
        assertPieces("a \n b", "a", " \n", " b");
        assertPieces("a\nb", "a", "\n", "b");
        assertPieces("end  ", "end", "  ");
        assertPieces("x 123 4.5", "x", " 123", " 4", ".", "5");
        assertPieces("?! ...", "?!", " ...");
        // U+00A0 is \s for Python's regex (not for Java's Character.isWhitespace); U+3000 too.
        assertPieces("a\u00A0\u00A0b", "a", "\u00A0", "\u00A0", "b");
        // U+001F is not \s for Python's regex: it is punctuation, so it joins the space before it.
        assertPieces("a \u001Fb", "a", " \u001F", "b");
    }

    /** Decodes each id of {@code encode(text)} grouped per piece is hard to observe; instead compare concatenations. */
    private static void assertPieces(String text, String... pieces) {
        int[] whole = tok.encode(text);
        List<Integer> joined = new ArrayList<>();
        for (String p : pieces) for (int id : tok.encode(p)) joined.add(id);
        assertArrayEquals(joined.stream().mapToInt(Integer::intValue).toArray(), whole, text);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        List<String> got = new ArrayList<>();
        for (int i = 0; i < b.length; ) {
            int e = PreTokenizer.pieceEnd(b, i, b.length);
            got.add(new String(b, i, e - i, StandardCharsets.UTF_8));
            i = e;
        }
        assertEquals(List.of(pieces), got, "pieces of " + text);
    }

    @Test
    void roundTripsAndMatchesJtokkitOnAllDataTexts() throws IOException {
        List<String> texts = dataTexts();
        assertTrue(texts.size() > 15000, "texts: " + texts.size());
        Encoding r50k = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
        int mismatches = 0;
        long ids = 0;
        for (String t : texts) {
            int[] enc = tok.encode(t);
            ids += enc.length;
            assertEquals(t, tok.decode(enc));
            if (!Arrays.equals(enc, r50k.encodeOrdinary(t).toArray())) mismatches++;
        }
        System.out.println(
                "data round trip: " + texts.size() + " texts, " + ids + " ids, " + mismatches + " jtokkit mismatches");
        assertEquals(0, mismatches);
    }

    @Test
    void endOfTextIsSpecialOnlyWhenAllowed() {
        String text = "Hi<|endoftext|> there";
        assertArrayEquals(new int[] {17250, 50256, 612}, tok.encode(text, true));
        int[] plain = tok.encode(text);
        assertArrayEquals(tok.encode(text, false), plain);
        assertTrue(Arrays.stream(plain).noneMatch(id -> id == 50256));
        // As ordinary text it is "<|", "endoftext", "|>" pieces, and decodes back to the same characters.
        assertArrayEquals(new int[] {17250, 27, 91, 437, 1659, 5239, 91, 29, 612}, plain);
        assertEquals(text, tok.decode(plain));
        assertEquals(text, tok.decode(tok.encode(text, true)));
        assertArrayEquals(new int[] {50256, 50256}, tok.encode("<|endoftext|><|endoftext|>", true));
        assertArrayEquals(new int[] {27, 91, 437, 1659, 5239, 50256}, tok.encode("<|endoftext<|endoftext|>", true));
    }

    @Test
    void invalidUtf8DecodesWithReplacementCharacters() {
        int[] snowman = tok.encode("☃"); // E2 98 83: no single token, so it is split into byte-level tokens
        assertTrue(snowman.length >= 2);
        int[] partial = Arrays.copyOf(snowman, snowman.length - 1);
        assertEquals("\uFFFD", tok.decode(partial));
        assertEquals("a\uFFFDb", tok.decode(concat(tok.encode("a"), partial, tok.encode("b"))));
        // A lone continuation byte and a lone lead byte each become one U+FFFD.
        int cont = byteToken(0x80), lead = byteToken(0xE2);
        assertEquals("\uFFFD", tok.decode(new int[] {cont}));
        int x = tok.encode("x")[0], y = tok.encode("y")[0];
        assertEquals("x\uFFFDy\uFFFD", tok.decode(new int[] {x, lead, y, cont}));
        // E2 80 is the start of a valid 3-byte sequence: one U+FFFD for the maximal subpart, as Python's "replace".
        assertEquals("x\uFFFD", tok.decode(new int[] {x, lead, cont}));
        assertArrayEquals(new byte[] {(byte) 0xE2}, tok.decodeBytes(new int[] {lead}));
        // 0xE2 0x98 0x83 split over tokens still decodes to the character once all bytes are there.
        assertEquals("☃", tok.decode(new int[] {lead, byteToken(0x98), byteToken(0x83)}));
    }

    @Test
    void truncationKeepsWholeCharacters() {
        String text = "안녕하세요 세계"; // every Hangul syllable is split over several byte-level tokens
        int[] all = tok.encode(text);
        for (int max = 0; max <= all.length + 1; max++) {
            int[] cut = tok.encodeTruncated(text, max);
            assertTrue(cut.length <= max);
            assertArrayEquals(Arrays.copyOf(all, cut.length), cut);
            assertTrue(text.startsWith(tok.decode(cut)), "max " + max);
        }
        assertArrayEquals(new int[] {168, 243, 230, 167, 227, 243, 47991, 246}, tok.encodeTruncated(text, 10));
    }

    @Test
    void batchPaddingOnBothSides() {
        List<String> texts = List.of("Hello world!", "Hi", "");
        BatchEncoding right = tok.encodeBatch(texts, 0, Padding.RIGHT, 50256);
        assertArrayEquals(new int[][] {{15496, 995, 0}, {17250, 50256, 50256}, {50256, 50256, 50256}}, right.ids());
        assertArrayEquals(new int[][] {{1, 1, 1}, {1, 0, 0}, {0, 0, 0}}, right.attentionMask());
        assertArrayEquals(new int[] {3, 1, 0}, right.lengths());
        BatchEncoding left = tok.encodeBatch(texts, 0, Padding.LEFT, 7);
        assertArrayEquals(new int[][] {{15496, 995, 0}, {7, 7, 17250}, {7, 7, 7}}, left.ids());
        assertArrayEquals(new int[][] {{1, 1, 1}, {0, 0, 1}, {0, 0, 0}}, left.attentionMask());
        BatchEncoding cut = tok.encodeBatch(texts, 2, Padding.LEFT, 50256);
        assertArrayEquals(new int[][] {{15496, 995}, {50256, 17250}, {50256, 50256}}, cut.ids());
        assertArrayEquals(new int[][] {{1, 1}, {0, 1}, {0, 0}}, cut.attentionMask());
        assertEquals(2, cut.sequenceLength());
        assertEquals(3, cut.batchSize());
        BatchEncoding none = tok.encodeBatch(List.of(), 5, Padding.RIGHT, 0);
        assertEquals(0, none.batchSize());
        assertEquals(0, none.sequenceLength());
    }

    @Test
    void tokenizerJsonAndVocabMergesAgree() throws IOException {
        Path gpt2 = SharedData.resolve("tokenizer/gpt2");
        Gpt2Tokenizer fromJson = Gpt2Tokenizer.fromTokenizerJson(gpt2.resolve("tokenizer.json"));
        Gpt2Tokenizer fromPair =
                Gpt2Tokenizer.fromVocabAndMerges(gpt2.resolve("vocab.json"), gpt2.resolve("merges.txt"));
        Gpt2Tokenizer fixture = Gpt2Tokenizer.load(SharedData.resolve("fixtures/gptneo-tiny"));
        assertEquals(fromJson.vocabSize(), fromPair.vocabSize());
        for (int id = 0; id < fromJson.vocabSize(); id++) {
            assertEquals(fromJson.token(id), fromPair.token(id));
            assertEquals(fromJson.token(id), fixture.token(id));
        }
        List<String> texts = dataTexts().subList(0, 2000);
        for (String t : texts) {
            int[] want = fromJson.encode(t, true);
            assertArrayEquals(want, fromPair.encode(t, true), t);
            assertArrayEquals(want, fixture.encode(t, true), t);
        }
        assertArrayEquals(fromJson.encode("a<|endoftext|>b", true), fromPair.encode("a<|endoftext|>b", true));
    }

    @Test
    void concurrentEncodingIsConsistent() throws Exception {
        // A fresh instance, so threads race on filling the cache (small slots collide often).
        Gpt2Tokenizer fresh = Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
        List<String> texts = dataTexts().subList(0, 3000);
        List<int[]> expected = texts.stream().map(tok::encode).toList();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Integer>> fs = new ArrayList<>();
            for (int w = 0; w < 4; w++) {
                int start = w * 700;
                fs.add(pool.submit(() -> {
                    int ok = 0;
                    for (int i = 0; i < texts.size(); i++) {
                        int k = (start + i) % texts.size();
                        if (Arrays.equals(expected.get(k), fresh.encode(texts.get(k)))) ok++;
                    }
                    return ok;
                }));
            }
            for (Future<Integer> f : fs) assertEquals(texts.size(), f.get());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void loadErrorsNameTheFile(@TempDir Path dir) throws IOException {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(
                e.getMessage().contains("tokenizer.json") && e.getMessage().contains(dir.toString()), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("nope"), e.getMessage());

        Files.writeString(dir.resolve("vocab.json"), "{\"a\": 0,");
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("merges.txt"), e.getMessage());
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\na b\n");
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(e.getMessage().startsWith("malformed vocab.json " + dir.resolve("vocab.json")), e.getMessage());

        Files.copy(
                SharedData.resolve("tokenizer/gpt2/vocab.json"),
                dir.resolve("vocab.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\nĠ t\nthree parts here\n");
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("merges.txt") + " line 3"), e.getMessage());
        Files.writeString(dir.resolve("merges.txt"), "#version: 0.2\nĠ t\nzzzq x\n");
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("zzzq") && e.getMessage().contains("vocab.json"), e.getMessage());

        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\"}}");
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("WordPiece"), e.getMessage());
        Files.writeString(dir.resolve("tokenizer.json"), "not json");
        e = assertThrows(IllegalArgumentException.class, () -> Gpt2Tokenizer.load(dir));
        assertTrue(
                e.getMessage().startsWith("malformed tokenizer.json " + dir.resolve("tokenizer.json")), e.getMessage());
    }

    /** Id of the vocabulary entry that stands for the single byte b. */
    private static int byteToken(int b) {
        String t = String.valueOf(ByteLevel.charOf(b));
        for (int id = 0; id < tok.vocabSize(); id++) if (tok.token(id).equals(t)) return id;
        throw new AssertionError("no token for byte " + b);
    }

    private static int[] concat(int[]... parts) {
        return Arrays.stream(parts).flatMapToInt(Arrays::stream).toArray();
    }
}
