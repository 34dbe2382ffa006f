package io.gptneo.cli;

import io.gptneo.TrainingListener;
import io.gptneo.TrainingStep;
import java.io.PrintStream;
import java.time.Duration;
import java.util.function.IntConsumer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar on stderr (ETA from the bar, plus tokens/s and the running loss in its message) or, when
 * disabled, nothing. stdout stays free for results so scripts can parse it.
 */
public final class Progress implements AutoCloseable {
    private final ProgressBar bar;
    private final long startNanos = System.nanoTime();
    private long tokens;
    private double runningLoss = Double.NaN;

    private Progress(ProgressBar bar) {
        this.bar = bar;
    }

    public static Progress start(String task, long total, String unit, boolean enabled, PrintStream err) {
        if (!enabled) return new Progress(null);
        ProgressBar bar = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(total)
                .setUnit(" " + unit, 1)
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(500)
                .showSpeed()
                .setConsumer(new ConsoleProgressBarConsumer(err, 120))
                .setMaxRenderedLength(140)
                .setSpeedUnit(java.time.temporal.ChronoUnit.MINUTES)
                .build();
        return new Progress(bar);
    }

    /** The training bar as a listener: opened when the run starts (at its resume step), one tick per optimizer step. */
    public static TrainingListener training(boolean enabled, PrintStream err) {
        return training("train", enabled, err);
    }

    /** {@link #training(boolean, PrintStream)} under another task name. */
    public static TrainingListener training(String task, boolean enabled, PrintStream err) {
        return new TrainingListener() {
            private Progress bar = new Progress(null);

            @Override
            public void onStart(long step, long totalSteps) {
                bar = start(task, totalSteps, "steps", enabled, err);
                bar.stepTo(step);
            }

            @Override
            public void onStep(TrainingStep s) {
                bar.step(s.tokens(), s.loss());
            }

            @Override
            public void onEnd() {
                bar.close();
            }
        };
    }

    /** Counts scored responses (no tokens, no loss), for {@code Evaluation}. */
    public IntConsumer responses() {
        return n -> {
            for (int i = 0; i < n; i++) step(0, Double.NaN);
        };
    }

    /** Sets the position (e.g. after a resume). */
    public void stepTo(long n) {
        if (bar != null) bar.stepTo(n);
    }

    /** One unit done; {@code tokens} processed in it; {@code loss} (NaN when none) feeds an exponential running mean. */
    public void step(long tokensDone, double loss) {
        tokens += tokensDone;
        if (!Double.isNaN(loss)) runningLoss = Double.isNaN(runningLoss) ? loss : 0.9 * runningLoss + 0.1 * loss;
        if (bar == null) return;
        bar.step();
        bar.setExtraMessage(" " + message()); // the bar prints it right after the speed, unspaced
    }

    String message() {
        double secs = Math.max(1e-9, (System.nanoTime() - startNanos) / 1e9);
        String tps = tokens == 0 ? "" : String.format("%.0f tok/s", tokens / secs); // eval/classify count rows only
        if (Double.isNaN(runningLoss)) return tps;
        return (tps.isEmpty() ? "" : tps + " ") + String.format("loss %.4f", runningLoss);
    }

    public double runningLoss() {
        return runningLoss;
    }

    public long tokens() {
        return tokens;
    }

    public Duration elapsed() {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
