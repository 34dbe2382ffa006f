package io.gptneo.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LockstepTest {
    /** A side as a shell script: READY, then per "step" it logs its name to {@code log} and reports {@code seconds}. */
    private static ProcessBuilder fake(String name, String seconds, Path log) {
        String script = "echo noise; echo READY; while read l; do [ \"$l\" = step ] || break; echo " + name + " >> '"
                + log + "'; echo 'STEP " + seconds + "'; done; echo 'RESULT " + name + "'";
        return new ProcessBuilder("/bin/sh", "-c", script);
    }

    @Test
    void roundsAlternateWhoGoesFirstAndRatiosCompareAdjacentSteps(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("order.log");
        try (Lockstep.Side a = new Lockstep.Side("a", fake("a", "0.5", log));
                Lockstep.Side b = new Lockstep.Side("b", fake("b", "1.25", log))) {
            a.awaitReady();
            b.awaitReady();
            Lockstep.Rounds r = Lockstep.run(a, b, 4);
            assertArrayEquals(new double[] {0.5, 0.5, 0.5, 0.5}, r.a());
            assertArrayEquals(new double[] {1.25, 1.25, 1.25, 1.25}, r.b());
            assertArrayEquals(new double[] {2.5, 2.5, 2.5, 2.5}, r.aOverB());
            assertArrayEquals(new boolean[] {true, false, true, false}, r.aFirst());
            assertEquals("RESULT a", a.finish(l -> l.startsWith("RESULT")));
            assertEquals("RESULT b", b.finish(l -> l.startsWith("RESULT")));
        }
        assertEquals(List.of("a", "b", "b", "a", "a", "b", "b", "a"), Files.readAllLines(log));
    }

    /** A side that also serves peaks: each request logged as "name step" or "name peak"; peaks report {@code gflops}. */
    private static ProcessBuilder fakeWithPeaks(String name, String seconds, String gflops, Path log) {
        String script = "echo READY; while read l; do case \"$l\" in step) echo '" + name + " step' >> '" + log
                + "'; echo 'STEP " + seconds + "';; peak) echo '" + name + " peak' >> '" + log + "'; echo 'PEAK "
                + gflops + "';; *) break;; esac; done; echo 'RESULT " + name + "'";
        return new ProcessBuilder("/bin/sh", "-c", script);
    }

    @Test
    void peaksAreTakenRightBeforeAndRightAfterThePairsRounds(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("order.log");
        try (Lockstep.Side a = new Lockstep.Side("a", fakeWithPeaks("a", "0.5", "640.5", log));
                Lockstep.Side b = new Lockstep.Side("b", fakeWithPeaks("b", "1.0", "700.25", log))) {
            a.awaitReady();
            b.awaitReady();
            Lockstep.Paired p = Lockstep.runWithPeaks(a, b, 2);
            assertArrayEquals(new double[] {2.0, 2.0}, p.rounds().aOverB());
            assertEquals(new Lockstep.Peaks(640.5, 700.25, 700.25, 640.5), p.peaks());
            assertEquals(700.25, p.peaks().max());
            assertEquals("RESULT a", a.finish(l -> l.startsWith("RESULT")));
            assertEquals("RESULT b", b.finish(l -> l.startsWith("RESULT")));
        }
        assertEquals(
                List.of("a peak", "b peak", "a step", "b step", "b step", "a step", "b peak", "a peak"),
                Files.readAllLines(log));
        try (Lockstep.Side bad = new Lockstep.Side("torch x", fakeWithPeaks("x", "0.5", "fast", dir.resolve("l")))) {
            bad.awaitReady();
            IllegalStateException e = assertThrows(IllegalStateException.class, bad::peak);
            assertTrue(e.getMessage().contains("torch x") && e.getMessage().contains("PEAK fast"), e.getMessage());
        }
    }

    @Test
    void aSideThatDiesOrMisspeaksIsNamed(@TempDir Path dir) throws Exception {
        try (Lockstep.Side gone =
                new Lockstep.Side("torch train-b2-t256", new ProcessBuilder("/bin/sh", "-c", "exit 3"))) {
            IllegalStateException e = assertThrows(IllegalStateException.class, gone::awaitReady);
            assertTrue(
                    e.getMessage().contains("torch train-b2-t256")
                            && e.getMessage().contains("READY"),
                    e.getMessage());
        }
        try (Lockstep.Side bad = new Lockstep.Side("java x", fake("x", "soon", dir.resolve("l")))) {
            bad.awaitReady();
            IllegalStateException e = assertThrows(IllegalStateException.class, bad::step);
            assertTrue(e.getMessage().contains("java x") && e.getMessage().contains("STEP soon"), e.getMessage());
        }
        try (Lockstep.Side failing = new Lockstep.Side(
                "java y", new ProcessBuilder("/bin/sh", "-c", "echo READY; read l; echo 'STEP 0.1'; read l; exit 2"))) {
            failing.awaitReady();
            assertEquals(0.1, failing.step());
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> failing.finish(l -> true));
            assertTrue(e.getMessage().contains("java y") && e.getMessage().contains("status 2"), e.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> Lockstep.run(null, null, 0));
    }

    @Test
    void serveRunsOneStepPerRequestAndStopsAtAnythingElse() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        int[] calls = {0};
        List<Double> times;
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            times = Lockstep.serve(
                    new BufferedReader(new StringReader("step\nstep\ndone\nstep\n")), out, () -> 0.25 * ++calls[0]);
        }
        assertEquals(List.of(0.25, 0.5), times);
        assertEquals(2, calls[0]);
        assertEquals(
                List.of("READY", "STEP 0.25", "STEP 0.5"),
                bytes.toString(StandardCharsets.UTF_8).lines().toList());
    }

    @Test
    void servePeaksOnlyWhenItHasAPeakBody() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        List<Double> times;
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
            times = Lockstep.serve(
                    new BufferedReader(new StringReader("peak\nstep\npeak\ndone\n")), out, () -> 0.5, () -> 512.0);
        }
        assertEquals(List.of(0.5), times);
        assertEquals(
                List.of("READY", "PEAK 512.0", "STEP 0.5", "PEAK 512.0"),
                bytes.toString(StandardCharsets.UTF_8).lines().toList());
        bytes.reset();
        try (PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8)) { // no peak body: peak ends it
            times = Lockstep.serve(new BufferedReader(new StringReader("step\npeak\nstep\n")), out, () -> 0.5);
        }
        assertEquals(List.of(0.5), times);
        assertEquals(
                List.of("READY", "STEP 0.5"),
                bytes.toString(StandardCharsets.UTF_8).lines().toList());
    }
}
