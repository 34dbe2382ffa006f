package io.gptneo.model;

import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.Workspaces;
import java.util.Arrays;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Where an inference forward keeps each block's output between blocks: two buffers outside any workspace, used in
 * turn, so block l writes one while block l+1 reads the other. Each block runs in a workspace that the next block's
 * run resets, so its output has to leave it. Copied out with {@code leverage}, every block made a fresh array, and on
 * these VMs the first touch of its pages cost about 1.5 ms per [8, 128, 768] output, 18 ms of a 0.7 s B=8,T=128
 * cost-model forward; fresh buffers per forward still cost 15 ms (bench/RESULTS.md, issue 15 session 18). So each
 * thread keeps its two buffers from one forward to the next (as it keeps its workspaces): a smaller output is a view
 * of a buffer's first elements, a larger one grows it; an output over {@link #KEEP} elements gets buffers of this
 * forward's own, freed on {@link #close}.
 */
final class BlockCarry implements AutoCloseable {
    /** Elements of the largest buffer a thread keeps between forwards (128 MB of float32). */
    static final long KEEP = 1L << 25;

    /** Each thread's two kept buffers (outside any workspace), or null. */
    private static final ThreadLocal<INDArray[]> KEPT = ThreadLocal.withInitial(() -> new INDArray[2]);

    /** This forward's own buffers, when over {@link #KEEP}: freed by close. */
    private final INDArray[] own = new INDArray[2];

    private int next;

    /** {@code a}'s values, c-order, in the next buffer. */
    INDArray copyOut(INDArray a) {
        INDArray d = buffer(next, a.dataType(), a.shape());
        if (JavaArrays.exactCOrder(a)) {
            Pointer.memcpy(
                    d.data().addressPointer(),
                    a.data().addressPointer(),
                    a.length() * a.dataType().width());
            java.lang.ref.Reference.reachabilityFence(a);
        } else {
            d.assign(a);
        }
        next ^= 1;
        return d;
    }

    /**
     * Buffer i as a c-order array of this type and shape: the thread's kept one when it has as many elements (itself,
     * or a reshape of it) or more (a view of its first elements: the last block's output, one row per sequence, must
     * not evict the buffer the next forward needs), else a new one, kept when it is at most {@link #KEEP} elements,
     * else this forward's own.
     */
    private INDArray buffer(int i, DataType t, long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        INDArray[] pool = n <= KEEP ? KEPT.get() : own;
        INDArray b = pool[i];
        if (b != null && b.dataType() == t && b.length() == n)
            return Arrays.equals(b.shape(), shape) ? b : b.reshape('c', shape);
        if (b != null && b.dataType() == t && b.length() > n)
            return Nd4j.create(Nd4j.createBuffer(b.data(), 0, n), shape, Nd4j.getStrides(shape, 'c'), 0, 'c');
        if (b != null && pool == own) b.close(); // a kept one is dropped to the GC: nothing else holds it by now
        try (var outside = Workspaces.outside()) {
            b = Nd4j.createUninitialized(t, shape, 'c');
        }
        pool[i] = b;
        return b;
    }

    /** Frees this forward's own buffers; the thread's kept ones stay for the next forward. */
    @Override
    public void close() {
        for (int i = 0; i < own.length; i++) {
            if (own[i] != null && !own[i].wasClosed()) own[i].close();
            own[i] = null;
        }
    }
}
