package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.AttentionTestSupport.allFinite;
import static io.gptneo.tensor.attention.AttentionTestSupport.keyMask;
import static io.gptneo.tensor.attention.AttentionTestSupport.randn;
import static io.gptneo.tensor.attention.AttentionTestSupport.relDiff;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.attention.AttentionKernel.Forward;
import io.gptneo.tensor.attention.AttentionKernel.Grads;
import io.gptneo.tensor.attention.AttentionTestSupport.Pad;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Fused, matmul and nd4j kernels against the reference in float32: forward and backward, all mask kinds. */
class AttentionKernelAgreementTest {
    static final int B = 2, H = 3;
    static final double TOL = 1e-5;

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (int t : new int[] {1, 7, 33, 70})
            for (int d : new int[] {4, 16})
                for (int window : new int[] {0, 1, 5, 256})
                    for (Pad pad : Pad.values()) list.add(Arguments.of(t, d, window, pad, 1.0));
        // D = 64 and several tiles (BQ = BK = 64): the 4-vector micro-kernel path, windows crossing tiles; non-unit
        // scale
        for (int window : new int[] {0, 37})
            for (Pad pad : Pad.values()) list.add(Arguments.of(150, 64, window, pad, window == 0 ? 0.125 : 1.0));
        return list.stream();
    }

    @ParameterizedTest(name = "T={0} D={1} window={2} pad={3} scale={4}")
    @MethodSource("cases")
    void kernelsAgreeWithReference(int t, int d, int window, Pad pad, double scale) {
        INDArray q = randn(1, DataType.FLOAT, B, H, t, d), k = randn(2, DataType.FLOAT, B, H, t, d);
        INDArray v = randn(3, DataType.FLOAT, B, H, t, d), dOut = randn(4, DataType.FLOAT, B, H, t, d);
        INDArray mask = keyMask(pad, B, t);
        AttentionKernel ref = new ReferenceAttention();
        Forward rf = ref.forward(q, k, v, mask, window, scale, true);
        Grads rg = ref.backward(rf, q, k, v, mask, window, scale, dOut);
        assertTrue(
                allFinite(rf.out()) && allFinite(rg.dq()) && allFinite(rg.dk()) && allFinite(rg.dv()),
                "reference finite");
        // the reference output must not be trivially zero: real rows attend to something
        assertTrue(rf.out().amaxNumber().doubleValue() > 0.05);

        boolean nd4jTooSlow = t > 70; // one op call per query row: fine but pointless for the big case
        for (AttentionKernel kern : nd4jTooSlow
                ? List.of(new FusedAttention(), new MatmulAttention())
                : List.of(new FusedAttention(), new MatmulAttention(), new Nd4jDotProductAttention())) {
            Forward f = kern.forward(q, k, v, mask, window, scale, true);
            assertEquals(DataType.FLOAT, f.out().dataType());
            assertTrue(allFinite(f.out()), kern.name() + " out finite");
            assertTrue(relDiff(f.out(), rf.out()) <= TOL, kern.name() + " out diff " + relDiff(f.out(), rf.out()));
            Grads g = kern.backward(f, q, k, v, mask, window, scale, dOut);
            for (String n : new String[] {"dq", "dk", "dv"}) {
                INDArray a = n.equals("dq") ? g.dq() : n.equals("dk") ? g.dk() : g.dv();
                INDArray r = n.equals("dq") ? rg.dq() : n.equals("dk") ? rg.dk() : rg.dv();
                assertTrue(allFinite(a), kern.name() + " " + n + " finite");
                assertTrue(relDiff(a, r) <= TOL, kern.name() + " " + n + " diff " + relDiff(a, r));
            }
        }

        // the packed layout [B, T, H*D] (fused indexes it in place; the others go through the permuting default)
        INDArray qp = Packing.fromHeads(q),
                kp = Packing.fromHeads(k),
                vp = Packing.fromHeads(v),
                dp = Packing.fromHeads(dOut);
        for (AttentionKernel kern : nd4jTooSlow
                ? List.of(new FusedAttention(), new MatmulAttention(), ref)
                : List.of(new FusedAttention(), new MatmulAttention(), new Nd4jDotProductAttention(), ref)) {
            Forward f = kern.forwardPacked(qp, kp, vp, H, mask, window, scale, true);
            assertEquals(
                    List.of((long) B, (long) t, (long) H * d),
                    List.of(f.out().size(0), f.out().size(1), f.out().size(2)));
            INDArray ro = Packing.fromHeads(rf.out());
            assertTrue(relDiff(f.out(), ro) <= TOL, kern.name() + " packed out diff " + relDiff(f.out(), ro));
            Grads g = kern.backwardPacked(f, qp, kp, vp, H, mask, window, scale, dp);
            INDArray[] got = {g.dq(), g.dk(), g.dv()}, want = {rg.dq(), rg.dk(), rg.dv()};
            for (int i = 0; i < 3; i++) {
                INDArray r = Packing.fromHeads(want[i]);
                assertTrue(
                        relDiff(got[i], r) <= TOL, kern.name() + " packed grad " + i + " diff " + relDiff(got[i], r));
            }
        }
    }
}
