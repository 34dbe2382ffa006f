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
}
