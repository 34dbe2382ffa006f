package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** The kernel boundary: in-place views of whole c-order arrays, c-order copies of other views, write-back on close. */
class FloatViewTest {
    @Test
    void readsWholeArraysInPlaceAndViewsAsCOrderCopies() {
        INDArray a = Rand.normal(DataType.FLOAT, 1, 1.0, 3, 5);
        try (FloatView v = FloatView.read(a)) {
            assertSame(a, v.array());
            assertEquals(a.getFloat(1, 2), v.get(1 * 5 + 2));
        }
        INDArray t = a.transpose(); // [5, 3], f-order view
        try (FloatView v = FloatView.read(t)) {
            assertArrayEquals(t.dup('c').data().asFloat(), JavaArrays.floats(v.array()));
            assertEquals(t.getFloat(4, 1), v.get(4 * 3 + 1));
        }
    }

    @Test
    void updateOfAViewWritesBackOnClose() {
        INDArray a = Rand.normal(DataType.FLOAT, 2, 1.0, 4, 6);
        INDArray want = a.dup().muli(2);
        INDArray view = a.transpose();
        try (FloatView v = FloatView.update(view)) {
            for (int i = 0; i < v.length(); i++) v.put(i, v.get(i) * 2);
        }
        assertEquals(want, a);
    }

    @Test
    void createAndRejects() {
        try (FloatView v = FloatView.create(2, 3)) {
            for (int i = 0; i < 6; i++) v.put(i, i);
            assertEquals(Nd4j.createFromArray(new float[][] {{0, 1, 2}, {3, 4, 5}}), v.array());
        }
        assertThrows(IllegalArgumentException.class, () -> FloatView.read(Nd4j.zeros(DataType.DOUBLE, 2)));
    }
}
