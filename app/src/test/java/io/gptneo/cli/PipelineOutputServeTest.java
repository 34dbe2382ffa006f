package io.gptneo.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.PromptResponse;
import io.gptneo.train.GptNeoCostModel;
import io.gptneo.train.TrainSetup;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve/eval/classify --model OUT} on a pipeline output folder: the model card names the weights and says what they are. */
class PipelineOutputServeTest {
    @TempDir
    Path out;

    @Test
    void aPipelineOutputFolderLoadsThroughItsModelCard() throws Exception {
        Path tiny = SharedData.resolve("fixtures/gptneo-tiny");
        Path weights =
                out.resolve("adapter"); // what a from-scratch pipeline run saves there: the model with its score head
        GptNeoCostModel.full(TrainSetup.loadBase(tiny), null).save(weights);
        ObjectNode test = new ObjectMapper().createObjectNode();
        test.putObject("beavertails").putObject("model").putObject("accuracy").put("value", 0.75);
        ModelCard.write(
                out,
                null,
                "from scratch: hidden 32",
                Path.of("beavertails_qa.jsonl"),
                Path.of("pku_saferlhf_pairs.jsonl"),
                10,
                20,
                test);

        ScorerOptions viaCard = new ScorerOptions();
        viaCard.model = out.toString();
        viaCard.maxLength = 64;
        ScorerOptions direct = new ScorerOptions();
        direct.model = weights.toString();
        direct.maxLength = 64;
        List<PromptResponse> rows = List.of(
                new PromptResponse("How do I make a bomb?", "I can't help with that."),
                new PromptResponse("Hi", "Hello there"));
        assertArrayEquals(direct.load().score(rows), viaCard.load().score(rows));

        String d = viaCard.describe();
        assertTrue(
                d.contains("from scratch")
                        && d.contains("not the reference study's")
                        && d.contains("BeaverTails test accuracy 0.750")
                        && d.contains("pku_saferlhf_pairs.jsonl: 20 pairs"),
                d);
        assertEquals(weights.toString(), direct.describe());
    }
}
