package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.AttentionTestSupport.allFinite;
import static io.gptneo.tensor.attention.AttentionTestSupport.keyMask;
import static io.gptneo.tensor.attention.AttentionTestSupport.randn;
import static io.gptneo.tensor.attention.AttentionTestSupport.relDiff;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.attention.AttentionKernel.Forward;
import io.gptneo.tensor.attention.AttentionKernel.Grads;
import io.gptneo.tensor.attention.AttentionTestSupport.Pad;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

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

    /**
     * The fused kernel reads strided views in place (each head task copies its own rows): q, k, v as column blocks of
     * one [B, T, 3·H·D] product (the model's fused q/k/v projection), dOut as a column block too, and heads-major
     * operands as permuted views. Results must equal, bit for bit, those from c-order copies of the same values.
     */
    @ParameterizedTest(name = "T={0} window={1}")
    @CsvSource({"70, 0", "150, 37"})
    void fusedReadsViewsInPlace(int t, int window) {
        int d = 16;
        long hd = (long) H * d;
        INDArray qkv = Nd4j.rand(DataType.FLOAT, B, t, 3 * hd).subi(0.5),
                grads = Nd4j.rand(DataType.FLOAT, B, t, 2 * hd).subi(0.5);
        INDArray[] views = new INDArray[4];
        for (int i = 0; i < 3; i++)
            views[i] = qkv.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(i * hd, (i + 1) * hd));
        views[3] = grads.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(hd, 2 * hd));
        INDArray mask = keyMask(Pad.RIGHT, B, t);
        AttentionKernel fused = new FusedAttention();
        INDArray[] copies = new INDArray[4];
        for (int i = 0; i < 4; i++) {
            assertTrue(views[i].stride(1) != hd, "a strided view");
            copies[i] = views[i].dup('c');
        }
        Forward fv = fused.forwardPacked(views[0], views[1], views[2], H, mask, window, 1.0, true);
        Forward fc = fused.forwardPacked(copies[0], copies[1], copies[2], H, mask, window, 1.0, true);
        same(fc.out(), fv.out());
        Grads gv = fused.backwardPacked(fv, views[0], views[1], views[2], H, mask, window, 1.0, views[3]);
        Grads gc = fused.backwardPacked(fc, copies[0], copies[1], copies[2], H, mask, window, 1.0, copies[3]);
        same(gc.dq(), gv.dq());
        same(gc.dk(), gv.dk());
        same(gc.dv(), gv.dv());
        // views of one array in: gradients out as the same column blocks of one new array (the fused q/k/v product's
        // backward takes that array whole); separate arrays in: separate arrays out
        long[] at = JavaArrays.columnsOfOneRegion(flat(gv.dq()), flat(gv.dk()), flat(gv.dv()));
        assertArrayEquals(new long[] {0, hd, 2 * hd}, at, "dq, dk, dv as q, k, v lie in qkv");
        assertEquals(3 * hd, gv.dq().stride(1), "rows of the gradients' array as long as qkv's");
        assertEquals(null, JavaArrays.columnsOfOneRegion(flat(gc.dq()), flat(gc.dk()), flat(gc.dv())));

        // heads-major [B, H, T, D] as permuted views of [B, T, H, D]: not c-order, unit stride in D
        INDArray[] hv = new INDArray[4], hc = new INDArray[4];
        for (int i = 0; i < 4; i++) {
            hv[i] = copies[i].reshape('c', B, t, H, d).permute(0, 2, 1, 3);
            hc[i] = hv[i].dup('c');
        }
        Forward hfv = fused.forward(hv[0], hv[1], hv[2], mask, window, 1.0, true);
        Forward hfc = fused.forward(hc[0], hc[1], hc[2], mask, window, 1.0, true);
        same(hfc.out(), hfv.out());
        same(Packing.fromHeads(hfc.out()), fc.out());
        Grads hgv = fused.backward(hfv, hv[0], hv[1], hv[2], mask, window, 1.0, hv[3]);
        Grads hgc = fused.backward(hfc, hc[0], hc[1], hc[2], mask, window, 1.0, hc[3]);
        same(hgc.dq(), hgv.dq());
        same(hgc.dk(), hgv.dk());
        same(hgc.dv(), hgv.dv());
        same(Packing.fromHeads(hgc.dk()), gc.dk());
    }

    private static INDArray flat(INDArray a) {
        return a.reshape('c', a.size(0) * a.size(1), a.size(2));
    }

    private static void same(INDArray want, INDArray got) {
        assertEquals(Arrays.toString(want.shape()), Arrays.toString(got.shape()));
        assertArrayEquals(want.dup('c').data().asFloat(), got.dup('c').data().asFloat());
    }
}
