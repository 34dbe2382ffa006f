package io.gptneo.tensor;

import java.nio.ByteOrder;
import java.util.Arrays;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataBuffer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Bulk copies between ND4J arrays and Java arrays (fused attention's staging copies, the optimizer's loops).
 *
 * <p>Why not {@code data().asFloat()} / {@code Nd4j.create(float[], ...)}: inside a workspace both copy element by
 * element through an indexer (a large share of the Java-side time of a training step).
 * These go through the buffer's NIO view instead: one memcpy each way.
 */
public final class JavaArrays {
    private JavaArrays() {}

    /** The elements of {@code a} in c-order, as float (converting if needed). */
    public static float[] floats(INDArray a) {
        return floats(a, new float[Math.toIntExact(a.length())]);
    }

    /** The elements of {@code a} in c-order into {@code dst[0, a.length())} ({@code dst} may be longer); returns dst. */
    public static float[] floats(INDArray a, float[] dst) {
        if (a.dataType() == DataType.FLOAT && !exactCOrder(a) && rowStride(a) > 0) return rows(a, dst);
        INDArray c = contiguous(a.dataType() == DataType.FLOAT ? a : a.castTo(DataType.FLOAT));
        if (dst.length < c.length())
            throw new IllegalArgumentException("destination holds " + dst.length + " < " + c.length());
        c.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().get(dst, 0, (int) c.length());
        return dst;
    }

    /**
     * The distance between consecutive rows (last-dimension runs) of {@code a} when its rows are dense and evenly
     * spaced in its buffer (a column block of a larger c-order matrix, e.g. one part of {@link Ops#linearSplit}),
     * else 0.
     */
    static long rowStride(INDArray a) {
        int r = a.rank();
        if (r < 2 || a.ordering() != 'c' || a.stride(r - 1) != 1 || a.length() == 0) return 0;
        long rs = a.stride(r - 2);
        if (rs < a.size(r - 1)) return 0;
        for (int d = r - 3; d >= 0; d--) if (a.size(d) != 1 && a.stride(d) != a.stride(d + 1) * a.size(d + 1)) return 0;
        return rs;
    }

    /** {@link #floats} of an evenly row-strided view: one native copy per row, no c-order copy of the whole. */
    private static float[] rows(INDArray a, float[] dst) {
        int c = (int) a.size(a.rank() - 1);
        long n = a.length() / c, rs = rowStride(a);
        if (dst.length < a.length())
            throw new IllegalArgumentException("destination holds " + dst.length + " < " + a.length());
        FloatPointer p = Gemm.floatPointer(a);
        long first = p.position(); // the view's first element
        for (long i = 0; i < n; i++) p.position(first + i * rs).get(dst, (int) (i * c), c);
        java.lang.ref.Reference.reachabilityFence(a);
        return dst;
    }

    /**
     * {@code dst.assign(src)} for FLOAT arrays of one shape whose rows are dense and evenly spaced ({@link #rowStride}
     * or whole c-order): one native copy per row. ND4J's strided assign into a column block of a matrix ran at about
     * 2 GB/s (the q/k/v parts' gradients, 25 ms of a 125M training step at B=2,T=256).
     */
    public static void copyRows(INDArray src, INDArray dst) {
        if (!Arrays.equals(src.shape(), dst.shape()))
            throw new IllegalArgumentException("copyRows: shapes " + Arrays.toString(src.shape()) + " and "
                    + Arrays.toString(dst.shape()) + " differ");
        long ss = denseRowStride(src), ds = denseRowStride(dst);
        if (src.dataType() != DataType.FLOAT || dst.dataType() != DataType.FLOAT || ss == 0 || ds == 0) {
            dst.assign(src);
            return;
        }
        int c = (int) src.size(src.rank() - 1);
        long n = src.length() / c;
        // Pointer.memcpy takes positions in bytes: byte pointers at each buffer's element 0
        FloatPointer sf = Gemm.floatPointer(src), df = Gemm.floatPointer(dst);
        long s0 = 4 * sf.position(), d0 = 4 * df.position();
        BytePointer sp = new BytePointer(sf.position(0)), dp = new BytePointer(df.position(0));
        for (long i = 0; i < n; i++) Pointer.memcpy(dp.position(d0 + 4 * i * ds), sp.position(s0 + 4 * i * ss), 4L * c);
        java.lang.ref.Reference.reachabilityFence(src);
        java.lang.ref.Reference.reachabilityFence(dst);
    }

    /** {@link #rowStride}, or the row length for a whole c-order array of rank 1 or more, else 0. */
    private static long denseRowStride(INDArray a) {
        if (a.length() == 0 || a.rank() == 0) return 0;
        return exactCOrder(a) ? a.size(a.rank() - 1) : rowStride(a);
    }

    /** A new c-order FLOAT array of {@code shape} holding {@code v[0, prod(shape))} ({@code v} may be longer). */
    public static INDArray arrayPrefix(float[] v, long... shape) {
        INDArray r = Nd4j.createUninitialized(DataType.FLOAT, shape, 'c');
        if (v.length < r.length())
            throw new IllegalArgumentException(v.length + " values for shape " + Arrays.toString(r.shape()));
        r.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().put(v, 0, (int) r.length());
        return r;
    }

    /** Copies {@code src[0, dst.length())} into {@code dst}, a whole c-order FLOAT array (one memcpy). */
    public static void put(float[] src, INDArray dst) {
        if (dst.dataType() != DataType.FLOAT || !exactCOrder(dst) || src.length < dst.length())
            throw new IllegalArgumentException(
                    "put: " + src.length + " floats into " + dst.dataType() + Arrays.toString(dst.shape()));
        dst.data().asNio().order(ByteOrder.nativeOrder()).asFloatBuffer().put(src, 0, (int) dst.length());
    }

    /** Copies {@code src[0, dst.length())} into {@code dst}, a whole c-order DOUBLE array. */
    public static void put(double[] src, INDArray dst) {
        if (dst.dataType() != DataType.DOUBLE || !exactCOrder(dst) || src.length < dst.length())
            throw new IllegalArgumentException(
                    "put: " + src.length + " doubles into " + dst.dataType() + Arrays.toString(dst.shape()));
        dst.data().asNio().order(ByteOrder.nativeOrder()).asDoubleBuffer().put(src, 0, (int) dst.length());
    }

    /** The elements of {@code a} in c-order, as double (converting if needed). */
    public static double[] doubles(INDArray a) {
        INDArray c = contiguous(a.dataType() == DataType.DOUBLE ? a : a.castTo(DataType.DOUBLE));
        double[] out = new double[(int) c.length()];
        c.data().asNio().order(ByteOrder.nativeOrder()).asDoubleBuffer().get(out);
        return out;
    }

    /** A new c-order FLOAT array of {@code shape} holding exactly {@code v} (in the current workspace, if any). */
    public static INDArray array(float[] v, long... shape) {
        long n = 1;
        for (long d : shape) n *= d;
        if (n != v.length) throw new IllegalArgumentException(v.length + " values for shape " + Arrays.toString(shape));
        return arrayPrefix(v, shape);
    }

    /** A new c-order DOUBLE array of {@code shape} holding {@code v}. */
    public static INDArray array(double[] v, long... shape) {
        INDArray r = Nd4j.createUninitialized(DataType.DOUBLE, shape, 'c');
        checkLength(r, v.length);
        r.data().asNio().order(ByteOrder.nativeOrder()).asDoubleBuffer().put(v);
        return r;
    }

    private static void checkLength(INDArray r, int n) {
        if (r.length() != n) throw new IllegalArgumentException(n + " values for shape " + Arrays.toString(r.shape()));
    }

    /**
     * A bias of {@code n} values as contiguous memory for a {@code [1, n]} operand: the array itself when it is a c-order
     * vector (no reshaped view: some 30 µs per product), else a c-order copy of its {@code [1, n]} reshape.
     */
    static INDArray biasRow(INDArray bias, long n) {
        if (bias.length() != n)
            throw new IllegalArgumentException(
                    "bias " + Arrays.toString(bias.shape()) + " for " + n + " output columns");
        return exactCOrder(bias) ? bias : contiguous(bias.reshape(1, n));
    }

    /** {@code a} itself when its buffer is exactly its c-order elements from offset 0, else a c-order copy. */
    public static INDArray contiguous(INDArray a) {
        if (a.length() > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("tensor too large for a Java array: " + Arrays.toString(a.shape()));
        return exactCOrder(a) ? a : a.dup('c');
    }

    /**
     * Whether {@code a}'s buffer holds exactly its elements, in c-order, from offset 0 (no copy needed to flatten it).
     * A c-order reshape of a whole array counts (ND4J marks it a view, but its buffer is the same elements).
     */
    public static boolean exactCOrder(INDArray a) {
        if (a.ordering() != 'c' || a.offset() != 0 || a.data().length() != a.length()) return false;
        long expected = 1;
        for (int d = a.rank() - 1; d >= 0; d--) {
            if (a.size(d) != 1 && a.stride(d) != expected) return false;
            expected *= a.size(d);
        }
        return true;
    }

    /**
     * The 2-D array {@code [n, rowLen]} (row-major, rows {@code rowLen} apart) over the same memory as the
     * {@code [n, w]} FLOAT {@code block}, such that {@code block} is its columns {@code [c0, c0 + w)}; null when block's
     * rows are not {@code rowLen} apart or that array would reach outside the buffer block lives in. ND4J gives every
     * view its own buffer object, so this goes by addresses within the buffer that owns the memory.
     */
    public static INDArray rowsAround(INDArray block, long c0, long rowLen) {
        long n = block.size(0);
        if (block.dataType() != DataType.FLOAT
                || block.rank() != 2
                || (block.size(1) > 1 && block.stride(1) != 1)
                || (n > 1 && block.stride(0) != rowLen)) return null;
        DataBuffer root = root(block);
        long first = firstElement(block) - c0;
        if (first < 0 || first + n * rowLen > root.length()) return null;
        return Nd4j.create(root, new long[] {n, rowLen}, new long[] {rowLen, 1}, first, 'c');
    }

    /**
     * When the FLOAT blocks (each {@code [n, wᵢ]}, the same n) are disjoint column blocks of one row-major region of
     * memory (rows {@code stride(0)} apart, the same for all), each block's first column, counted from the leftmost
     * block's; else null. Fused q/k/v products and their gradients are such blocks (ND4J gives every view its own
     * buffer object, so this goes by addresses within the buffer that owns the memory).
     */
    public static long[] columnsOfOneRegion(INDArray... blocks) {
        INDArray b0 = blocks[0];
        if (b0.rank() != 2) return null;
        long n = b0.size(0), rowLen = n > 1 ? b0.stride(0) : Long.MAX_VALUE;
        long[] first = new long[blocks.length];
        for (int i = 0; i < blocks.length; i++) {
            INDArray b = blocks[i];
            if (b.dataType() != DataType.FLOAT
                    || b.rank() != 2
                    || b.size(0) != n
                    || (b.size(1) > 1 && b.stride(1) != 1)
                    || (n > 1 && b.stride(0) != rowLen)
                    || root(b) != root(b0)) return null;
            first[i] = firstElement(b);
        }
        long base = Arrays.stream(first).min().getAsLong();
        long[] col = new long[blocks.length];
        for (int i = 0; i < col.length; i++) {
            col[i] = first[i] - base;
            long w = blocks[i].size(1);
            if (col[i] + w > rowLen) return null;
            for (int j = 0; j < i; j++) // overlapping blocks
            if (col[i] < col[j] + blocks[j].size(1) && col[j] < col[i] + w) return null;
        }
        return col;
    }

    /** The buffer that owns {@code a}'s memory (a view's original buffer, else a's own). */
    static DataBuffer root(INDArray a) {
        DataBuffer d = a.data(), o = d.originalDataBuffer();
        return o == null ? d : o;
    }

    /** Index of {@code a}'s first element (FLOAT) among the elements of {@link #root}(a). */
    static long firstElement(INDArray a) {
        FloatPointer p = Gemm.floatPointer(a);
        return (p.address() + 4 * p.position() - root(a).addressPointer().address()) / 4;
    }
}
