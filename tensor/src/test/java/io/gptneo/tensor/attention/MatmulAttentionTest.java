package io.gptneo.tensor.attention;

import static io.gptneo.tensor.attention.AttentionTestSupport.keyMask;
import static io.gptneo.tensor.attention.AttentionTestSupport.randn;
import static io.gptneo.tensor.attention.AttentionTestSupport.relDiff;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.attention.AttentionKernel.Forward;
import io.gptneo.tensor.attention.AttentionKernel.Grads;
import io.gptneo.tensor.attention.AttentionTestSupport.Pad;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * {@link MatmulAttention} where the model would use it: q, k, v as column blocks of one fused projection
 * {@code [B, T, 3·H·D]} (strided views at offsets, read in place), against the reference.
 */
class MatmulAttentionTest {
    static final int B = 2, H = 3, D = 16;
    static final double TOL = 1e-5;

    @ParameterizedTest
    @EnumSource(Pad.class)
    void readsColumnBlocksOfTheFusedProjectionInPlace(Pad pad) {
        int t = 21, hd = H * D;
        INDArray qkv = randn(11, DataType.FLOAT, 1, B, t, 3 * hd).reshape(B, t, 3 * hd);
        INDArray q = qkv.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(0, hd));
        INDArray k = qkv.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(hd, 2 * hd));
        INDArray v = qkv.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.interval(2 * hd, 3 * hd));
        assertFalse(v.offset() == 0 || v.stride(1) == hd, "v is a strided view at an offset");
        INDArray dOut = randn(12, DataType.FLOAT, 1, B, t, hd).reshape(B, t, hd);
        INDArray mask = keyMask(pad, B, t);
        for (int window : new int[] {0, 4}) {
            AttentionKernel ref = new ReferenceAttention(), mm = new MatmulAttention();
            Forward rf = ref.forwardPacked(q.dup('c'), k.dup('c'), v.dup('c'), H, mask, window, 1.0, true);
            Grads rg = ref.backwardPacked(rf, q.dup('c'), k.dup('c'), v.dup('c'), H, mask, window, 1.0, dOut);
            Forward f = mm.forwardPacked(q, k, v, H, mask, window, 1.0, true);
            Grads g = mm.backwardPacked(f, q, k, v, H, mask, window, 1.0, dOut);
            assertTrue(relDiff(f.out(), rf.out()) <= TOL, "out " + relDiff(f.out(), rf.out()));
            assertTrue(relDiff(g.dq(), rg.dq()) <= TOL, "dq " + relDiff(g.dq(), rg.dq()));
            assertTrue(relDiff(g.dk(), rg.dk()) <= TOL, "dk " + relDiff(g.dk(), rg.dk()));
            assertTrue(relDiff(g.dv(), rg.dv()) <= TOL, "dv " + relDiff(g.dv(), rg.dv()));
        }
    }

    @Test
    void rejectsFloat64AndForeignSavedState() {
        INDArray q = randn(1, DataType.DOUBLE, 1, 1, 4, 4);
        assertThrows(IllegalArgumentException.class, () -> new MatmulAttention().forward(q, q, q, null, 0, 1.0, true));
        INDArray f = q.castTo(DataType.FLOAT);
        Forward fused = new FusedAttention().forward(f, f, f, null, 0, 1.0, true);
        IllegalStateException e = assertThrows(
                IllegalStateException.class, () -> new MatmulAttention().backward(fused, f, f, f, null, 0, 1.0, f));
        assertTrue(e.getMessage().contains("needBackward"), e.getMessage());
    }
}
