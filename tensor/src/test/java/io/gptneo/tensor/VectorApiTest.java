package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/**
 * {@link VectorApi} and {@link NativeVectors}: the kernels' loads from native memory exist on every JDK we name (the
 * ByteBuffer forms on JDK 17-19, the MemorySegment forms on 20+, where the ByteBuffer ones were removed), so the fast
 * elementwise kernels are the default on each; and both forms read and write the same bytes.
 */
class VectorApiTest {
    @Test
    void nativeLoadsExistOnEveryJdkAndDecideTheDefaultKernels() {
        assertTrue(VectorApi.PRESENT, "tests run with --add-modules jdk.incubator.vector");
        int jdk = Runtime.version().feature();
        assertEquals(jdk < 20, VectorApi.BYTE_BUFFERS, "JDK " + Runtime.version());
        if (jdk >= 22) assertTrue(VectorApi.SEGMENTS, "JDK " + jdk + " loads vectors from MemorySegments");
        assertTrue(VectorApi.NATIVE_LOADS, "JDK " + Runtime.version());
        assertEquals(VectorApi.NATIVE_LOADS, Kernels.get().fast(), "default elementwise kernels");
    }

    @Test
    void loadsAndStoresReadAndWriteTheBuffersBytes() throws Throwable {
        VectorSpecies<Float> f = FloatVector.SPECIES_PREFERRED;
        VectorSpecies<Integer> i = IntVector.SPECIES_PREFERRED;
        int n = 3 * f.length();
        ByteBuffer b = ByteBuffer.allocateDirect(n * 4).order(ByteOrder.nativeOrder());
        for (int k = 0; k < n; k++) b.putFloat(k * 4, k * 0.5f - 3);
        NativeMemory m = NativeMemory.of(b);
        // element k + f.length() into slot k: one vector read at an offset, written at another
        FloatVector v = (FloatVector) NativeVectors.LOAD_FLOATS.invokeExact(f, m, f.length() * 4);
        NativeVectors.STORE_FLOATS.invokeExact(v.mul(2f), m, 0);
        for (int k = 0; k < f.length(); k++)
            assertEquals(((k + f.length()) * 0.5f - 3) * 2f, b.getFloat(k * 4), "element " + k);
        IntVector bits = (IntVector) NativeVectors.LOAD_INTS.invokeExact(i, m, 0);
        for (int k = 0; k < i.length(); k++) assertEquals(Float.floatToRawIntBits(b.getFloat(k * 4)), bits.lane(k));

        VectorSpecies<Short> s = ShortVector.SPECIES_128;
        short[] want = new short[s.length()];
        for (int k = 0; k < want.length; k++) want[k] = (short) (k * 1000 - 7);
        ByteBuffer sb = ByteBuffer.allocateDirect(2 * want.length + 6).order(ByteOrder.nativeOrder());
        NativeVectors.STORE_SHORTS.invokeExact(ShortVector.fromArray(s, want, 0), NativeMemory.of(sb), 6);
        short[] got = new short[want.length];
        for (int k = 0; k < got.length; k++) got[k] = sb.getShort(6 + 2 * k);
        assertArrayEquals(want, got);
    }

    @Test
    void aLoadPastTheEndFailsInsteadOfReadingOtherMemory() {
        VectorSpecies<Float> f = FloatVector.SPECIES_PREFERRED;
        NativeMemory m = NativeMemory.of(ByteBuffer.allocateDirect(f.length() * 4 + 4));
        assertThrows(IndexOutOfBoundsException.class, () -> {
            FloatVector v = (FloatVector) NativeVectors.LOAD_FLOATS.invokeExact(f, m, 8);
        });
        assertThrows(IndexOutOfBoundsException.class, () -> {
            NativeVectors.STORE_FLOATS.invokeExact(FloatVector.zero(f), m, 8); // a statement: the handle returns void
        });
    }

    @Test
    void readsThisJvmsTrapLimitAndAdvisesOnlyBelowTheWantedOne() {
        long flag = java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(a -> a.startsWith("-XX:PerMethodTrapLimit="))
                .mapToLong(a -> Long.parseLong(a.substring(a.indexOf('=') + 1)))
                .reduce((a, b) -> b)
                .orElse(100); // HotSpot's default
        assertEquals(flag, VectorApi.perMethodTrapLimit(), "the -XX flag this JVM was started with");
        String advice = Kernels.trapLimitAdvice();
        assertEquals(flag < VectorApi.TRAP_LIMIT, !advice.isEmpty(), advice);
        if (!advice.isEmpty()) assertTrue(advice.contains("-XX:PerMethodTrapLimit=10000"), advice);
    }
}
