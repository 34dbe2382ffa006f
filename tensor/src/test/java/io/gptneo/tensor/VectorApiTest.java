package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * {@link VectorApi}: the elementwise kernels' ByteBuffer loads exist exactly on JDK 17-19 (JDK 20 replaced them with
 * MemorySegment ones); where they are missing, the default kernels fall back instead of failing mid-step.
 */
class VectorApiTest {
    @Test
    void byteBufferLoadsExistUpToJdk19AndDecideTheDefaultKernels() {
        assertTrue(VectorApi.PRESENT, "tests run with --add-modules jdk.incubator.vector");
        assertEquals(Runtime.version().feature() < 20, VectorApi.BYTE_BUFFERS, "JDK " + Runtime.version());
        assertEquals(VectorApi.BYTE_BUFFERS, Kernels.get().fast(), "default elementwise kernels");
        if (!VectorApi.BYTE_BUFFERS) {
            var e = org.junit.jupiter.api.Assertions.assertThrows(
                    IllegalStateException.class, () -> new Kernels(true, true));
            assertTrue(e.getMessage().contains("JDK 17-19"), e.getMessage());
        }
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
