package io.gptneo.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The PyTorch anchor runs without the launcher's fixed glibc mmap threshold (it halved the anchor's speed) and with
 * every other tunable it inherits.
 */
class TorchTunablesTest {
    @Test
    void theMmapThresholdIsDroppedAndTheRestKept() {
        assertEquals(
                "glibc.malloc.hugetlb=1",
                TrainStepBench.torchTunables("glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576"));
        assertEquals(
                "glibc.malloc.hugetlb=1:glibc.cpu.x86_shstk=off",
                TrainStepBench.torchTunables(
                        "glibc.malloc.mmap_threshold=4096:glibc.malloc.hugetlb=1:glibc.cpu.x86_shstk=off"));
        assertNull(TrainStepBench.torchTunables("glibc.malloc.mmap_threshold=1048576"));
        assertNull(TrainStepBench.torchTunables(null));
        assertEquals("glibc.malloc.hugetlb=1", TrainStepBench.torchTunables("glibc.malloc.hugetlb=1"));
    }

    @Test
    void theAnchorsProcessGetsThem() {
        var pb = TrainStepBench.torchProcess(Path.of("anchor.py"), List.of());
        String ours = System.getenv("GLIBC_TUNABLES");
        assertEquals(TrainStepBench.torchTunables(ours), pb.environment().get("GLIBC_TUNABLES"), "ours: " + ours);
        assertEquals("2", pb.environment().get("OMP_NUM_THREADS"));
    }
}
