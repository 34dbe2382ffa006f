package io.gptneo.tensor;

import static io.gptneo.tensor.NativeVectors.LOAD_FLOATS;
import static io.gptneo.tensor.NativeVectors.STORE_FLOATS;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Fast float32 sums: {@code a + b} with the Vector API on the arrays' own memory (reference: ND4J's add), and the
 * gradient of a row gather (reference: {@link Reference#scatterAddRows}). {@link Kernels} decides when they apply.
 * Why: the residual adds and the backward pass's gradient sums are [B·T, H] adds, where ND4J's op costs more in
 * setup and waking its OpenMP team than in arithmetic.
 */
final class FastAdd {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final int BLOCK = 1 << 16;

    private FastAdd() {}

    /** A new array a + b, both FLOAT of one shape. */
    static INDArray add(INDArray a, INDArray b) {
        try (FloatView av = FloatView.read(a);
                FloatView bv = FloatView.read(b);
                FloatView out = FloatView.create(a.shape())) {
            run(av, bv, out);
            return out.array();
        }
    }

    /** a += b in place; a must be a whole c-order FLOAT array. */
    static INDArray addi(INDArray a, INDArray b) {
        try (FloatView av = FloatView.update(a);
                FloatView bv = FloatView.read(b)) {
            run(av, bv, av);
            return a;
        }
    }

    private static void run(FloatView a, FloatView b, FloatView out) {
        NativeMemory ab = a.mem, bb = b.mem, ob = out.mem;
        Blocks.run(a.length(), BLOCK, (lo, hi) -> add(ab, bb, ob, lo, hi));
    }

    private static void add(NativeMemory a, NativeMemory b, NativeMemory out, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        try {
            for (; i < end; i += SP.length()) {
                FloatVector x = (FloatVector) LOAD_FLOATS.invokeExact(SP, a, i * 4);
                FloatVector y = (FloatVector) LOAD_FLOATS.invokeExact(SP, b, i * 4);
                STORE_FLOATS.invokeExact(x.add(y), out, i * 4);
            }
        } catch (Throwable t) {
            throw NativeVectors.rethrow(t);
        }
        for (; i < hi; i++) out.buf.putFloat(i * 4, a.buf.getFloat(i * 4) + b.buf.getFloat(i * 4));
    }

    /**
     * Zeros of {@code tableShape [N, C]} with row {@code index[i]} += {@code g[i]} (g FLOAT [len, C]): duplicates are
     * summed here in index order, so libnd4j's scatter_add sees each row once (given duplicates, it sums them in a
     * thread-dependent order and two runs differed in the last bits).
     */
    static INDArray scatterAddRows(long[] tableShape, int[] index, INDArray g) {
        INDArray out = Nd4j.zeros(g.dataType(), tableShape);
        if (index.length == 0) return out;
        int c = Math.toIntExact(tableShape[1]);
        Reference.Slots s = Reference.Slots.of(index);
        int[] rows = s.rows(), slot = s.slot();
        float[] gs = JavaArrays.floats(g), acc = new float[rows.length * c];
        for (int i = 0; i < index.length; i++)
            for (int j = 0, a = slot[i] * c, b = i * c; j < c; j++) acc[a + j] += gs[b + j];
        Reference.scatterAdd(out, rows, JavaArrays.array(acc, rows.length, c));
        return out;
    }
}
