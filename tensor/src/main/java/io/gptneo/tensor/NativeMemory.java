package io.gptneo.tensor;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One range of native memory (an ND4J buffer) as the Java kernels address it: a native-order {@link ByteBuffer}
 * ({@link #buf}: the scalar tails, and the Vector API's loads on JDK 17-19) and, on JDK 20+, the
 * {@code java.lang.foreign.MemorySegment} over the same bytes ({@link #segment}), which those JDKs' Vector API loads
 * from instead ({@link NativeVectors}). The segment is made once here, not per load: made per load it ran a gelu pass
 * 1.6x slower on JDK 25.
 *
 * <p>The segment is typed {@code Object} and made through a method handle so that this code still compiles for, and
 * runs on, Java 17, which has no {@code MemorySegment}.
 */
final class NativeMemory {
    /** The bytes, native order, absolute indices only (threads touching disjoint ranges may share it). */
    final ByteBuffer buf;
    /** A {@code MemorySegment} over {@link #buf}'s bytes where {@link VectorApi#SEGMENTS} holds, else null. */
    final Object segment;

    private NativeMemory(ByteBuffer buf, Object segment) {
        this.buf = buf;
        this.segment = segment;
    }

    /** {@code b} (a direct buffer) in native order, with its segment where the Vector API loads from segments. */
    static NativeMemory of(ByteBuffer b) {
        ByteBuffer n = b.order(ByteOrder.nativeOrder());
        return new NativeMemory(n, VectorApi.SEGMENTS ? Segments.of(n) : null);
    }

    /** {@code MemorySegment.ofBuffer}, looked up only on JDKs that have it. */
    private static final class Segments {
        private static final MethodHandle OF_BUFFER = ofBuffer();

        private static MethodHandle ofBuffer() {
            try {
                Class<?> segment = Class.forName("java.lang.foreign.MemorySegment");
                return MethodHandles.publicLookup()
                        .findStatic(segment, "ofBuffer", MethodType.methodType(segment, Buffer.class))
                        .asType(MethodType.methodType(Object.class, ByteBuffer.class));
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException("VectorApi.SEGMENTS holds but MemorySegment.ofBuffer is missing", e);
            }
        }

        static Object of(ByteBuffer b) {
            try {
                return (Object) OF_BUFFER.invokeExact(b);
            } catch (Throwable t) {
                throw NativeVectors.rethrow(t); // reached only where SEGMENTS holds: the Vector API is present
            }
        }
    }
}
