package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The step-workspace contract: forward + backward inside {@link Workspaces#STEP} (with and without checkpointed
 * segments) gives bit-identical losses and gradients to the same work outside any workspace, cycle after cycle
 * (later cycles reuse, and overwrite, the learned buffer), and the leaf gradients stay valid after the workspace
 * closed and was reused.
 */
class WorkspacesTest {

    @Test
    void stepWorkspaceGivesIdenticalGradientsAndLeafGradsSurviveReuse() {
        for (boolean checkpoint : new boolean[] {false, true}) {
            TinyNet net = new TinyNet(3, 16, DataType.FLOAT, 5);
            net.checkpoint = checkpoint;
            for (int cycle = 0; cycle < 4; cycle++) {
                // inputs of different lengths: a longer cycle than the learned one must spill and regrow, not break
                int t = cycle == 2 ? 9 : 6;
                Tensor x = Tensor.parameter(Rand.normal(DataType.FLOAT, 100 + cycle, 1.0, 2, t, 16));
                Tensor xOut = Tensor.parameter(x.data().dup());

                net.zeroGrad();
                Tensor lossOut = net.forward(xOut);
                double outside = lossOut.item();
                lossOut.backward();
                net.forward(xOut).backward(); // a second pass accumulates into the same grads
                INDArray[] want = grads(net, xOut);
                for (int i = 0; i < want.length; i++) want[i] = want[i].dup();

                net.zeroGrad();
                double inside;
                try (var ws = Workspaces.open(Workspaces.STEP)) {
                    Tensor loss = net.forward(x);
                    inside = loss.item();
                    loss.backward();
                }
                try (var ws = Workspaces.open(Workspaces.STEP)) { // reuses the buffer the first pass used
                    net.forward(x).backward();
                }
                assertFalse(Workspaces.active(), "workspace left active");
                // overwrite whatever the step buffer held, then read the gradients
                try (var ws = Workspaces.open(Workspaces.STEP)) {
                    Nd4j.rand(DataType.FLOAT, 64, 1024).addi(1);
                }
                INDArray[] got = grads(net, x);
                assertEquals(outside, inside, 0.0, "loss in cycle " + cycle + " (checkpoint " + checkpoint + ")");
                for (int i = 0; i < want.length; i++) {
                    assertFalse(got[i].isAttached(), "leaf gradient " + i + " lives in a workspace");
                    assertTrue(
                            want[i].equals(got[i]),
                            "gradient " + i + " in cycle " + cycle + " (checkpoint " + checkpoint + ") differs: "
                                    + want[i].sub(got[i]).amaxNumber());
                }
            }
        }
    }

    @Test
    void reopeningAnActiveWorkspaceIsANoOpAndLeverageEscapesIt() {
        INDArray kept;
        try (var outer = Workspaces.open(Workspaces.STEP)) {
            try (var again = Workspaces.open(Workspaces.STEP)) {
                INDArray a = Nd4j.ones(DataType.FLOAT, 3, 3).muli(2);
                kept = Workspaces.leverage(a);
            }
            assertTrue(Workspaces.active(), "the inner no-op scope closed the outer workspace");
        }
        try (var ws = Workspaces.open(Workspaces.STEP)) {
            Nd4j.zeros(DataType.FLOAT, 1024, 64).addi(7);
        }
        assertFalse(kept.isAttached());
        assertEquals(18.0, kept.sumNumber().doubleValue(), 0.0);
    }

    private static INDArray[] grads(TinyNet net, Tensor x) {
        INDArray[] out = new INDArray[net.blocks.length * 6 + 1];
        int k = 0;
        for (Tensor[] p : net.blocks) for (Tensor q : p) out[k++] = q.grad();
        out[k] = x.grad();
        return out;
    }
}
