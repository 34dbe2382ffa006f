package io.gptneo.model;

import static io.gptneo.model.Fixture.TOL;
import static io.gptneo.model.Fixture.assertClose;
import static io.gptneo.model.Fixture.ints;
import static io.gptneo.model.Fixture.ints2;

import com.fasterxml.jackson.databind.JsonNode;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Float32 parity with the fixtures' float64 oracle (HF GPT-Neo semantics): hidden states after ln_f, logits and
 * lm_loss within 1e-4 for one sequence, a right-padded and a left-padded batch. The legacy checkpoint (mask buffers,
 * explicit lm_head) must reproduce gptneo-tiny's values.
 */
class GptNeoParityTest {

    static Stream<Arguments> fixtures() {
        return Stream.of(
                Arguments.of("gptneo-tiny", "gptneo-tiny"),
                Arguments.of("gptneo-tiny-legacy", "gptneo-tiny"),
                Arguments.of("gptneo-tiny-bf16-sharded", "gptneo-tiny-bf16-sharded"),
                Arguments.of("gptneo-tiny-f16", "gptneo-tiny-f16"),
                Arguments.of(
                        "torch:tiny-bf16-bin", "gptneo-tiny-bf16-sharded")); // pytorch_model.bin shards, tied lm_head
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void singleSequence(String model, String oracle) throws Exception {
        Fixture f = new Fixture(model, oracle);
        GptNeoModel m = GptNeoModel.load(f.modelDir, DataType.FLOAT);
        JsonNode s = f.expected.get("single");
        int[][] ids = {ints(s.get("ids"))};
        int t = ids[0].length;
        try (var off = GradMode.off()) {
            Tensor hidden = m.forward(ids, null, null); // [1, T, H]
            assertClose(
                    model + " single.hidden",
                    f.array("single.hidden"),
                    hidden.data().get(NDArrayIndex.point(0)),
                    TOL);
            INDArray logits = m.logits(hidden).data(); // [1, T, V]
            INDArray last3 = logits.get(NDArrayIndex.point(0), NDArrayIndex.interval(t - 3, t), NDArrayIndex.all());
            assertClose(model + " single.logits_last3", f.array("single.logits_last3"), last3, TOL);
            assertClose(
                    model + " lm_loss",
                    s.get("lm_loss").asDouble(),
                    m.lmLoss(ids, null).item(),
                    TOL);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void rightPaddedBatch(String model, String oracle) throws Exception {
        Fixture f = new Fixture(model, oracle);
        GptNeoModel m = GptNeoModel.load(f.modelDir, DataType.FLOAT);
        JsonNode r = f.expected.get("right_pad");
        int[][] ids = ints2(r.get("input_ids")), mask = ints2(r.get("attention_mask"));
        try (var off = GradMode.off()) {
            Tensor hidden = m.forward(ids, mask, null);
            INDArray logits = m.logits(hidden).data();
            INDArray eh = f.array("right_pad.hidden"), el = f.array("right_pad.logits_last_real");
            for (int b = 0; b < ids.length; b++) {
                int last = -1;
                for (int j = 0; j < mask[b].length; j++) {
                    if (mask[b][j] == 0) continue;
                    last = j;
                    assertClose(
                            model + " right_pad.hidden[" + b + "," + j + "]",
                            eh.get(NDArrayIndex.point(b), NDArrayIndex.point(j), NDArrayIndex.all()),
                            hidden.data().get(NDArrayIndex.point(b), NDArrayIndex.point(j), NDArrayIndex.all()),
                            TOL);
                }
                assertClose(
                        model + " right_pad.logits_last_real[" + b + "]",
                        el.getRow(b),
                        logits.get(NDArrayIndex.point(b), NDArrayIndex.point(last), NDArrayIndex.all()),
                        TOL);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void leftPaddedBatch(String model, String oracle) throws Exception {
        Fixture f = new Fixture(model, oracle);
        GptNeoModel m = GptNeoModel.load(f.modelDir, DataType.FLOAT);
        JsonNode l = f.expected.get("left_pad");
        int[][] ids = ints2(l.get("input_ids")), mask = ints2(l.get("attention_mask"));
        int[][] pos = GptNeoModel.positionsFromMask(mask);
        org.junit.jupiter.api.Assertions.assertArrayEquals(
                ints2(l.get("position_ids")), pos, "position ids = cumsum(mask) - 1, 1 on pads");
        try (var off = GradMode.off()) {
            Tensor hidden = m.forward(ids, mask, pos);
            INDArray eh = f.array("left_pad.hidden");
            for (int b = 0; b < ids.length; b++) {
                for (int j = 0; j < mask[b].length; j++) {
                    if (mask[b][j] == 0) continue;
                    assertClose(
                            model + " left_pad.hidden[" + b + "," + j + "]",
                            eh.get(NDArrayIndex.point(b), NDArrayIndex.point(j), NDArrayIndex.all()),
                            hidden.data().get(NDArrayIndex.point(b), NDArrayIndex.point(j), NDArrayIndex.all()),
                            TOL);
                }
            }
            assertClose(
                    model + " left_pad.logits_last",
                    f.array("left_pad.logits_last"),
                    m.lastLogits(hidden).data(),
                    TOL);
        }
    }
}
