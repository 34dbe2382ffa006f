package io.gptneo.weights;

import java.io.IOException;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Copies a tensor's mapped bytes into a freshly allocated ND4J array, converting the element type on the way.
 * Works window by window (≤ 1 GiB of source or destination at a time), so only the final array is resident.
 */
final class TensorDecoder {
    static final long WINDOW_BYTES = 1L << 30;
    private static final boolean LITTLE = ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN;

    private TensorDecoder() {}

    static INDArray decode(MappedSource f, TensorInfo t, DataType target) throws IOException {
        return decode(f, t, target, WINDOW_BYTES);
    }

    /** {@code window}: the most bytes mapped or written in one step (tests use small windows to cover the seams). */
    static INDArray decode(MappedSource f, TensorInfo t, DataType target, long window) throws IOException {
        Dtype src = t.dtype();
        if (target == null) target = src.naturalDataType();
        checkSupported(f, t, target);
        INDArray arr = allocate(target, t.shape());
        long n = t.numel();
        if (n == 0) return arr;
        int es = src.size(), ts = target.width();
        long chunk = Math.max(1, Math.min(window / es, window / ts));
        Pointer base = arr.data().pointer();
        long baseByte = base.position() * base.sizeof() + arr.offset() * ts;
        for (long e0 = 0; e0 < n; e0 += chunk) {
            int cnt = (int) Math.min(chunk, n - e0);
            ByteBuffer in = f.map(t, e0 * es, (long) cnt * es);
            ByteBuffer out = view(base, baseByte + e0 * ts, (long) cnt * ts);
            convert(in, src, out, target, cnt, f, t);
            unmap(in);
        }
        Nd4j.getAffinityManager()
                .tagLocation(arr, AffinityManager.Location.HOST); // host copy is current (no-op on CPU)
        return arr;
    }

    /**
     * Releases a window this decoder mapped as soon as it is converted. Why: mapped file pages count in the process's
     * resident memory until the buffer is garbage-collected, so a whole checkpoint (500 MB for 125M in float32) stayed
     * resident next to the arrays made from it, at the load's peak and after. Anything but a mapping of its own (a
     * heap copy of a strided tensor) is left to the collector; so is everything when the JDK refuses.
     */
    private static void unmap(ByteBuffer b) {
        if (!(b instanceof MappedByteBuffer) || UNSAFE == null) return;
        try {
            UNSAFE.invokeCleaner(b);
        } catch (IllegalArgumentException notOwnMapping) { // a slice or duplicate: the collector frees it
        }
    }

    private static final sun.misc.Unsafe UNSAFE = unsafe();

    private static sun.misc.Unsafe unsafe() {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    static void checkSupported(MappedSource f, TensorInfo t, DataType target) throws SafeTensorsException {
        boolean ok =
                switch (target) {
                    case FLOAT, DOUBLE, HALF, BFLOAT16 -> true; // float targets take any source
                    case LONG, INT, SHORT, BYTE, UBYTE, BOOL -> !t.dtype().isFloating();
                    default -> false;
                };
        if (!ok) throw SafeTensorsException.of(f.path(), t.name(), "cannot load " + t.dtype() + " data as " + target);
    }

    private static INDArray allocate(DataType type, long[] shape) {
        if (shape.length == 0) return Nd4j.scalar(type, 0);
        for (long d : shape) if (d == 0) return Nd4j.create(type, shape);
        return Nd4j.createUninitialized(type, shape);
    }

    /** A little-endian ByteBuffer over {@code len} bytes of the array's native memory starting at byte {@code off}. */
    static ByteBuffer view(Pointer base, long off, long len) {
        BytePointer bp = new BytePointer(base);
        bp.capacity(off + len);
        bp.position(off);
        return bp.asByteBuffer().slice().order(ByteOrder.nativeOrder()); // slice: absolute indices start at off
    }

    private static void convert(
            ByteBuffer in, Dtype src, ByteBuffer out, DataType dst, int n, MappedSource f, TensorInfo t)
            throws SafeTensorsException {
        if (LITTLE && in.order() == ByteOrder.LITTLE_ENDIAN && sameLayout(src, dst)) { // identical bytes: one bulk copy
            out.put(in);
            return;
        }
        switch (dst) {
            case FLOAT -> {
                var o = out.asFloatBuffer();
                switch (src) {
                    case F16 -> {
                        for (int i = 0; i < n; i++) o.put(i, HalfFloats.halfToFloat(in.getShort(2 * i)));
                    }
                    case BF16 -> {
                        for (int i = 0; i < n; i++) o.put(i, HalfFloats.bf16ToFloat(in.getShort(2 * i)));
                    }
                    case F32 -> o.put(in.asFloatBuffer());
                    default -> {
                        for (int i = 0; i < n; i++) o.put(i, (float) readDouble(in, src, i));
                    }
                }
            }
            case DOUBLE -> {
                var o = out.asDoubleBuffer();
                for (int i = 0; i < n; i++) o.put(i, readDouble(in, src, i));
            }
            case HALF -> {
                for (int i = 0; i < n; i++) out.putShort(2 * i, HalfFloats.floatToHalf((float) readDouble(in, src, i)));
            }
            case BFLOAT16 -> {
                for (int i = 0; i < n; i++) out.putShort(2 * i, HalfFloats.floatToBf16((float) readDouble(in, src, i)));
            }
            default -> { // integer targets from integer sources, range-checked
                long lo, hi;
                switch (dst) {
                    case LONG -> {
                        lo = Long.MIN_VALUE;
                        hi = Long.MAX_VALUE;
                    }
                    case INT -> {
                        lo = Integer.MIN_VALUE;
                        hi = Integer.MAX_VALUE;
                    }
                    case SHORT -> {
                        lo = Short.MIN_VALUE;
                        hi = Short.MAX_VALUE;
                    }
                    case BYTE -> {
                        lo = Byte.MIN_VALUE;
                        hi = Byte.MAX_VALUE;
                    }
                    case UBYTE -> {
                        lo = 0;
                        hi = 255;
                    }
                    default -> {
                        lo = 0;
                        hi = 1;
                    } // BOOL
                }
                for (int i = 0; i < n; i++) {
                    long v = readLong(in, src, i);
                    if (dst == DataType.BOOL) v = v != 0 ? 1 : 0;
                    if (v < lo || v > hi)
                        throw SafeTensorsException.of(f.path(), t.name(), "value " + v + " does not fit " + dst);
                    switch (dst) {
                        case LONG -> out.putLong(8 * i, v);
                        case INT -> out.putInt(4 * i, (int) v);
                        case SHORT -> out.putShort(2 * i, (short) v);
                        default -> out.put(i, (byte) v);
                    }
                }
            }
        }
    }

    private static boolean sameLayout(Dtype s, DataType d) {
        return switch (s) {
            case F64 -> d == DataType.DOUBLE;
            case F32 -> d == DataType.FLOAT;
            case F16 -> d == DataType.HALF;
            case BF16 -> d == DataType.BFLOAT16;
            case I64 -> d == DataType.LONG;
            case I32 -> d == DataType.INT;
            case I16 -> d == DataType.SHORT;
            case I8 -> d == DataType.BYTE;
            case U8 -> d == DataType.UBYTE;
            case BOOL -> false; // normalise any non-zero byte to 1
        };
    }

    static double readDouble(ByteBuffer in, Dtype src, int i) {
        return switch (src) {
            case F64 -> in.getDouble(8 * i);
            case F32 -> in.getFloat(4 * i);
            case F16 -> HalfFloats.halfToFloat(in.getShort(2 * i));
            case BF16 -> HalfFloats.bf16ToFloat(in.getShort(2 * i));
            default -> readLong(in, src, i);
        };
    }

    static long readLong(ByteBuffer in, Dtype src, int i) {
        return switch (src) {
            case I64 -> in.getLong(8 * i);
            case I32 -> in.getInt(4 * i);
            case I16 -> in.getShort(2 * i);
            case I8 -> in.get(i);
            case U8 -> in.get(i) & 0xff;
            case BOOL -> in.get(i) != 0 ? 1 : 0;
            default -> throw new IllegalStateException("not an integer dtype: " + src);
        };
    }
}
