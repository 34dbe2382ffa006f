package io.gptneo.lora;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.model.Linear;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

class PeftAdapterTest {
    @TempDir
    Path tmp;

    /** Linears shaped like gptneo-tiny (hidden 32, 4 layers) and a [1, 32] score head. */
    record Fake(Map<String, Linear> linears, Map<String, Tensor> params, Tensor score) {
        static Fake tiny() {
            Map<String, Linear> lin = new LinkedHashMap<>();
            for (int l = 0; l < 4; l++) {
                for (String n : List.of("q_proj", "k_proj", "v_proj", "out_proj")) {
                    String name = "transformer.h." + l + ".attn.attention." + n;
                    lin.put(
                            name,
                            new Linear(
                                    name,
                                    Tensor.constant(
                                            Rand.uniform(DataType.FLOAT, l * 10L + n.hashCode(), -1, 1, 32, 32)),
                                    null));
                }
            }
            Map<String, Tensor> params = new LinkedHashMap<>();
            lin.values().forEach(x -> params.put(x.name() + ".weight", x.weight()));
            Tensor score = Tensor.parameter(Nd4j.zeros(DataType.FLOAT, 1, 32)).named("score.weight");
            params.put("score.weight", score);
            return new Fake(lin, params, score);
        }

        LoraModel inject(LoraConfig cfg, long seed) {
            return LoraModel.inject(linears, params, Map.of("score.weight", score), cfg, seed);
        }
    }

    @Test
    void fixtureAdapterConfigAndKeysMapOntoTheModel() throws IOException {
        Path dir = SharedData.resolve("fixtures/lora-tiny/adapter_init");
        LoraConfig cfg = PeftAdapter.readConfig(dir);
        assertEquals(4, cfg.r());
        assertEquals(8.0, cfg.alpha());
        assertEquals(0.0, cfg.dropout());
        assertEquals(List.of("q_proj", "v_proj"), cfg.targetModules());
        assertEquals(List.of("score"), cfg.modulesToSave());
        assertEquals(2.0, cfg.scaling());
        Fake f = Fake.tiny();
        LoraModel m = f.inject(cfg, 0);
        PeftAdapter.loadWeights(dir, m); // every key used, every shape right
        try (SafeTensorsFile st = SafeTensorsFile.open(dir.resolve(PeftAdapter.WEIGHTS_FILE))) {
            assertEquals(
                    new TreeSet<>(st.names()), new TreeSet<>(m.namedTrainable().keySet()));
            var a = st.load("base_model.model.transformer.h.2.attn.attention.v_proj.lora_A.weight", DataType.FLOAT);
            assertEquals(
                    a,
                    m.adapter("transformer.h.2.attn.attention.v_proj").loraA().data());
            assertEquals(
                    st.load("base_model.model.score.weight", DataType.FLOAT),
                    f.score().data());
        }
        // 4 layers × 2 adapters × (4·32 + 32·4) + score 32
        assertEquals(8 * 256 + 32, m.trainableParamCount());
    }

    @Test
    void saveThenLoadRoundTripsConfigAndTensors() throws IOException {
        LoraConfig cfg = new LoraConfig(
                4, 16, 0.1, List.of(".*\\.(q_proj|out_proj)"), true, LoraConfig.Init.GAUSSIAN, List.of("score"));
        Fake f = Fake.tiny();
        LoraModel m = f.inject(cfg, 5);
        int i = 0;
        for (LoraLinear l : m.adapters()) l.loraB().setData(Rand.uniform(DataType.FLOAT, 100 + i++, -1, 1, 32, 4));
        f.score().setData(Rand.uniform(DataType.FLOAT, 99, -1, 1, 1, 32));
        Path out = tmp.resolve("adapter");
        PeftAdapter.save(out, m, null, "gptneo-tiny");
        try (var files = Files.list(out)) {
            assertEquals(
                    List.of("adapter_config.json", "adapter_model.safetensors"),
                    files.map(p -> p.getFileName().toString()).sorted().toList(),
                    "no temporaries left behind");
        }
        JsonNode json =
                new ObjectMapper().readTree(out.resolve("adapter_config.json").toFile());
        assertEquals("LORA", json.get("peft_type").asText());
        assertEquals("SEQ_CLS", json.get("task_type").asText());
        assertEquals(16, json.get("lora_alpha").asInt());
        assertTrue(json.get("target_modules").isTextual(), "a regex is saved as a string, as PEFT does");
        assertTrue(json.get("use_rslora").asBoolean());
        assertEquals("gaussian", json.get("init_lora_weights").asText());
        assertEquals("gptneo-tiny", json.get("base_model_name_or_path").asText());

        LoraConfig back = PeftAdapter.readConfig(out);
        assertEquals(cfg, back);
        Fake g = Fake.tiny();
        LoraModel m2 = g.inject(back, 77); // another init seed: values must come from the file
        PeftAdapter.loadWeights(out, m2);
        for (var e : m.namedTrainable().entrySet()) {
            assertEquals(
                    e.getValue().data(), m2.namedTrainable().get(e.getKey()).data(), e.getKey());
        }
        assertEquals(8, m2.adapters().size());
    }

    @Test
    void mismatchedAdaptersAreRejectedWithTheKey() throws IOException {
        Fake f = Fake.tiny();
        LoraModel m = f.inject(LoraConfig.of(4, 8, 0, List.of("q_proj", "v_proj")), 1);
        Path out = tmp.resolve("a");
        PeftAdapter.save(out, m, null, null);
        // a model with k_proj adapters too: missing tensors
        LoraModel wider = Fake.tiny().inject(LoraConfig.of(4, 8, 0, List.of("q_proj", "k_proj", "v_proj")), 1);
        IOException e1 = assertThrows(IOException.class, () -> PeftAdapter.loadWeights(out, wider));
        assertTrue(e1.getMessage().contains("k_proj.lora_A.weight"), e1.getMessage());
        // another rank: shapes differ
        LoraModel r8 = Fake.tiny().inject(LoraConfig.of(8, 8, 0, List.of("q_proj", "v_proj")), 1);
        IOException e2 = assertThrows(IOException.class, () -> PeftAdapter.loadWeights(out, r8));
        assertTrue(e2.getMessage().contains("shape"), e2.getMessage());
        // fewer adapters: unused tensors
        LoraModel narrow = Fake.tiny().inject(LoraConfig.of(4, 8, 0, List.of("q_proj")), 1);
        IOException e3 = assertThrows(IOException.class, () -> PeftAdapter.loadWeights(out, narrow));
        assertTrue(e3.getMessage().contains("v_proj"), e3.getMessage());
        IOException e4 = assertThrows(IOException.class, () -> PeftAdapter.readConfig(tmp.resolve("nothing")));
        assertTrue(e4.getMessage().contains("adapter_config.json"));
        Files.writeString(
                out.resolve("adapter_config.json"),
                "{\"peft_type\":\"IA3\",\"r\":4,\"lora_alpha\":8,\"target_modules\":[\"q_proj\"]}");
        assertThrows(IOException.class, () -> PeftAdapter.readConfig(out));
    }
}
