package io.gptneo.weights;

import static io.gptneo.weights.AttentionType.GLOBAL;
import static io.gptneo.weights.AttentionType.LOCAL;
import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GptNeoConfigTest {

    @Test
    void real125M() throws Exception {
        GptNeoConfig c = GptNeoConfig.load(SharedData.resolve("models/gpt-neo-125M/config.json"));
        assertEquals(50257, c.vocabSize());
        assertEquals(2048, c.maxPositionEmbeddings());
        assertEquals(768, c.hiddenSize());
        assertEquals(12, c.numLayers());
        assertEquals(12, c.numHeads());
        assertEquals(64, c.headDim());
        assertEquals(3072, c.intermediateSize());
        assertEquals(256, c.windowSize());
        assertEquals(1e-5, c.layerNormEpsilon());
        assertEquals("gelu_new", c.activationFunction());
        assertEquals(50256, c.bosTokenId());
        assertEquals(50256, c.eosTokenId());
        for (int i = 0; i < 12; i++) assertEquals(i % 2 == 0 ? GLOBAL : LOCAL, c.attentionType(i));
    }

    @Test
    void everyFixtureConfig() throws Exception {
        List<Path> configs;
        try (Stream<Path> s = Files.list(SharedData.resolve("fixtures"))) {
            configs = s.map(d -> d.resolve("config.json"))
                    .filter(Files::isRegularFile)
                    .sorted()
                    .toList();
        }
        assertTrue(configs.size() >= 4, "fixture configs: " + configs);
        for (Path p : configs) {
            GptNeoConfig c = GptNeoConfig.load(p);
            // of() defaults: intermediate 4*hidden, eps 1e-5, gelu_new, bos = eos = vocab - 1 = 50256
            assertEquals(GptNeoConfig.of(50257, 128, 32, 4, 4, 8), c, p.toString());
            assertEquals(List.of(GLOBAL, LOCAL, GLOBAL, LOCAL), c.attentionLayers(), p.toString());
            assertEquals(8, c.headDim());
        }
    }

    @Test
    void jsonRoundTrip(@TempDir Path dir) throws Exception {
        GptNeoConfig c =
                GptNeoConfig.of(100, 16, 12, 6, 3, 4, GLOBAL, GLOBAL, LOCAL).withIntermediateSize(40);
        Path p = dir.resolve("config.json");
        c.save(p);
        assertEquals(c, GptNeoConfig.load(p));
        assertTrue(c.toJson().contains("\"attention_types\""));
        String json = Files.readString(p).replaceAll("\\s", "");
        assertTrue(json.contains("\"attention_types\":[[[\"global\",\"global\",\"local\"],2]]"), json);
        GptNeoConfig odd = GptNeoConfig.of(100, 16, 12, 3, 3, 4, LOCAL, GLOBAL, GLOBAL);
        assertEquals(odd, GptNeoConfig.parse(odd.toJson(), "odd"));
    }

    private static String base(String extra) {
        return "{\"vocab_size\":10,\"max_position_embeddings\":8,\"hidden_size\":8,\"num_layers\":2,\"num_heads\":2,"
                + "\"attention_types\":[[[\"global\",\"local\"],1]]" + extra + "}";
    }

    @Test
    void aliasesAndDefaults() throws Exception {
        GptNeoConfig c = GptNeoConfig.parse(
                "{\"vocab_size\":10,\"n_positions\":8,\"n_embd\":8,\"n_layer\":2,\"n_head\":2,"
                        + "\"attention_layers\":[\"local\",\"global\"]}",
                "x.json");
        assertEquals(List.of(LOCAL, GLOBAL), c.attentionLayers());
        assertEquals(32, c.intermediateSize());
        assertEquals(256, c.windowSize());
        GptNeoConfig d = GptNeoConfig.parse(
                "{\"vocab_size\":10,\"max_position_embeddings\":8,\"hidden_size\":8,"
                        + "\"num_hidden_layers\":2,\"num_attention_heads\":4,\"intermediate_size\":20,\"attention_types\":[[[\"global\"],2]]}",
                "y.json");
        assertEquals(4, d.numHeads());
        assertEquals(2, d.numLayers());
        assertEquals(20, d.intermediateSize());
        assertEquals(2, d.headDim());
        assertEquals(
                8,
                GptNeoConfig.parse(base(",\"attention_layers\":[\"global\",\"local\"]"), "z")
                        .hiddenSize());
    }

    @Test
    void errorsNameFieldAndFile(@TempDir Path dir) throws Exception {
        List<String[]> cases = new ArrayList<>();
        cases.add(new String[] {base(",\"activation_function\":\"relu\""), "activation_function 'relu' is not supported"
        });
        cases.add(new String[] {
            base(",\"attention_layers\":[\"local\",\"local\"]"),
            "attention_layers [local, local] disagrees with attention_types"
        });
        cases.add(new String[] {
            base(",\"num_attention_heads\":4"), "num_heads = 2 disagrees with its alias num_attention_heads = 4"
        });
        cases.add(new String[] {base(",\"window_size\":\"big\""), "field window_size must be an integer"});
        cases.add(
                new String[] {base("").replace("\"hidden_size\":8,", ""), "missing required field hidden_size / n_embd"
                });
        cases.add(
                new String[] {base("").replace("1]]", "3]]"), "attention_types expands to 6 layers but num_layers is 2"
                });
        cases.add(new String[] {base("").replace("\"local\"", "\"sparse\""), "attention_types has \"sparse\""});
        cases.add(new String[] {
            base("").replace("\"num_heads\":2", "\"num_heads\":3"), "hidden_size 8 is not divisible by num_heads 3"
        });
        cases.add(new String[] {base("").replace("\"num_heads\":2", "\"num_heads\":0"), "num_heads must be positive"});
        cases.add(new String[] {"{\"vocab_size\":10,", "not valid JSON"});
        cases.add(new String[] {base(",\"model_type\":\"gpt2\""), "model_type 'gpt2' is not gpt_neo"});
        for (String[] c : cases) {
            Path p = dir.resolve("config.json");
            Files.writeString(p, c[0]);
            ConfigException e = assertThrows(ConfigException.class, () -> GptNeoConfig.load(p), c[1]);
            assertTrue(e.getMessage().startsWith(p.toString()), e.getMessage());
            assertTrue(e.getMessage().contains(c[1]), e.getMessage() + " should contain: " + c[1]);
        }
        var missing = assertThrows(ConfigException.class, () -> GptNeoConfig.load(dir.resolve("nope.json")));
        assertTrue(missing.getMessage().contains("nope.json"));
    }

    /** Issue 17 item 10: an oversized hidden_size names itself, not an overflowed intermediate_size. */
    @Test
    void hugeHiddenSizeNamesTheOverflow() {
        ConfigException e = assertThrows(
                ConfigException.class,
                () -> GptNeoConfig.parse(
                        "{\"vocab_size\":10,\"max_position_embeddings\":8,"
                                + "\"hidden_size\":536870912,\"num_layers\":1,\"num_heads\":1,\"attention_types\":[[[\"global\"],1]]}",
                        "big.json"));
        assertTrue(e.getMessage().contains("big.json: hidden_size 536870912 is too large"), e.getMessage());
        assertFalse(e.getMessage().contains("-2147483648"), e.getMessage());
    }
}
