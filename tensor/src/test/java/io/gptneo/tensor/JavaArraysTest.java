package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** Which arrays the Java kernels read without a copy, and that every layout still reads back in c-order. */
class JavaArraysTest {

    @Test
    void wholeArrayReshapesAreExactButViewsAreNot() {
        INDArray a = Rand.normal(DataType.FLOAT, 1, 1.0, 6, 8);
        INDArray r = a.reshape('c', 2, 3, 8);
        assertTrue(JavaArrays.exactCOrder(a));
        assertTrue(JavaArrays.exactCOrder(r), "a c-order reshape of a whole array shares its buffer in c-order");
        assertSame(r, JavaArrays.contiguous(r));
        assertFalse(JavaArrays.exactCOrder(a.transpose()), "transpose");
        assertFalse(JavaArrays.exactCOrder(r.permute(1, 0, 2)), "permute");
        assertFalse(
                JavaArrays.exactCOrder(a.get(NDArrayIndex.interval(1, 3), NDArrayIndex.all())),
                "row slice at an offset");
        assertFalse(
                JavaArrays.exactCOrder(a.get(NDArrayIndex.interval(0, 3), NDArrayIndex.all())), "prefix of the buffer");
        assertFalse(JavaArrays.exactCOrder(a.dup('f')), "f-order");
    }

    @Test
    void everyLayoutReadsBackInCOrder() {
        INDArray a = Rand.normal(DataType.FLOAT, 2, 1.0, 4, 5);
        float[] want = a.dup('c').data().asFloat();
        for (INDArray x : new INDArray[] {
            a,
            a.dup('f'),
            a.transpose().dup('c').transpose(),
            a.reshape('c', 2, 10).reshape('c', 4, 5)
        }) {
            assertArrayEquals(want, JavaArrays.floats(x), 0f);
        }
        INDArray p = Rand.normal(DataType.FLOAT, 3, 1.0, 2, 3, 4).permute(2, 0, 1);
        assertArrayEquals(p.dup('c').data().asFloat(), JavaArrays.floats(p), 0f);
    }

    @Test
    void columnBlocksReadRowByRowInCOrder() {
        INDArray y = Rand.normal(DataType.FLOAT, 4, 1.0, 6, 9); // [B·T, 3·H] as linearSplit makes it
        for (long c0 : new long[] {0, 3, 6}) {
            INDArray part = y.get(NDArrayIndex.all(), NDArrayIndex.interval(c0, c0 + 3));
            assertTrue(JavaArrays.rowStride(part) == 9, "rows 9 apart");
            for (INDArray x : new INDArray[] {part, part.reshape(2, 3, 3)}) {
                assertArrayEquals(x.dup('c').data().asFloat(), JavaArrays.floats(x), 0f, "columns from " + c0);
            }
        }
        INDArray rows = y.get(NDArrayIndex.interval(2, 5), NDArrayIndex.interval(3, 6)); // rows at an offset too
        assertArrayEquals(rows.dup('c').data().asFloat(), JavaArrays.floats(rows), 0f);
        assertTrue(JavaArrays.rowStride(y.transpose()) == 0, "a transpose is not row-strided");
    }

    @Test
    void copyRowsWritesColumnBlocksAsAssignDoes() {
        INDArray src = Rand.normal(DataType.FLOAT, 5, 1.0, 6, 3);
        for (long c0 : new long[] {0, 3, 6}) {
            INDArray y = Rand.normal(DataType.FLOAT, 6, 1.0, 6, 9), want = y.dup();
            want.get(NDArrayIndex.all(), NDArrayIndex.interval(c0, c0 + 3)).assign(src);
            JavaArrays.copyRows(src, y.get(NDArrayIndex.all(), NDArrayIndex.interval(c0, c0 + 3)));
            assertArrayEquals(want.data().asFloat(), y.data().asFloat(), 0f, "block from column " + c0);
        }
        // a strided source at an offset into a block of rows at an offset; the other elements untouched
        INDArray big = Rand.normal(DataType.FLOAT, 7, 1.0, 5, 8), y = Rand.normal(DataType.FLOAT, 8, 1.0, 4, 9);
        INDArray s = big.get(NDArrayIndex.interval(1, 4), NDArrayIndex.interval(2, 5)), want = y.dup();
        want.get(NDArrayIndex.interval(1, 4), NDArrayIndex.interval(6, 9)).assign(s);
        JavaArrays.copyRows(s, y.get(NDArrayIndex.interval(1, 4), NDArrayIndex.interval(6, 9)));
        assertArrayEquals(want.data().asFloat(), y.data().asFloat(), 0f, "views at offsets");
        // layouts it does not take (a transpose) still come out right, through assign
        INDArray t = Rand.normal(DataType.FLOAT, 9, 1.0, 3, 6).transpose(),
                d = y.dup().get(NDArrayIndex.all(), NDArrayIndex.interval(0, 3)).dup();
        JavaArrays.copyRows(t.get(NDArrayIndex.interval(0, 4), NDArrayIndex.all()), d);
        assertArrayEquals(
                t.get(NDArrayIndex.interval(0, 4), NDArrayIndex.all())
                        .dup('c')
                        .data()
                        .asFloat(),
                d.data().asFloat(),
                0f);
        org.junit.jupiter.api.Assertions.assertThrows(
                IllegalArgumentException.class, () -> JavaArrays.copyRows(src, y), "shapes differ");
    }
}
