package io.gptneo.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import io.gptneo.PromptResponse;
import io.gptneo.weights.SharedData;

/** {@code serve/eval/classify --model OUT} on a pipeline output folder: the model card names the weights and says what they are. */
class PipelineOutputServeTest {
    @TempDir Path out;

    @Test void aPipelineOutputFolderLoadsThroughItsModelCard() throws Exception {
        Path tiny = SharedData.resolve("fixtures/gptneo-tiny");
        Path weights = Files.createDirectories(out.resolve("adapter"));   // what a from-scratch pipeline run saves there
        for (String f : List.of("config.json", "model.safetensors")) Files.copy(tiny.resolve(f), weights.resolve(f));
        ObjectNode test = new ObjectMapper().createObjectNode();
        test.putObject("beavertails").putObject("model").putObject("accuracy").put("value", 0.75);
        ModelCard.write(out, null, "from scratch: hidden 32", Path.of("beavertails_qa.jsonl"), Path.of("pku_saferlhf_pairs.jsonl"), 10, 20, test);

        ScorerOptions viaCard = new ScorerOptions();
        viaCard.model = out.toString();
        viaCard.maxLength = 64;
        ScorerOptions direct = new ScorerOptions();
        direct.model = tiny.toString();
        direct.maxLength = 64;
        List<PromptResponse> rows = List.of(new PromptResponse("How do I make a bomb?", "I can't help with that."),
                new PromptResponse("Hi", "Hello there"));
        assertArrayEquals(direct.load().score(rows), viaCard.load().score(rows));

        String d = viaCard.describe();
        assertTrue(d.contains("from scratch") && d.contains("not the reference study's") && d.contains("BeaverTails test accuracy 0.750")
                && d.contains("pku_saferlhf_pairs.jsonl: 20 pairs"), d);
        assertEquals(tiny + "", direct.describe());
    }
}
