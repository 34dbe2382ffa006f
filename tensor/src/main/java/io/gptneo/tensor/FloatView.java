package io.gptneo.tensor;

import java.lang.ref.Reference;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The one boundary between ND4J arrays and the Java kernels: the float32 elements of an array, in c-order, as a
 * native-order {@link ByteBuffer} over the array's own memory ({@link #buf}, absolute indices only, so threads that
 * touch disjoint ranges may share it), and as the {@link NativeMemory} the Vector API kernels load from ({@link #mem}).
 *
 * <ul>
 *   <li>{@link #read}: an input; a view that is not whole c-order (a permute, a slice) is copied to c-order first.
 *   <li>{@link #create}: a new uninitialised c-order output array.
 *   <li>{@link #update}: an array written in place; when it is not whole c-order, the kernel writes a c-order copy
 *       and {@link #close} copies it back.
 * </ul>
 * Use it in try-with-resources: {@code close()} keeps the array reachable until the kernel is done with its memory
 * (the buffer alone does not keep ND4J from freeing it).
 */
public final class FloatView implements AutoCloseable {
    /** The elements as native-order bytes: element i at byte {@code 4·i}. */
    public final ByteBuffer buf;

    /** The same memory as the Vector API kernels load from it ({@link NativeVectors}). */
    final NativeMemory mem;

    private final INDArray array;
    private final INDArray writeBack; // the caller's array when {@link #array} is a copy of it, else null

    private FloatView(INDArray array, INDArray writeBack) {
        this.array = array;
        this.writeBack = writeBack;
        this.buf = array.data().asNio().order(ByteOrder.nativeOrder());
        this.mem = NativeMemory.of(buf);
    }

    /** Whether a kernel may take {@code a} through a view: FLOAT, and its elements fit one buffer (under 2 GB). */
    public static boolean fits(INDArray a) {
        return a.dataType() == DataType.FLOAT && a.length() * 4 < Integer.MAX_VALUE - 64;
    }

    /** {@code a} (FLOAT) for reading. */
    public static FloatView read(INDArray a) {
        check(a);
        return new FloatView(JavaArrays.exactCOrder(a) ? a : a.dup('c'), null);
    }

    /** A new uninitialised c-order FLOAT array of {@code shape}, for writing; {@link #array()} returns it. */
    public static FloatView create(long... shape) {
        INDArray a = Nd4j.createUninitialized(DataType.FLOAT, shape, 'c');
        check(a);
        return new FloatView(a, null);
    }

    /** {@code a} (FLOAT) for reading and writing in place. */
    public static FloatView update(INDArray a) {
        check(a);
        return JavaArrays.exactCOrder(a) ? new FloatView(a, null) : new FloatView(a.dup('c'), a);
    }

    /** The array behind the view (a c-order copy for a {@link #read} or {@link #update} of a view). */
    public INDArray array() {
        return array;
    }

    /** Number of elements. */
    public int length() {
        return (int) array.length();
    }

    /** Element i. */
    public float get(int i) {
        return buf.getFloat(i * 4);
    }

    /** Sets element i. */
    public void put(int i, float v) {
        buf.putFloat(i * 4, v);
    }

    @Override
    public void close() {
        if (writeBack != null) writeBack.assign(array);
        Reference.reachabilityFence(array);
    }

    private static void check(INDArray a) {
        if (!fits(a)) {
            throw new IllegalArgumentException(
                    "FloatView: needs a FLOAT array under 2 GB, got " + a.dataType() + Arrays.toString(a.shape()));
        }
    }
}
