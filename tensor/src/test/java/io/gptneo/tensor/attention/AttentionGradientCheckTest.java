package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.AttentionTestSupport.keyMask;
import static io.gptneo.tensor.attention.AttentionTestSupport.randn;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.Kernels;
import io.gptneo.tensor.attention.AttentionKernel.Forward;
import io.gptneo.tensor.attention.AttentionKernel.Grads;
import io.gptneo.tensor.attention.AttentionTestSupport.Pad;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * float64 central finite differences of L = sum(out * W) against backward(dOut = W), every element of q, k, v.
 * Criterion per element: |analytic - numeric| <= 1e-6 * max(|analytic|, |numeric|) + 1e-9 (the absolute floor only
 * matters for gradients that are exactly or nearly zero, e.g. padding keys and rows without keys).
 */
class AttentionGradientCheckTest {
    static final int B = 2, H = 2, T = 6, D = 3;
    static final double EPS = 1e-5, REL = 1e-6, ABS = 1e-9;

    static Stream<Arguments> cases() {
        return Stream.of(
                Arguments.of("reference", 0, Pad.NONE, 1.0),
                Arguments.of("reference", 2, Pad.NONE, 1.0),
                Arguments.of("reference", 3, Pad.LEFT, 1.0),
                Arguments.of("reference", 0, Pad.RIGHT, 0.5),
                Arguments.of("reference", 1, Pad.LEFT, 1.0));
    }

    @ParameterizedTest(name = "{0} window={1} pad={2} scale={3}")
    @MethodSource("cases")
    void gradientsMatchFiniteDifferences(String kernelName, int window, Pad pad, double scale) {
        AttentionKernel kern = Kernels.attention(kernelName);
        INDArray q = randn(11, DataType.DOUBLE, B, H, T, D), k = randn(12, DataType.DOUBLE, B, H, T, D);
        INDArray v = randn(13, DataType.DOUBLE, B, H, T, D), w = randn(14, DataType.DOUBLE, B, H, T, D);
        INDArray mask = keyMask(pad, B, T);
        Forward f = kern.forward(q, k, v, mask, window, scale, true);
        Grads g = kern.backward(f, q, k, v, mask, window, scale, w);
        INDArray[] inputs = {q, k, v};
        INDArray[] grads = {g.dq(), g.dk(), g.dv()};
        String[] names = {"dq", "dk", "dv"};
        int nonZero = 0;
        for (int which = 0; which < 3; which++) {
            INDArray x = inputs[which];
            double[] analytic = grads[which].dup('c').data().asDouble();
            for (int idx = 0; idx < x.length(); idx++) {
                double orig = x.getDouble(idx);
                x.putScalar(idx, orig + EPS);
                double lp = kern.forward(q, k, v, mask, window, scale, false)
                        .out()
                        .mul(w)
                        .sumNumber()
                        .doubleValue();
                x.putScalar(idx, orig - EPS);
                double lm = kern.forward(q, k, v, mask, window, scale, false)
                        .out()
                        .mul(w)
                        .sumNumber()
                        .doubleValue();
                x.putScalar(idx, orig);
                double numeric = (lp - lm) / (2 * EPS), a = analytic[idx];
                double tol = REL * Math.max(Math.abs(a), Math.abs(numeric)) + ABS;
                assertTrue(
                        Math.abs(a - numeric) <= tol,
                        kernelName + " " + names[which] + "[" + idx + "]: analytic " + a + " numeric " + numeric);
                if (Math.abs(a) > 1e-3) nonZero++;
            }
        }
        // not vacuous: at least half of the 3 * B*H*T*D entries carry a real gradient (window 1: P = 1, only dv)
        long expected = window == 1 ? q.length() / 2 : 3 * q.length() / 2;
        assertTrue(nonZero > expected, "non-trivial gradient entries: " + nonZero);
    }
}
