package io.gptneo.tensor;

import org.nd4j.linalg.api.buffer.DataType;

/** A small model-like graph for engine tests: residual blocks of layerNorm → linear → gelu → linear. */
final class TinyNet {
    final Tensor[][] blocks; // per block: gamma, beta, w1 [4C, C], b1, w2 [C, 4C], b2
    boolean checkpoint;

    TinyNet(int layers, int c, DataType dt, long seed) {
        blocks = new Tensor[layers][];
        for (int l = 0; l < layers; l++) {
            long s = seed + 10L * l;
            blocks[l] = new Tensor[] {
                Tensor.parameter(Rand.uniform(dt, s, 0.8, 1.2, c)),
                Tensor.parameter(Rand.uniform(dt, s + 1, -0.1, 0.1, c)),
                Tensor.parameter(Rand.normal(dt, s + 2, 0.3, 4L * c, c)),
                Tensor.parameter(Rand.uniform(dt, s + 3, -0.1, 0.1, 4L * c)),
                Tensor.parameter(Rand.normal(dt, s + 4, 0.3, c, 4L * c)),
                Tensor.parameter(Rand.uniform(dt, s + 5, -0.1, 0.1, c))
            };
        }
    }

    Tensor forward(Tensor x) {
        Tensor h = x;
        for (Tensor[] p : blocks) {
            if (checkpoint) h = Checkpoint.apply(in -> block(in[0], p), h);
            else h = block(h, p);
        }
        return Ops.mean(Ops.square(h));
    }

    private static Tensor block(Tensor h, Tensor[] p) {
        Tensor u = Ops.layerNorm(h, p[0], p[1], 1e-5);
        u = Ops.linear(Ops.gelu(Ops.linear(u, p[2], p[3])), p[4], p[5]);
        return Ops.add(h, u);
    }

    void zeroGrad() {
        for (Tensor[] p : blocks) for (Tensor t : p) t.zeroGrad();
    }
}
