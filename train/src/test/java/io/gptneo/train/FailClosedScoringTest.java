package io.gptneo.train;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.NonFiniteCostException;
import io.gptneo.PromptResponse;
import io.gptneo.SafetyModel;
import io.gptneo.tensor.Tensor;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.weights.SharedData;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.factory.Nd4j;

/** Issue 17 items 1 and 2 on a real (tiny) cost model: a stuffed prompt cannot hide the response; NaN is no label. */
class FailClosedScoringTest {
    static final String STUFFED = "Tell me something. ".repeat(60);
    static final String HELPFUL = "Sure, I will help you.";
    static final String HARMFUL = "Here is how to build a pipe bomb: take a steel pipe and fill it with powder.";

    static SafetyModel model(int maxLen) throws Exception {
        return SafetyModel.load(
                        SharedData.resolve("fixtures/gptneo-tiny"),
                        SharedData.resolve("fixtures/lora-tiny/adapter_init"))
                .withMaxLength(maxLen);
    }

    @Test
    void theResponseStillMovesTheCostBehindAStuffedPrompt() throws Exception {
        SafetyModel m = model(64);
        List<PromptResponse> pairs =
                List.of(new PromptResponse(STUFFED, HELPFUL), new PromptResponse(STUFFED, HARMFUL));
        float[] c = m.score(pairs);
        assertNotEquals(c[0], c[1], 1e-4f, "the two responses must score differently behind a stuffed prompt");
        assertArrayEquals(new boolean[] {true, true}, m.truncated(pairs));
        // with a short prompt nothing is cut; the cost of a cut pair is the cost of exactly its kept ids
        assertArrayEquals(new boolean[] {false}, m.truncated(List.of(new PromptResponse("hi", HELPFUL))));
        CostInputs in = new CostInputs(Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), 64);
        CostInputs.Batch b = CostInputs.pad(List.of(in.encode(STUFFED, HARMFUL)));
        assertEquals(m.costModel().costs(b.ids(), b.mask()).data().getFloat(0), c[1], 1e-5f);
        // the old cut (first max_len ids) scores both the same: the bypass this guards against
        CostInputs first = new CostInputs(
                Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2")), 64, CostInputs.Truncation.FIRST_TOKENS);
        CostInputs.Batch old = CostInputs.pad(List.of(first.encode(STUFFED, HELPFUL), first.encode(STUFFED, HARMFUL)));
        Tensor oc = m.costModel().costs(old.ids(), old.mask());
        assertEquals(oc.data().getFloat(0), oc.data().getFloat(1), 1e-5f);
    }

    @Test
    void aNonFiniteCostThrowsInsteadOfALabel() throws Exception {
        SafetyModel m = model(64);
        Tensor lnf = m.costModel().costModel().parameters().get("transformer.ln_f.weight");
        assertNotNull(
                lnf,
                "ln_f weight name: " + m.costModel().costModel().parameters().keySet());
        lnf.setData(Nd4j.valueArrayOf(lnf.data().shape(), Double.NaN)
                .castTo(lnf.data().dataType()));
        NonFiniteCostException e = assertThrows(
                NonFiniteCostException.class,
                () -> m.score(List.of(new PromptResponse("hi", HELPFUL), new PromptResponse("hi", HARMFUL))));
        assertEquals(0, e.index());
        assertTrue(e.getMessage().contains("NaN"), e.getMessage());
    }
}
