package io.gptneo.tensor;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API's loads and stores on native memory ({@link NativeMemory}), the one place that knows they differ by
 * JDK: {@code fromByteBuffer}/{@code intoByteBuffer} on JDK 17-19, {@code fromMemorySegment}/{@code intoMemorySegment}
 * on JDK 20+, which removed the ByteBuffer forms. Each is a constant method handle chosen once here; kernels call it
 * with {@code invokeExact} (offsets in bytes), for example {@code (FloatVector) LOAD_FLOATS.invokeExact(SP, x, i * 4)}.
 *
 * <p>Why method handles and not small static wrappers: C2 stops inlining ordinary methods once a compilation's node
 * count passes its cutoff ({@code NodeCountInliningCutoff}), and a kernel that inlines {@link VectorMath#exp} passes
 * it before its store: the wrapper was then called, every vector boxed, and gelu ran 3.6-3.7x slower on JDK 17 (and
 * about 3x on JDK 25). The Vector API's own methods are force-inlined and so are a constant method handle's lambda forms;
 * through these handles the kernels ran as fast as with the direct calls on JDK 17, within a few percent (bench/RESULTS.md, "Issue 15,
 * session 20"). The code compiles for Java 17, which has no {@code MemorySegment}. Loaded only where
 * jdk.incubator.vector is present and {@link VectorApi#NATIVE_LOADS} holds.
 */
final class NativeVectors {
    /** {@code (VectorSpecies<Float>, NativeMemory, int byteOffset) → FloatVector}. */
    static final MethodHandle LOAD_FLOATS;
    /** {@code (FloatVector, NativeMemory, int byteOffset) → void}. */
    static final MethodHandle STORE_FLOATS;
    /** {@code (VectorSpecies<Integer>, NativeMemory, int byteOffset) → IntVector}. */
    static final MethodHandle LOAD_INTS;
    /** {@code (ShortVector, NativeMemory, int byteOffset) → void}. */
    static final MethodHandle STORE_SHORTS;

    static {
        try {
            Form f = VectorApi.BYTE_BUFFERS ? Form.byteBuffers() : Form.segments();
            LOAD_FLOATS = f.load(FloatVector.class);
            LOAD_INTS = f.load(IntVector.class);
            STORE_FLOATS = f.store(FloatVector.class);
            STORE_SHORTS = f.store(ShortVector.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private NativeVectors() {}

    /**
     * One JDK's loads and stores: the method names, the memory and offset types they take, and the handle that gets
     * that memory from a {@link NativeMemory}.
     */
    private record Form(String load, String store, Class<?> memory, Class<?> offset, MethodHandle toMemory) {
        private static final ByteOrder ORDER = ByteOrder.nativeOrder();

        static Form byteBuffers() throws ReflectiveOperationException {
            MethodHandle buf = MethodHandles.lookup().findGetter(NativeMemory.class, "buf", ByteBuffer.class);
            return new Form("fromByteBuffer", "intoByteBuffer", ByteBuffer.class, int.class, buf);
        }

        static Form segments() throws ReflectiveOperationException {
            Class<?> segment = Class.forName("java.lang.foreign.MemorySegment");
            MethodHandle seg = MethodHandles.lookup()
                    .findGetter(NativeMemory.class, "segment", Object.class)
                    .asType(MethodType.methodType(segment, NativeMemory.class));
            return new Form("fromMemorySegment", "intoMemorySegment", segment, long.class, seg);
        }

        /** {@code vector.load(species, memory, offset, order)} as {@code (species, NativeMemory, int offset)}. */
        MethodHandle load(Class<?> vector) throws ReflectiveOperationException {
            MethodType t = MethodType.methodType(vector, VectorSpecies.class, memory, offset, ByteOrder.class);
            return adapt(MethodHandles.publicLookup().findStatic(vector, load, t), VectorSpecies.class, vector);
        }

        /** {@code v.store(memory, offset, order)} as {@code (v, NativeMemory, int offset)}. */
        MethodHandle store(Class<?> vector) throws ReflectiveOperationException {
            MethodType t = MethodType.methodType(void.class, memory, offset, ByteOrder.class);
            return adapt(MethodHandles.publicLookup().findVirtual(vector, store, t), vector, void.class);
        }

        /** (first, memory, offset, order) → (first, NativeMemory, int offset), the byte order bound to native. */
        private MethodHandle adapt(MethodHandle h, Class<?> first, Class<?> result) {
            h = MethodHandles.filterArguments(MethodHandles.insertArguments(h, 3, ORDER), 1, toMemory);
            return h.asType(MethodType.methodType(result, first, NativeMemory.class, int.class));
        }
    }

    /**
     * What a kernel throws when a handle did: the loads and stores throw only unchecked exceptions (an offset out of
     * bounds, above all), which pass through as they are.
     */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException("a Vector API load or store threw " + t, t);
    }
}
