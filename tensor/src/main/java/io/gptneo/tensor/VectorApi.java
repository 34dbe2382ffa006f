package io.gptneo.tensor;

/**
 * Whether the JDK's incubating Vector API ({@code jdk.incubator.vector}) is in the boot layer, i.e. the JVM was
 * started with {@code --add-modules jdk.incubator.vector}. The Java kernels check this before touching any class that
 * uses the API (those sit in separate classes, so nothing loads it when it is absent) and otherwise take their
 * scalar or ND4J paths.
 */
public final class VectorApi {
    /** The module is present. */
    public static final boolean PRESENT =
            ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    /**
     * The module has the {@code ByteBuffer} loads and stores ({@code FloatVector.fromByteBuffer}) that the elementwise
     * kernels use on ND4J's native memory: JDK 17-19. JDK 20 replaced them with {@code MemorySegment} ones, so there
     * those kernels take their references (attention, on Java arrays, stays fast).
     */
    public static final boolean BYTE_BUFFERS = PRESENT && hasByteBufferLoads();

    private static boolean hasByteBufferLoads() {
        try {
            Class<?> fv = Class.forName("jdk.incubator.vector.FloatVector");
            Class<?> species = Class.forName("jdk.incubator.vector.VectorSpecies");
            fv.getMethod("fromByteBuffer", species, java.nio.ByteBuffer.class, int.class, java.nio.ByteOrder.class);
            return true;
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    private VectorApi() {}
}
