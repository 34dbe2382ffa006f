package io.gptneo.bench;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The benchmark flags an fp32 row whose PyTorch anchor runs narrower products than ours. */
class AnchorIsaTest {
    private static final String ONEDNN = "oneDNN sgemm (avx512_core_bf16)";

    @Test
    void anAvx2AnchorAgainstAvx512ProductsIsFlagged() {
        String why = TrainStepBench.isaMismatch("fp32", ONEDNN, "Haswell");
        assertTrue(why != null && why.contains("Haswell") && why.contains("SkylakeX"), why);
        // one of several anchor runs on an AVX2 core is enough
        assertTrue(TrainStepBench.isaMismatch("fp32", ONEDNN, "SkylakeX/Zen") != null);
    }

    @Test
    void avx512OnBothSidesOrOpenBlasOnOursOrBf16IsLikeForLike() {
        assertNull(TrainStepBench.isaMismatch("fp32", ONEDNN, "SkylakeX"));
        assertNull(TrainStepBench.isaMismatch("fp32", ONEDNN, "Cooperlake"));
        assertNull(TrainStepBench.isaMismatch("fp32", "OpenBLAS sgemm (core Haswell)", "Haswell"));
        assertNull(TrainStepBench.isaMismatch("bf16", ONEDNN, "Haswell")); // autocast's products are oneDNN's
    }
}
