package io.gptneo.tensor;

import java.util.Arrays;

/** Shape arithmetic shared by the operations. */
final class Shapes {
    private Shapes() {}

    /** numpy broadcasting of two shapes; throws IllegalArgumentException when incompatible. */
    static long[] broadcast(long[] a, long[] b) {
        int r = Math.max(a.length, b.length);
        long[] out = new long[r];
        for (int i = 0; i < r; i++) {
            long x = i - (r - a.length) >= 0 ? a[i - (r - a.length)] : 1;
            long y = i - (r - b.length) >= 0 ? b[i - (r - b.length)] : 1;
            if (x != y && x != 1 && y != 1) {
                throw new IllegalArgumentException(
                        "shapes " + Arrays.toString(a) + " and " + Arrays.toString(b) + " do not broadcast");
            }
            out[i] = Math.max(x, y);
        }
        return out;
    }

    /** Resolves one -1 entry and checks the element count. */
    static long[] inferReshape(String op, long[] in, long[] shape) {
        long total = 1;
        for (long s : in) total *= s;
        long known = 1;
        int free = -1;
        long[] out = shape.clone();
        for (int i = 0; i < out.length; i++) {
            if (out[i] == -1) {
                if (free >= 0)
                    throw new IllegalArgumentException(op + ": more than one -1 in " + Arrays.toString(shape));
                free = i;
            } else if (out[i] < 0) {
                throw new IllegalArgumentException(op + ": negative size in " + Arrays.toString(shape));
            } else {
                known *= out[i];
            }
        }
        if (free >= 0) {
            if (known == 0 || total % known != 0) {
                throw new IllegalArgumentException(
                        op + ": cannot reshape " + Arrays.toString(in) + " to " + Arrays.toString(shape));
            }
            out[free] = total / known;
        } else if (known != total) {
            throw new IllegalArgumentException(op + ": cannot reshape " + Arrays.toString(in) + " (" + total
                    + " elements) to " + Arrays.toString(shape));
        }
        return out;
    }

    static int[] normalizeDims(String op, int[] dims, int rank) {
        int[] d = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            if (dims[i] < -rank || dims[i] >= rank)
                throw new IllegalArgumentException(op + ": dim " + dims[i] + " out of range for rank " + rank);
            d[i] = Math.floorMod(dims[i], rank);
        }
        return d;
    }
}
