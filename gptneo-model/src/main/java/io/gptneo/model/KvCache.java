package io.gptneo.model;

import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Keys and values of every layer for the tokens seen so far, preallocated to a fixed capacity:
 * per layer {@code [B, heads, capacity, D]}, of which the first {@link #length()} positions are filled.
 * Inference only (plain arrays, no tape). Create with {@link GptNeoModel#newCache(int, int)}.
 */
public final class KvCache {
    private final INDArray[] keys;
    private final INDArray[] values;
    private final int batch;
    private final int capacity;
    private int length;

    KvCache(int layers, int batch, int heads, int headDim, int capacity, DataType dtype) {
        if (batch <= 0 || capacity <= 0)
            throw new IllegalArgumentException(
                    "KV cache needs batch > 0 and capacity > 0, got " + batch + ", " + capacity);
        this.keys = new INDArray[layers];
        this.values = new INDArray[layers];
        for (int i = 0; i < layers; i++) {
            keys[i] = Nd4j.zeros(dtype, batch, heads, capacity, headDim);
            values[i] = Nd4j.zeros(dtype, batch, heads, capacity, headDim);
        }
        this.batch = batch;
        this.capacity = capacity;
    }

    /** Number of cached positions (prompt plus generated tokens so far). */
    public int length() {
        return length;
    }

    public int capacity() {
        return capacity;
    }

    public int batch() {
        return batch;
    }

    /** Writes {@code k, v [B, heads, Tn, D]} of one layer at positions [length, length + Tn). */
    void write(int layer, INDArray k, INDArray v) {
        long tn = k.size(2);
        if (k.size(0) != batch)
            throw new IllegalArgumentException("KV cache holds batch " + batch + ", got " + Arrays.toString(k.shape()));
        if (length + tn > capacity) {
            throw new IllegalStateException(
                    "KV cache full: " + length + " + " + tn + " positions > capacity " + capacity);
        }
        keys[layer]
                .get(
                        NDArrayIndex.all(),
                        NDArrayIndex.all(),
                        NDArrayIndex.interval(length, length + tn),
                        NDArrayIndex.all())
                .assign(k);
        values[layer]
                .get(
                        NDArrayIndex.all(),
                        NDArrayIndex.all(),
                        NDArrayIndex.interval(length, length + tn),
                        NDArrayIndex.all())
                .assign(v);
    }

    /** Whole key buffer of a layer, [B, heads, capacity, D] (positions ≥ length are stale and must be masked). */
    INDArray keys(int layer) {
        return keys[layer];
    }

    INDArray values(int layer) {
        return values[layer];
    }

    /** Marks {@code n} more positions as filled (after every layer wrote them). */
    void advance(int n) {
        length += n;
    }
}
