package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.attention.AttentionKernel;
import java.util.Arrays;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Every operation's backward against central finite differences in float64 (relative error ≤ 1e-6). */
class OpsGradCheckTest {
    static final double TOL = 1e-6;
    static long seed = 1;

    static Tensor p(long... shape) {
        return Tensor.parameter(Rand.uniform(DataType.DOUBLE, seed++, -1, 1, shape));
    }

    /** A non-contiguous input: a permuted view of a parameter. */
    static Tensor permuted(Tensor base, int... dims) {
        return Ops.permute(base, dims);
    }

    static void check(String what, Function<Tensor[], Tensor> f, Tensor... in) {
        double err = GradCheck.maxRelativeError(f, in, 1e-6, 42);
        assertTrue(err <= TOL, what + ": max relative error " + err);
    }

    @Test
    void addSubMulDivWithBroadcasting() {
        check("add", t -> Ops.add(t[0], t[1]), p(2, 3, 4), p(4));
        check("add bcast middle", t -> Ops.add(t[0], t[1]), p(2, 3, 4), p(2, 1, 4));
        check("sub", t -> Ops.sub(t[0], t[1]), p(3, 1), p(2, 3, 4));
        check("mul", t -> Ops.mul(t[0], t[1]), p(2, 3, 4), p(3, 1));
        Tensor denom = Tensor.parameter(Rand.uniform(DataType.DOUBLE, 7, 0.5, 2.0, 1, 4));
        check("div", t -> Ops.div(t[0], t[1]), p(2, 3, 4), denom);
    }

    @Test
    void nonContiguousInputs() {
        Tensor a = p(3, 4, 2);
        check("mul permuted", t -> Ops.mul(permuted(t[0], 2, 0, 1), t[1]), a, p(2, 3, 4));
        check("linear on permuted", t -> Ops.linear(permuted(t[0], 1, 0, 2), t[1], t[2]), p(3, 4, 5), p(6, 5), p(6));
        check("layerNorm on permuted", t -> Ops.layerNorm(permuted(t[0], 1, 0), t[1], t[2], 1e-5), p(5, 3), p(5), p(5));
        check("softmax on transposed", t -> Ops.softmax(Ops.transpose(t[0], 0, 1)), p(4, 3));
    }

    @Test
    void unaryOps() {
        check("scale", t -> Ops.scale(t[0], -2.5), p(3, 2));
        check("addScalar", t -> Ops.addScalar(t[0], 3), p(3, 2));
        check("exp", t -> Ops.exp(t[0]), p(3, 2));
        check("log", t -> Ops.log(t[0]), Tensor.parameter(Rand.uniform(DataType.DOUBLE, 3, 0.5, 2, 3, 2)));
        check("tanh", t -> Ops.tanh(t[0]), p(3, 2));
        check("square", t -> Ops.square(t[0]), p(3, 2));
        check("gelu", t -> Ops.gelu(t[0]), Tensor.parameter(Rand.uniform(DataType.DOUBLE, 4, -4, 4, 5, 7)));
        check("logSigmoid", t -> Ops.logSigmoid(t[0]), Tensor.parameter(Rand.uniform(DataType.DOUBLE, 5, -8, 8, 4, 5)));
    }

    @Test
    void reductionsAndShapes() {
        check("sum", t -> Ops.sum(t[0]), p(2, 3));
        check("mean", t -> Ops.mean(t[0]), p(2, 3));
        check("sum dims", t -> Ops.sum(t[0], 0, 2), p(2, 3, 4));
        check("mean dim", t -> Ops.mean(t[0], -1), p(2, 3, 4));
        check("reshape", t -> Ops.reshape(t[0], 6, -1), p(2, 3, 4));
        check("permute", t -> Ops.permute(t[0], 2, 0, 1), p(2, 3, 4));
        check("transpose", t -> Ops.transpose(t[0], 1, 2), p(2, 3, 4));
        check("slice", t -> Ops.slice(t[0], 1, 1, 3), p(2, 4, 3));
        check("concat", t -> Ops.concat(1, t[0], t[1]), p(2, 2, 3), p(2, 1, 3));
        check("contiguous", t -> Ops.contiguous(permuted(t[0], 1, 0)), p(2, 3));
    }

    @Test
    void linearAlgebra() {
        check("matmul 2d", t -> Ops.matmul(t[0], t[1]), p(3, 4), p(4, 5));
        check("matmul batch x 2d", t -> Ops.matmul(t[0], t[1]), p(2, 3, 4), p(4, 5));
        check("bmm", t -> Ops.matmul(t[0], t[1]), p(2, 2, 3, 4), p(2, 2, 4, 5));
        check("linear", t -> Ops.linear(t[0], t[1], t[2]), p(2, 3, 4), p(5, 4), p(5));
        check("linear no bias", t -> Ops.linear(t[0], t[1], null), p(3, 4), p(5, 4));
    }

    @Test
    void lookupNormSoftmaxLosses() {
        check("gatherRows with duplicates", t -> Ops.gatherRows(t[0], new int[] {2, 0, 2, 4}), p(5, 3));
        check("embedding", t -> Ops.embedding(t[0], new int[][] {{1, 3, 1}, {0, 4, 4}}), p(5, 3));
        check("layerNorm", t -> Ops.layerNorm(t[0], t[1], t[2], 1e-5), p(2, 3, 6), p(6), p(6));
        check("softmax", t -> Ops.softmax(t[0]), p(2, 3, 5));
        check("logSoftmax", t -> Ops.logSoftmax(t[0]), p(2, 3, 5));
        check(
                "crossEntropy",
                t -> Ops.crossEntropy(t[0], new int[] {1, -100, 4, 0}, -100),
                Tensor.parameter(Rand.uniform(DataType.DOUBLE, 9, -3, 3, 4, 6)));
        INDArray mask = Nd4j.createFromArray(new double[][] {{0, 1, 0}, {1, 0, 0}});
        check("maskedFill", t -> Ops.maskedFill(t[0], mask, -7), p(2, 3));
        check("dropout (fixed seed)", t -> Ops.dropout(t[0], 0.3, 1234), p(4, 5));
    }

    /** The attention operation (tape node around the reference, which serves float64): global, local, and with padding. */
    @Test
    void attentionOpThroughEveryKernel() {
        INDArray pad = Nd4j.createFromArray(new double[][] {{1, 1, 1, 1, 1}, {0, 0, 1, 1, 1}}); // left padding
        for (String name : new String[] {"reference"}) {
            AttentionKernel kernel = Kernels.attention(name);
            check(
                    name + " global",
                    t -> Ops.attention(t[0], t[1], t[2], null, 0, 1.0, kernel),
                    p(2, 2, 5, 3),
                    p(2, 2, 5, 3),
                    p(2, 2, 5, 3));
            check(
                    name + " local w=2",
                    t -> Ops.attention(t[0], t[1], t[2], null, 2, 1.0, kernel),
                    p(1, 2, 5, 3),
                    p(1, 2, 5, 3),
                    p(1, 2, 5, 3));
            // Fully padded query rows are ignored by callers: check through the rows that have a real key.
            check(
                    name + " padded",
                    t -> Ops.slice(Ops.attention(t[0], t[1], t[2], pad, 3, 1.0, kernel), 2, 2, 5),
                    p(2, 1, 5, 3),
                    p(2, 1, 5, 3),
                    p(2, 1, 5, 3));
            // packed [B, T, H*D] with two heads of 3
            check(
                    name + " packed global",
                    t -> Ops.attentionPacked(t[0], t[1], t[2], 2, null, 0, 1.0, kernel),
                    p(2, 5, 6),
                    p(2, 5, 6),
                    p(2, 5, 6));
            check(
                    name + " packed padded local",
                    t -> Ops.slice(Ops.attentionPacked(t[0], t[1], t[2], 2, pad, 3, 1.0, kernel), 1, 2, 5),
                    p(2, 5, 6),
                    p(2, 5, 6),
                    p(2, 5, 6));
        }
    }

    /** The fused LoRA linear: every input trainable, with and without dropout, on a permuted (non-contiguous) input. */
    @Test
    void loraLinear() {
        check(
                "loraLinear dropout 0.3",
                t -> Ops.loraLinear(t[0], t[1], t[2], t[3], t[4], 2.0, 0.3, 77),
                p(2, 3, 5),
                p(4, 5),
                p(4),
                p(2, 5),
                p(4, 2));
        check(
                "loraLinear no dropout, no bias",
                t -> Ops.loraLinear(t[0], t[1], null, t[2], t[3], 0.5, 0, 1),
                p(3, 5),
                p(4, 5),
                p(2, 5),
                p(4, 2));
        check(
                "loraLinear on permuted",
                t -> Ops.loraLinear(permuted(t[0], 1, 0, 2), t[1], t[2], t[3], t[4], 1.5, 0.2, 5),
                p(3, 2, 5),
                p(4, 5),
                p(4),
                p(3, 5),
                p(4, 3));
    }

    /**
     * Fused and composed LoRA layers agree in float32: output and every gradient, dropout drawn alike. Shapes cover
     * the float side path's vector tails (widths and ranks that are not multiples of the vector length or of its
     * register blocks) and several parallel row and column blocks.
     */
    @Test
    void loraLinearMatchesTheComposition() {
        int[][] shapes = {{9, 16, 12, 4}, {70, 19, 13, 11}, {70, 300, 260, 8}}; // rows per batch item, in, out, r
        for (int[] sh : shapes)
            for (double drop : new double[] {0, 0.25}) {
                DataType f = DataType.FLOAT;
                int t = sh[0], in = sh[1], outF = sh[2], r = sh[3];
                INDArray x = Rand.normal(f, 1, 1.0, 2, t, in),
                        w = Rand.normal(f, 2, 0.2, outF, in),
                        bias = Rand.normal(f, 3, 1.0, outF);
                INDArray a = Rand.normal(f, 4, 0.3, r, in),
                        b = Rand.normal(f, 5, 0.3, outF, r),
                        up = Rand.normal(f, 6, 1.0, 2, t, outF);
                Tensor[] fused = {
                    Tensor.parameter(x.dup()),
                    Tensor.parameter(w.dup()),
                    Tensor.parameter(bias.dup()),
                    Tensor.parameter(a.dup()),
                    Tensor.parameter(b.dup())
                };
                Tensor[] comp = {
                    Tensor.parameter(x.dup()),
                    Tensor.parameter(w.dup()),
                    Tensor.parameter(bias.dup()),
                    Tensor.parameter(a.dup()),
                    Tensor.parameter(b.dup())
                };
                Tensor yf = Ops.loraLinear(fused[0], fused[1], fused[2], fused[3], fused[4], 2.0, drop, 4242);
                Tensor yc = Ops.add(
                        Ops.linear(comp[0], comp[1], comp[2]),
                        Ops.scale(
                                Ops.linear(Ops.linear(Ops.dropout(comp[0], drop, 4242), comp[3], null), comp[4], null),
                                2.0));
                String at = Arrays.toString(sh) + " drop " + drop;
                assertTrue(
                        yf.data().equalsWithEps(yc.data(), 1e-4),
                        at + " output max diff " + yf.data().sub(yc.data()).amaxNumber());
                yf.backward(up.dup());
                yc.backward(up.dup());
                String[] names = {"x", "W", "bias", "A", "B"};
                for (int i = 0; i < names.length; i++) {
                    INDArray gf = fused[i].grad(), gc = comp[i].grad();
                    double scale = 1 + gc.amaxNumber().doubleValue();
                    assertTrue(
                            gf.sub(gc).amaxNumber().doubleValue() <= 1e-5 * scale,
                            at + " d" + names[i] + " max diff " + gf.sub(gc).amaxNumber());
                }
            }
    }

    @Test
    void crossEntropyMatchesDefinition() {
        INDArray logits = Rand.uniform(DataType.DOUBLE, 11, -3, 3, 3, 5);
        int[] targets = {4, 0, 2};
        double expected = 0;
        for (int i = 0; i < 3; i++) {
            double lse = 0;
            for (int j = 0; j < 5; j++) lse += Math.exp(logits.getDouble(i, j));
            expected += Math.log(lse) - logits.getDouble(i, targets[i]);
        }
        assertEquals(
                expected / 3,
                Ops.crossEntropy(Tensor.constant(logits), targets, -100).item(),
                1e-12);
    }

    @Test
    void dropoutIsSeededAndScaled() {
        Tensor x = Tensor.constant(Nd4j.ones(DataType.DOUBLE, 1000));
        INDArray a = Ops.dropout(x, 0.25, 99).data(),
                b = Ops.dropout(x, 0.25, 99).data(),
                c = Ops.dropout(x, 0.25, 100).data();
        assertEquals(a, b);
        assertTrue(!a.equals(c));
        double kept = a.neq(0).castTo(DataType.DOUBLE).sumNumber().doubleValue();
        assertEquals(750, kept, 60); // ~Binomial(1000, 0.75)
        assertEquals(1 / 0.75, a.maxNumber().doubleValue(), 1e-12);
    }

    @Test
    void logSigmoidIsStableForLargeInputs() {
        Tensor x = Tensor.constant(Nd4j.createFromArray(-1000.0, 0.0, 1000.0));
        INDArray y = Ops.logSigmoid(x).data();
        assertEquals(-1000.0, y.getDouble(0), 1e-9);
        assertEquals(Math.log(0.5), y.getDouble(1), 1e-12);
        assertEquals(0.0, y.getDouble(2), 1e-12);
    }
}
