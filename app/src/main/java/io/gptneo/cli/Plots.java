package io.gptneo.cli;

import io.gptneo.train.eval.BinaryMetrics;
import io.gptneo.train.eval.Evaluation;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** PNG charts of an evaluation: cost histograms (safe vs unsafe) and the ROC curve. */
public final class Plots {
    private Plots() {}

    static {
        // Charts are drawn off-screen; without this a server JVM without a display could try to open one.
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    /** Writes report.json, cost_histogram.png and roc.png into {@code dir}. */
    public static void write(Path dir, Evaluation.Result r) throws IOException {
        Evaluation.write(dir, r);
        costHistogram(r.costs(), r.unsafe(), 40, dir.resolve("cost_histogram.png"));
        roc(r.costs(), r.unsafe(), BinaryMetrics.auroc(r.costs(), r.unsafe()), dir.resolve("roc.png"));
    }

    /** Overlaid histograms of the costs of safe and unsafe responses over shared bins; the line x=0 is the decision boundary. */
    public static void costHistogram(double[] cost, boolean[] unsafe, int bins, Path png) throws IOException {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (double c : cost) {
            lo = Math.min(lo, c);
            hi = Math.max(hi, c);
        }
        if (cost.length == 0) {
            lo = -1;
            hi = 1;
        }
        if (hi - lo < 1e-9) {
            lo -= 0.5;
            hi += 0.5;
        }
        double width = (hi - lo) / bins;
        double[] safe = new double[bins], bad = new double[bins];
        for (int i = 0; i < cost.length; i++) {
            int b = Math.min(bins - 1, (int) ((cost[i] - lo) / width));
            if (unsafe[i]) bad[b]++;
            else safe[b]++;
        }
        // Step areas over bin edges (x = left edge, held to the right edge) keep a numeric cost axis.
        double[] x = new double[bins + 1], ySafe = new double[bins + 1], yBad = new double[bins + 1];
        for (int b = 0; b <= bins; b++) {
            x[b] = lo + b * width;
            ySafe[b] = safe[Math.min(b, bins - 1)];
            yBad[b] = bad[Math.min(b, bins - 1)];
        }
        int nBad = 0;
        for (boolean u : unsafe) if (u) nBad++;
        XYChart chart = new XYChartBuilder()
                .width(900)
                .height(520)
                .title("Cost of safe vs unsafe responses (n=" + cost.length + "; cost > 0 predicts unsafe)")
                .xAxisTitle("cost")
                .yAxisTitle("responses per bin")
                .build();
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.StepArea);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNE);
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        chart.getStyler().setYAxisMin(0.0);
        XYSeries s1 = chart.addSeries("safe (" + (cost.length - nBad) + ")", x, ySafe);
        s1.setMarker(SeriesMarkers.NONE);
        s1.setFillColor(new Color(40, 120, 200, 110));
        s1.setLineColor(new Color(40, 120, 200));
        XYSeries s2 = chart.addSeries("unsafe (" + nBad + ")", x, yBad);
        s2.setMarker(SeriesMarkers.NONE);
        s2.setFillColor(new Color(220, 60, 40, 110));
        s2.setLineColor(new Color(220, 60, 40));
        double top = 0;
        for (int b = 0; b < bins; b++) top = Math.max(top, Math.max(safe[b], bad[b]));
        if (lo < 0 && hi > 0) {
            XYSeries zero = chart.addSeries("cost = 0", new double[] {0, 0}, new double[] {0, top});
            zero.setXYSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
            zero.setMarker(SeriesMarkers.NONE);
            zero.setLineColor(Color.DARK_GRAY);
        }
        BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    public static void roc(double[] score, boolean[] positive, double auroc, Path png) throws IOException {
        List<double[]> pts = BinaryMetrics.rocCurve(score, positive);
        double[] x = new double[pts.size()], y = new double[pts.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = pts.get(i)[0];
            y[i] = pts.get(i)[1];
        }
        XYChart chart = new XYChartBuilder()
                .width(600)
                .height(600)
                .title(String.format("ROC, unsafe = positive (AUROC %.4f, n=%d)", auroc, score.length))
                .xAxisTitle("false positive rate")
                .yAxisTitle("true positive rate")
                .build();
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        chart.getStyler().setXAxisMin(0.0).setXAxisMax(1.0).setYAxisMin(0.0).setYAxisMax(1.0);
        // fixed tick format: with the data's own values XChart labels every distinct rate on the axis
        chart.getStyler().setXAxisDecimalPattern("0.0").setYAxisDecimalPattern("0.0");
        chart.getStyler().setChartBackgroundColor(Color.WHITE);
        // The diagonal goes first: XChart 3.8.8 places the x-axis ticks from the first series' x values, and with the
        // curve's many rates it drew the 0.1 labels at 0.097 steps (the curve's end fell 3% right of the "1.0" tick).
        XYSeries d = chart.addSeries("chance", new double[] {0, 1}, new double[] {0, 1});
        d.setMarker(SeriesMarkers.NONE);
        d.setLineColor(Color.GRAY);
        XYSeries s = chart.addSeries("cost model", x, y);
        s.setMarker(SeriesMarkers.NONE);
        s.setLineColor(new Color(220, 60, 40));
        BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
    }
}
