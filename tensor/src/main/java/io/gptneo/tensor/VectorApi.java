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
     * The module has the {@code ByteBuffer} loads and stores ({@code FloatVector.fromByteBuffer}): JDK 17-19. The
     * kernels use them on ND4J's native memory there ({@link NativeVectors}).
     */
    public static final boolean BYTE_BUFFERS = PRESENT && hasVectorLoad("fromByteBuffer", java.nio.ByteBuffer.class);

    /**
     * The module loads from {@code java.lang.foreign.MemorySegment}s instead ({@code FloatVector.fromMemorySegment}):
     * JDK 20+, which removed the ByteBuffer forms. The kernels use those there, on segments over the same memory.
     */
    public static final boolean SEGMENTS = PRESENT && !BYTE_BUFFERS && hasSegmentLoads();

    /**
     * The elementwise kernels (gelu, layer norm, add, dropout, the LoRA side paths, the bf16 rounding) can run on
     * native memory, through one form or the other. Attention, on Java arrays, needs only {@link #PRESENT}.
     */
    public static final boolean NATIVE_LOADS = BYTE_BUFFERS || SEGMENTS;

    private static boolean hasSegmentLoads() {
        try {
            Class<?> segment = Class.forName("java.lang.foreign.MemorySegment");
            segment.getMethod("ofBuffer", java.nio.Buffer.class);
            return hasVectorLoad("fromMemorySegment", segment);
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    private static boolean hasVectorLoad(String name, Class<?> memory) {
        try {
            Class<?> fv = Class.forName("jdk.incubator.vector.FloatVector");
            Class<?> species = Class.forName("jdk.incubator.vector.VectorSpecies");
            fv.getMethod(
                    name,
                    species,
                    memory,
                    memory == java.nio.ByteBuffer.class ? int.class : long.class,
                    java.nio.ByteOrder.class);
            return true;
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }

    /**
     * The {@code -XX:PerMethodTrapLimit} the fast kernels want (HotSpot's default is 100). C2 adds up the type-check
     * traps recorded in every method it inlines, once per inlined copy; a gelu kernel inlines some 30 Vector API
     * methods, so a handful of traps in shared JDK methods (from other kernels' profiles) push the sum past 100, C2
     * stops trusting type profiles for the whole kernel, vector types stop being exact, the store intrinsic fails, and
     * every vector is boxed: the kernel runs 5-8x slower for the life of the JVM. Whether that happens depends on
     * compile timing, which made our kernels bimodal from one run to the next. With 10,000 it did not happen in 4 of 4
     * runs against 2 of 4 without (README, "JVM flags").
     */
    public static final long TRAP_LIMIT = 10_000;

    /** This JVM's {@code -XX:PerMethodTrapLimit}, or -1 where the VM does not report it (not HotSpot). */
    public static long perMethodTrapLimit() {
        try {
            var vm = java.lang.management.ManagementFactory.getPlatformMXBean(
                    com.sun.management.HotSpotDiagnosticMXBean.class);
            return vm == null
                    ? -1
                    : Long.parseLong(vm.getVMOption("PerMethodTrapLimit").getValue());
        } catch (RuntimeException | LinkageError e) {
            return -1;
        }
    }

    private VectorApi() {}
}
