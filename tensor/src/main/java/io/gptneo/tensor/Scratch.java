package io.gptneo.tensor;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Named per-thread float buffers that the Java kernels stage operands in, each grown to the largest request and
 * reused, contents undefined. Why: the kernels copy [B·T, H]-sized operands dozens of
 * times per step, and fresh arrays each time made the young generation grow without bound. A kernel uses its
 * thread's buffers only until it returns (its parallel chunks run inside the call and call no kernel themselves),
 * so kernels may share them.
 */
public enum Scratch {
    /** Attention operands and results. */
    Q,
    K,
    V,
    OUT,
    DOUT,
    DQ,
    DK,
    DV;

    private final ThreadLocal<float[]> buffer = ThreadLocal.withInitial(() -> new float[0]);

    /** This thread's buffer with room for n values. */
    public float[] floats(int n) {
        float[] b = buffer.get();
        if (b.length < n) buffer.set(b = new float[n]);
        return b;
    }

    /** The elements of {@code a} (c-order, as float) in this thread's buffer. */
    public float[] copyOf(INDArray a) {
        return JavaArrays.floats(a, floats(Math.toIntExact(a.length())));
    }
}
