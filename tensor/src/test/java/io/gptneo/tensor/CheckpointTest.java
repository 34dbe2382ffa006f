package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

class CheckpointTest {

    @Test
    void identicalGradientsAndFewerRetainedBytes() {
        TinyNet net = new TinyNet(4, 16, DataType.DOUBLE, 7);
        Tensor x = Tensor.parameter(Rand.normal(DataType.DOUBLE, 3, 1.0, 2, 6, 16));

        Tensor plain = net.forward(x);
        long plainBytes = plain.graphSavedBytes();
        plain.backward();
        INDArray[] plainGrads = grads(net, x);

        net.zeroGrad();
        x.zeroGrad();
        net.checkpoint = true;
        Tensor ckpt = net.forward(x);
        long ckptBytes = ckpt.graphSavedBytes();
        ckpt.backward();
        INDArray[] ckptGrads = grads(net, x);

        assertEquals(plain.item(), ckpt.item(), 0.0);
        for (int i = 0; i < plainGrads.length; i++) {
            double diff = plainGrads[i].sub(ckptGrads[i]).amaxNumber().doubleValue();
            assertTrue(diff <= 1e-10, "gradient " + i + " differs by " + diff);
        }
        // Plain keeps every block's intermediates (x2, xhat, gelu input/tanh, ...); checkpointed keeps only the
        // final mean/square node's inputs. Must be several times smaller.
        assertTrue(ckptBytes * 4 < plainBytes, "retained bytes: checkpointed " + ckptBytes + " vs plain " + plainBytes);
    }

    @Test
    void checkpointedSegmentReachesCapturedParametersEvenWithConstantInput() {
        TinyNet net = new TinyNet(2, 8, DataType.DOUBLE, 11);
        net.checkpoint = true;
        Tensor x = Tensor.constant(Rand.normal(DataType.DOUBLE, 5, 1.0, 1, 3, 8));
        net.forward(x).backward();
        for (Tensor[] p : net.blocks)
            for (Tensor t : p) assertNotNull(t.grad(), "parameter got no gradient through a checkpoint");
    }

    @Test
    void checkpointGradCheck() {
        TinyNet net = new TinyNet(2, 4, DataType.DOUBLE, 21);
        net.checkpoint = true;
        Tensor x = Tensor.parameter(Rand.normal(DataType.DOUBLE, 9, 1.0, 1, 3, 4));
        double err = GradCheck.maxRelativeError(
                in -> net.forward(in[0]), new Tensor[] {x, net.blocks[0][2], net.blocks[1][4]}, 1e-6, 3);
        assertTrue(err <= 1e-6, "max relative error " + err);
    }

    private static INDArray[] grads(TinyNet net, Tensor x) {
        INDArray[] out = new INDArray[net.blocks.length * 6 + 1];
        int k = 0;
        for (Tensor[] p : net.blocks) for (Tensor t : p) out[k++] = t.grad().dup();
        out[k] = x.grad().dup();
        return out;
    }
}
