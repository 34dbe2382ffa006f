package io.gptneo.weights;

import java.util.Arrays;

/**
 * One tensor's header entry. {@code begin}/{@code end} are the header's {@code data_offsets}: byte offsets
 * relative to the first byte after the header.
 */
public record TensorInfo(String name, Dtype dtype, long[] shape, long begin, long end) {

    public TensorInfo {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Number of elements (1 for a 0-dim tensor). Shapes are validated on open, so this cannot overflow. */
    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** Number of dimensions. */
    public int rank() {
        return shape.length;
    }

    /** Size of the data in bytes ({@code end - begin}). */
    public long byteSize() {
        return end - begin;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t
                && name.equals(t.name)
                && dtype == t.dtype
                && Arrays.equals(shape, t.shape)
                && begin == t.begin
                && end == t.end;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape) + " @[" + begin + "," + end + ")";
    }
}
