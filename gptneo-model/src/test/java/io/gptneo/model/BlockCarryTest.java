package io.gptneo.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.gptneo.tensor.GradMode;
import io.gptneo.weights.SharedData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Inference forwards carry block outputs in two buffers the thread keeps between forwards ({@link BlockCarry}): a
 * result must not change when later forwards of other shapes reuse those buffers, and every forward must equal the
 * taped forward, which does not use them.
 */
class BlockCarryTest {
    static GptNeoModel tiny;

    static final int[][] WIDE = {{1026, 373, 257, 27737, 3329, 11}, {15496, 11, 616, 8888, 11, 314}};
    static final int[][] NARROW = {{8888, 11, 314}};
    static final int[][] LONG = {{1026, 373, 257, 27737, 3329, 11, 290, 262, 1751, 6807, 15496, 11}};

    @BeforeAll
    static void load() throws Exception {
        tiny = GptNeoModel.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
    }

    private static float[] inference(int[][] ids) {
        try (var off = GradMode.off()) {
            return tiny.forward(ids, null, null).data().dup().data().asFloat();
        }
    }

    private static float[] taped(int[][] ids) {
        try (var on = GradMode.on()) {
            return tiny.forward(ids, null, null).data().dup().data().asFloat();
        }
    }

    @Test
    void resultsSurviveLaterForwardsOfOtherShapes() {
        INDArray held;
        float[] first;
        try (var off = GradMode.off()) {
            held = tiny.forward(WIDE, null, null).data();
            first = held.dup().data().asFloat();
        }
        float[] narrow = inference(NARROW); // fewer elements: views of the kept buffers
        float[] longer = inference(LONG); // more elements: the kept buffers grow
        float[] last;
        try (var off = GradMode.off()) { // the last block's [B, H] output: a view, must not evict a buffer
            last = tiny.forwardLast(WIDE, null, null, new int[] {5, 2})
                    .data()
                    .dup()
                    .data()
                    .asFloat();
        }
        float[] again = inference(WIDE);

        assertArrayEquals(first, held.dup().data().asFloat(), 0f, "a held result is not overwritten");
        assertArrayEquals(first, again, 0f, "the same input gives the same bits after other shapes");
        assertArrayEquals(taped(NARROW), narrow, 1e-5f, "narrow batch vs the taped forward");
        assertArrayEquals(taped(LONG), longer, 1e-5f, "longer batch vs the taped forward");
        assertArrayEquals(taped(WIDE), first, 1e-5f, "wide batch vs the taped forward");
        int h = (int) held.size(2), t = WIDE[0].length;
        float[] rows = new float[2 * h]; // the full forward's rows at the last indices (5 and 2)
        System.arraycopy(first, 5 * h, rows, 0, h);
        System.arraycopy(first, (t + 2) * h, rows, h, h);
        assertArrayEquals(rows, last, 1e-5f, "forwardLast vs the full forward's rows");
    }
}
