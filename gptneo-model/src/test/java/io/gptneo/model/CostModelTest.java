package io.gptneo.model;

import static io.gptneo.model.Fixture.assertClose;
import static io.gptneo.model.Fixture.ints2;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Cost head: fixture costs through the Linear adapter hook, and padding-side invariance. */
class CostModelTest {

    /** y += (x Aᵀ) Bᵀ · scale: the PEFT LoRA formula, written here only to drive the fixture through {@link LinearAdapter}. */
    record TestLora(Tensor a, Tensor b, double scale) implements LinearAdapter {
        @Override
        public Tensor delta(Tensor x) {
            return Ops.scale(Ops.linear(Ops.linear(x, a, null), b, null), scale);
        }

        @Override
        public List<Tensor> parameters() {
            return List.of(a, b);
        }
    }

    @Test
    void loraTinyCostsMatchFixture() throws Exception {
        Fixture f = new Fixture("gptneo-tiny", "lora-tiny");
        CostModel cm = CostModel.load(f.modelDir, DataType.FLOAT);
        Path adapter = SharedData.resolve("fixtures/lora-tiny/adapter_init/adapter_model.safetensors");
        String p = "base_model.model.";
        try (SafeTensorsFile st = SafeTensorsFile.open(adapter)) {
            cm.head().setWeight(Tensor.constant(st.load(p + "score.weight", DataType.FLOAT)));
            for (var e : cm.model().linears().entrySet()) {
                if (!e.getKey().endsWith("q_proj") && !e.getKey().endsWith("v_proj")) continue;
                Tensor a = Tensor.constant(st.load(p + e.getKey() + ".lora_A.weight", DataType.FLOAT));
                Tensor b = Tensor.constant(st.load(p + e.getKey() + ".lora_B.weight", DataType.FLOAT));
                e.getValue().setAdapter(new TestLora(a, b, 8.0 / 4));
            }
        }
        int[][] ids = ints2(f.expected.get("cost_token_ids"));
        try (var off = GradMode.off()) {
            Tensor costs = cm.costs(ids, null);
            assertArrayEquals(new long[] {4}, costs.shape());
            assertClose("lora-tiny costs", f.array("costs"), costs.data(), Fixture.TOL);
        }
    }

    @Test
    void costIsScoreAtLastRealTokenForEitherPaddingSide() throws Exception {
        CostModel cm = CostModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
        assertEquals(
                List.of(1L, 32L),
                Arrays.stream(cm.head().weight().shape()).boxed().toList(),
                "score.weight [1, H]");
        int pad = 50256;
        int[][] seqs = {
            {464, 3290, 318, 257, 1310, 3290, 13},
            {15496, 11, 995},
            {40, 716, 1016, 284, 1561, 546, 262, 1266, 835, 13, 314}
        };
        int t = 11;
        int[][] rIds = new int[3][t], rMask = new int[3][t], lIds = new int[3][t], lMask = new int[3][t];
        double[] alone = new double[3];
        try (var off = GradMode.off()) {
            for (int i = 0; i < 3; i++) {
                int n = seqs[i].length;
                Arrays.fill(rIds[i], pad);
                Arrays.fill(lIds[i], pad);
                System.arraycopy(seqs[i], 0, rIds[i], 0, n);
                System.arraycopy(seqs[i], 0, lIds[i], t - n, n);
                Arrays.fill(rMask[i], 0, n, 1);
                Arrays.fill(lMask[i], t - n, t, 1);
                // Definition: score · h at the last token of the unpadded sequence.
                Tensor h = cm.model().forward(new int[][] {seqs[i]}, null, null);
                INDArray last = h.data()
                        .get(
                                org.nd4j.linalg.indexing.NDArrayIndex.point(0),
                                org.nd4j.linalg.indexing.NDArrayIndex.point(n - 1));
                alone[i] = last.mul(cm.head().weight().data().getRow(0))
                        .sumNumber()
                        .doubleValue();
            }
            INDArray expected = Nd4j.createFromArray(alone);
            assertClose("right-padded costs", expected, cm.costs(rIds, rMask).data(), 1e-5);
            assertClose("left-padded costs", expected, cm.costs(lIds, lMask).data(), 1e-5);
        }
        assertArrayEquals(new int[] {6, 2, 10}, ScoreHead.lastRealIndex(rMask, 3, t));
        assertArrayEquals(new int[] {10, 10, 10}, ScoreHead.lastRealIndex(lMask, 3, t));
    }

    @Test
    void classificationHeadGivesOneScorePerLabel() throws Exception {
        GptNeoModel m = GptNeoModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
        ScoreHead head = ScoreHead.normal(3, 32, 7, DataType.FLOAT);
        try (var off = GradMode.off()) {
            Tensor h = m.forward(
                    new int[][] {{1, 2, 3, 4}, {5, 6, 50256, 50256}}, new int[][] {{1, 1, 1, 1}, {1, 1, 0, 0}}, null);
            Tensor s = head.scores(h, new int[][] {{1, 1, 1, 1}, {1, 1, 0, 0}});
            assertArrayEquals(new long[] {2, 3}, s.shape());
            INDArray h1 = h.data()
                    .get(
                            org.nd4j.linalg.indexing.NDArrayIndex.point(1),
                            org.nd4j.linalg.indexing.NDArrayIndex.point(1));
            assertClose(
                    "row 1 label scores",
                    head.weight().data().mmul(h1.reshape(32, 1)).reshape(3),
                    s.data().getRow(1),
                    1e-6);
        }
    }
}
