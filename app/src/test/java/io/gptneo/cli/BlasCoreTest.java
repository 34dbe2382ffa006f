package io.gptneo.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The BLAS core choice with an injected self-check runner (the environment's OPENBLAS_CORETYPE is never changed
 * here), the verdict parser, the cache key, and {@link BlasCoreCheck}'s products on the environment's own core.
 */
class BlasCoreTest {
    static final Set<String> AVX512_BF16 =
            Set.of("avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_bf16");
    static final Set<String> AVX512 = Set.of("avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd");

    @TempDir
    Path dir;

    /** A runner with fixed verdicts per core (a missing core crashes) that records what it was asked. */
    static final class Scripted implements BlasCore.Runner {
        final Map<String, Boolean> ok;
        final List<String> asked = new ArrayList<>();

        Scripted(Map<String, Boolean> ok) {
            this.ok = ok;
        }

        @Override
        public BlasCore.Verdict check(String core) {
            asked.add(core);
            Boolean v = ok.get(core);
            if (v == null) throw new IllegalStateException("child JVM died");
            return new BlasCore.Verdict(v, v ? "ok products=1" : "fail sgemm 17x3x5");
        }
    }

    private final ByteArrayOutputStream logBytes = new ByteArrayOutputStream();
    private final PrintStream log = new PrintStream(logBytes, true, StandardCharsets.UTF_8);

    private BlasCore.Choice choose(String mode, Set<String> flags, BlasCore.Runner r) throws Exception {
        return BlasCore.choose(
                mode, "Haswell", "cpu-A | openblas-0.3.19", flags, dir.resolve("c/blas-core.properties"), r, log);
    }

    private String log() {
        return logBytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void envModeKeepsTheEnvironmentAndRunsNothing() throws Exception {
        Scripted r = new Scripted(Map.of());
        for (String mode : new String[] {null, "", "env"})
            assertNull(choose(mode, AVX512_BF16, r).core());
        assertTrue(r.asked.isEmpty());
        assertEquals("", log());
    }

    @Test
    void namedCoreIsUsedUncheckedAndBadNamesAreRefused() throws Exception {
        Scripted r = new Scripted(Map.of());
        assertEquals("SkylakeX", choose("SkylakeX", AVX512, r).core());
        assertTrue(r.asked.isEmpty());
        assertThrows(IllegalArgumentException.class, () -> choose("Sky lake;rm", AVX512, r));
    }

    @Test
    void autoTakesTheFastestPassingCoreOnceAndCachesIt() throws Exception {
        Scripted r = new Scripted(Map.of("Cooperlake", false, "SkylakeX", true));
        assertEquals("SkylakeX", choose("auto", AVX512_BF16, r).core());
        assertEquals(List.of("Cooperlake", "SkylakeX"), r.asked);
        assertTrue(log().contains("Cooperlake: fail sgemm"), "the faster core's failure is named: " + log());
        BlasCore.Choice again = choose("auto", AVX512_BF16, r);
        assertEquals("SkylakeX", again.core());
        assertEquals(2, r.asked.size(), "the cached verdict is used, no second check");
        assertTrue(again.reason().startsWith("cached verdict"), again.reason());
        assertEquals(1, log().lines().count(), log());
    }

    @Test
    void aFailedOrCrashedCheckFallsBackToTheEnvironmentAndSaysSoOnce() throws Exception {
        Scripted r = new Scripted(Map.of("Cooperlake", false)); // SkylakeX's check crashes
        BlasCore.Choice c = choose("auto", AVX512_BF16, r);
        assertNull(c.core());
        assertTrue(
                c.reason().contains("Cooperlake: fail sgemm")
                        && c.reason().contains("SkylakeX: check crashed")
                        && c.reason().contains("OPENBLAS_CORETYPE=Haswell"),
                c.reason());
        assertNull(choose("auto", AVX512_BF16, r).core());
        assertEquals(2, r.asked.size());
        assertEquals(
                1, log().lines().filter(l -> l.contains("self-check failed")).count(), log());
    }

    @Test
    void candidatesTheCpuCannotRunAreNotTried() throws Exception {
        Scripted r = new Scripted(Map.of("Cooperlake", true, "SkylakeX", true));
        assertEquals("SkylakeX", choose("auto", AVX512, r).core()); // no avx512_bf16: no Cooperlake
        assertEquals(List.of("SkylakeX"), r.asked);
        Scripted none = new Scripted(Map.of());
        BlasCore.Choice c = BlasCore.choose(
                "auto", null, "cpu-B", Set.of("avx2"), dir.resolve("c/blas-core.properties"), none, log);
        assertNull(c.core());
        assertTrue(none.asked.isEmpty());
        assertTrue(c.reason().contains("no candidate"), c.reason());
    }

    @Test
    void verdictNeedsExitZeroAnOkLineAndTheRequestedCore() {
        String ok = "Core: SkylakeX\n" + BlasCoreCheck.TAG + "ok core=SkylakeX products=10\n";
        assertTrue(BlasCore.verdict("SkylakeX", 0, ok).ok());
        assertFalse(BlasCore.verdict("SkylakeX", 134, ok).ok());
        assertFalse(
                BlasCore.verdict("SkylakeX", 0, "Core: Haswell\n" + BlasCoreCheck.TAG + "ok core=SkylakeX\n")
                        .ok(),
                "fell back to another core");
        BlasCore.Verdict failed = BlasCore.verdict(
                "SkylakeX", 1, BlasCoreCheck.TAG + "fail core=SkylakeX sgemm 3x5x17 error/bound=4.2\n");
        assertFalse(failed.ok());
        assertTrue(failed.detail().contains("3x5x17"), failed.detail());
        assertTrue(BlasCore.verdict("SkylakeX", 139, "SIGSEGV\n").detail().contains("139"));
    }

    @Test
    void keyDependsOnCpuAndOpenBlasBuild() {
        String cpu =
                "processor\t: 0\nmodel name\t: AMD EPYC\ncpu family\t: 25\nmodel\t\t: 17\nstepping\t: 1\nflags\t\t: fpu avx512f avx512_bf16\n";
        String cp = "/x/nd4j.jar:/m2/openblas-0.3.19-1.5.7.jar:/m2/openblas-0.3.19-1.5.7-linux-x86_64.jar";
        String k = BlasCore.key(cpu, cp);
        assertTrue(k.contains("AMD_EPYC") && k.contains("family_25") && k.contains("openblas-0.3.19-1.5.7.jar"), k);
        assertNotEquals(k, BlasCore.key(cpu.replace("model\t\t: 17", "model\t\t: 1"), cp));
        assertNotEquals(k, BlasCore.key(cpu, cp.replace("0.3.19", "0.3.21")));
        assertTrue(BlasCore.flags(cpu).containsAll(Set.of("avx512f", "avx512_bf16")));
    }

    @Test
    void gemmAutoTakesOneDnnOnlyAfterAPassingCheckAndCachesTheVerdict() throws Exception {
        Path cache = dir.resolve("g/blas-core.properties");
        Scripted pass = new Scripted(Map.of("onednn", true));
        assertEquals(
                "onednn",
                BlasCore.chooseGemm(null, "gemm cpu-A", cache, pass, log).core()); // default is auto
        assertEquals(
                "onednn",
                BlasCore.chooseGemm("auto", "gemm cpu-A", cache, pass, log).core());
        assertEquals(List.of("onednn"), pass.asked, "the second call reads the cached verdict");

        Scripted crash = new Scripted(Map.of());
        BlasCore.Choice c = BlasCore.chooseGemm("auto", "gemm cpu-B", cache, crash, log);
        assertNull(c.core(), "a crashed check keeps OpenBLAS");
        assertTrue(c.reason().contains("check crashed") && c.reason().contains("keeping OpenBLAS"), c.reason());
        BlasCore.chooseGemm("auto", "gemm cpu-B", cache, crash, log);
        assertEquals(1, crash.asked.size(), "the failure is cached too");
        assertEquals(
                1, log().lines().filter(l -> l.contains("self-check failed")).count(), log());
    }

    @Test
    void gemmNamedModesRunNoCheckAndBadModesAreRefused() throws Exception {
        Scripted r = new Scripted(Map.of());
        Path cache = dir.resolve("g/blas-core.properties");
        assertNull(BlasCore.chooseGemm("openblas", "k", cache, r, log).core());
        assertEquals("onednn", BlasCore.chooseGemm("onednn", "k", cache, r, log).core());
        assertTrue(r.asked.isEmpty());
        var e = assertThrows(IllegalArgumentException.class, () -> BlasCore.chooseGemm("mkl", "k", cache, r, log));
        assertTrue(e.getMessage().contains("GPTNEO_GEMM"), e.getMessage());
    }

    @Test
    void oneDnnProductsAreWithinTheirBounds() {
        org.junit.jupiter.api.Assumptions.assumeTrue(io.gptneo.tensor.OneDnnGemm.available(), "no oneDNN natives");
        List<BlasCoreCheck.Product> all = BlasCoreCheck.products();
        for (int i = 0; i < all.size(); i += 13) {
            double r = BlasCoreCheck.check(all.get(i), false, true, i);
            assertTrue(r <= 1, all.get(i) + " oneDNN sgemm error/bound " + r);
        }
    }

    @Test
    void theOneDnnChildCheckCoversPackedWeightProducts() {
        // the real child JVM GPTNEO_GEMM=auto runs: oneDNN's sgemm, then Gemm.mmWeight with -Dgptneo.gemm=onednn
        BlasCore.Verdict v = BlasCore.childCheck(BlasCore.ONEDNN);
        Assumptions.assumeFalse(v.detail().contains("unavailable"), "oneDNN unavailable here: " + v.detail());
        assertTrue(v.ok(), v.detail());
        int want =
                BlasCoreCheck.products().size() + BlasCoreCheck.weightProducts().size();
        assertTrue(v.detail().contains("products=" + want), "every sgemm and weight product checked: " + v.detail());
    }

    @Test
    void productsOnTheEnvironmentsCoreAreWithinTheirBounds() {
        List<BlasCoreCheck.Product> all = BlasCoreCheck.products();
        assertTrue(all.stream().anyMatch(p -> p.transA() && p.transB() && p.k() == 3072));
        for (int i = 0; i < all.size(); i += 13) {
            for (boolean dbl : new boolean[] {false, true}) {
                double r = BlasCoreCheck.check(all.get(i), dbl, i);
                assertTrue(r <= 1, all.get(i) + (dbl ? " dgemm" : " sgemm") + " error/bound " + r);
            }
        }
    }
}
