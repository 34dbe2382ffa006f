package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** The vector add equals ND4J's add exactly: several blocks, a ragged tail, views, in place, and the fallbacks. */
class FastAddTest {
    @Test void equalsNd4jAddBitForBit() {
        INDArray a = Rand.normal(DataType.FLOAT, 1, 1.0, 3, 70_001), b = Rand.normal(DataType.FLOAT, 2, 1.0, 3, 70_001);
        INDArray want = a.add(b);
        assertEquals(want, FastAdd.add(a, b));
        assertEquals(want.transpose(), FastAdd.add(a.transpose(), b.transpose()), "views are copied to c-order first");
        INDArray acc = a.dup('c');
        assertSame(acc, FastAdd.addi(acc, b));
        assertEquals(want, acc);
        INDArray small = Rand.normal(DataType.FLOAT, 3, 1.0, 5, 7);            // below the size threshold: ND4J
        assertEquals(small.add(small), FastAdd.add(small, small));
        INDArray d = Rand.normal(DataType.DOUBLE, 4, 1.0, 40, 70);             // double: ND4J
        assertEquals(d.add(d), FastAdd.add(d, d));
    }
}
