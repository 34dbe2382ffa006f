package io.gptneo.bench;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Two benchmark processes that take turns one step at a time, so that each pair of steps compared is measured a
 * second or so apart instead of minutes apart.
 *
 * <p>Why: on a shared machine the speed of both sides drifts over minutes (bench/RESULTS.md, session 11: the same
 * child ran 782-1015 tokens/s in one half hour), so ratios of whole processes run one after the other carry that
 * drift. Here both processes are started and warmed up first, each on its own, then stepped alternately, A then B in
 * even rounds and B then A in odd ones, and each round's ratio compares two adjacent steps.
 *
 * <p>The protocol, on each side's stdin and stdout (other stdout lines are ignored, stderr passes through):
 * <pre>
 *   side:   READY                 after its warm-up
 *   parent: step                  run one step
 *   side:   STEP &lt;seconds&gt;        that step's own time
 *   parent: peak                  measure the product peak now (a side that serves no peaks stops here)
 *   side:   PEAK &lt;GFLOP/s&gt;       its best 2048³ product of this moment
 *   parent: done                  (or end of input) finish
 *   side:   its result line       then exit 0
 * </pre>
 *
 * <p>Peaks: an MFU divides a step's rate by the machine's product peak, and the peak drifts as the steps do (the
 * bf16 2048³ peaks around the pairs of one run of issue 15 session 23 ranged from 578 to 778 GFLOP/s).
 * {@link #runWithPeaks} asks both sides for a peak right before and right after a pair's rounds, so that the pair's
 * MFU can be taken against a peak measured beside its own steps.
 */
final class Lockstep {
    static final String READY = "READY";
    static final String STEP = "STEP ";
    static final String PEAK = "PEAK ";

    private Lockstep() {}

    /** One side: a started process speaking the protocol. */
    static final class Side implements AutoCloseable {
        final String name;
        private final Process process;
        private final BufferedReader out;
        private final Writer in;

        Side(String name, ProcessBuilder pb) throws IOException {
            this.name = name;
            pb.redirectError(ProcessBuilder.Redirect.INHERIT);
            this.process = pb.start();
            this.out = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            this.in = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        }

        /** Waits for READY (the side's warm-up is over). */
        void awaitReady() throws IOException {
            readUntil(READY::equals, "READY after its warm-up");
        }

        /** One step; returns the time the side measured for it, in seconds. */
        double step() throws IOException {
            return ask("step", STEP, "time");
        }

        /** The side's product peak measured now, in GFLOP/s. */
        double peak() throws IOException {
            return ask("peak", PEAK, "rate");
        }

        /** Sends {@code request} and returns the positive number of the reply line starting with {@code tag}. */
        private double ask(String request, String tag, String what) throws IOException {
            send(request);
            String l = readUntil(s -> s.startsWith(tag), "a " + tag.trim() + " line");
            try {
                double s = Double.parseDouble(l.substring(tag.length()).trim());
                if (!(s > 0) || !Double.isFinite(s)) throw new NumberFormatException("not a positive " + what);
                return s;
            } catch (NumberFormatException e) {
                throw new IllegalStateException(
                        name + ": bad " + request + " line '" + l + "' (" + e.getMessage() + ")");
            }
        }

        /** Ends the side; returns its last stdout line accepted by {@code result}, after it exited with status 0. */
        String finish(Predicate<String> result) throws IOException, InterruptedException {
            send("done");
            in.close();
            String found = null;
            for (String l; (l = out.readLine()) != null; ) if (result.test(l)) found = l;
            int rc = process.waitFor();
            if (rc != 0) throw new IllegalStateException(name + " exited with status " + rc);
            if (found == null) throw new IllegalStateException(name + " printed no result line");
            return found;
        }

        private void send(String line) throws IOException {
            try {
                in.write(line + "\n");
                in.flush();
            } catch (IOException e) {
                throw new IllegalStateException(name + " is gone (" + e.getMessage() + ")", e);
            }
        }

        private String readUntil(Predicate<String> want, String what) throws IOException {
            for (String l; (l = out.readLine()) != null; ) if (want.test(l)) return l;
            throw new IllegalStateException(name + " ended without " + what + " (see its stderr above)");
        }

        @Override
        public void close() {
            if (process.isAlive()) process.destroyForcibly();
        }
    }

    /** What {@link #run} measured: each side's step times, and which side stepped first in each round. */
    record Rounds(double[] a, double[] b, boolean[] aFirst) {
        /** Per round, b's time over a's: a's speed over b's for the same work. */
        double[] aOverB() {
            double[] r = new double[a.length];
            for (int i = 0; i < r.length; i++) r[i] = b[i] / a[i];
            return r;
        }
    }

    /** {@code rounds} rounds of one step each, a first in even rounds and b first in odd ones; both must be READY. */
    static Rounds run(Side a, Side b, int rounds) throws IOException {
        if (rounds < 1) throw new IllegalArgumentException("lockstep needs at least 1 round, got " + rounds);
        double[] ta = new double[rounds], tb = new double[rounds];
        boolean[] aFirst = new boolean[rounds];
        for (int i = 0; i < rounds; i++) {
            aFirst[i] = i % 2 == 0;
            if (aFirst[i]) {
                ta[i] = a.step();
                tb[i] = b.step();
            } else {
                tb[i] = b.step();
                ta[i] = a.step();
            }
        }
        return new Rounds(ta, tb, aFirst);
    }

    /** The peaks of both sides around a pair's rounds, in GFLOP/s: a then b before, b then a after. */
    record Peaks(double aBefore, double bBefore, double bAfter, double aAfter) {
        /** The largest of the four: the machine's best product rate around the pair. */
        double max() {
            return Math.max(Math.max(aBefore, bBefore), Math.max(bAfter, aAfter));
        }
    }

    /** A pair's rounds and the peaks around them. */
    record Paired(Rounds rounds, Peaks peaks) {}

    /**
     * {@code rounds} rounds as {@link #run}, with both sides' product peaks asked for right before (a, then b) and
     * right after (b, then a).
     */
    static Paired runWithPeaks(Side a, Side b, int rounds) throws IOException {
        double aBefore = a.peak(), bBefore = b.peak();
        Rounds r = run(a, b, rounds);
        double bAfter = b.peak(), aAfter = a.peak();
        return new Paired(r, new Peaks(aBefore, bBefore, bAfter, aAfter));
    }

    /** A side's half on stdin and stdout: see {@link #serve(BufferedReader, PrintStream, StepBody, PeakBody)}. */
    static List<Double> serve(StepBody step, PeakBody peak) throws IOException {
        return serve(
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)), System.out, step, peak);
    }

    /** {@link #serve(BufferedReader, PrintStream, StepBody, PeakBody)} for a side that serves no peaks. */
    static List<Double> serve(BufferedReader in, PrintStream out, StepBody step) throws IOException {
        return serve(in, out, step, null);
    }

    /**
     * A side's half: prints READY, then runs {@code step} once per {@code step} line of {@code in} and prints its time,
     * and (when {@code peak} is not null) measures a product peak per {@code peak} line and prints it; stops at any
     * other line or the end of input. Returns the step times.
     */
    static List<Double> serve(BufferedReader in, PrintStream out, StepBody step, PeakBody peak) throws IOException {
        out.println(READY);
        out.flush();
        List<Double> times = new ArrayList<>();
        for (String l; (l = in.readLine()) != null; ) {
            String request = l.trim();
            if (request.equals("step")) {
                double s = step.run();
                times.add(s);
                out.println(STEP + s);
            } else if (request.equals("peak") && peak != null) out.println(PEAK + peak.gflops());
            else break;
            out.flush();
        }
        return times;
    }

    /** One step of a served benchmark; returns its time in seconds. */
    interface StepBody {
        double run() throws IOException;
    }

    /** A served benchmark's product peak at this moment, in GFLOP/s. */
    interface PeakBody {
        double gflops();
    }
}
