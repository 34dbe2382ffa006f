package io.gptneo.train.eval;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.PromptResponse;
import io.gptneo.Scorer;
import io.gptneo.train.data.PairExample;
import io.gptneo.train.data.QaExample;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * Scores a labelled data set with a cost model and summarises it: sign metrics over every response (cost > 0 =
 * unsafe), ranking accuracy over pairs, per-category accuracy for BeaverTails, counts and timing.
 */
public final class Evaluation {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * @param costs  one cost per response (pairs: response 0 and 1 of pair i at 2i and 2i+1)
     * @param unsafe the labels of those responses
     * @param report the report.json content
     */
    public record Result(double[] costs, boolean[] unsafe, ObjectNode report) {
        public double accuracy() {
            return report.get("sign_accuracy").doubleValue();
        }
    }

    private Evaluation() {}

    public static Result pairs(List<PairExample> rows, Scorer scorer, int batchSize, IntConsumer progress) {
        List<PromptResponse> items = new ArrayList<>(rows.size() * 2);
        boolean[] unsafe = new boolean[rows.size() * 2];
        for (int i = 0; i < rows.size(); i++) {
            PairExample p = rows.get(i);
            for (int k = 0; k < 2; k++) {
                items.add(new PromptResponse(p.prompt(), p.response(k)));
                unsafe[2 * i + k] = !p.safe(k);
            }
        }
        long t0 = System.nanoTime();
        Scored sc = scoreBucketed(items, scorer, batchSize, progress);
        double[] c = sc.costs();
        double secs = (System.nanoTime() - t0) / 1e9;
        double[] safer = new double[rows.size()], other = new double[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            int s = rows.get(i).saferId();
            safer[i] = c[2 * i + s];
            other[i] = c[2 * i + 1 - s];
        }
        ObjectNode r = common("pairs", rows.size(), c, unsafe, secs);
        r.with("counts").put("truncated", truncatedCount(items, scorer));
        putPadding(r, sc.buckets(), secs);
        r.put("ranking_accuracy", BinaryMetrics.rankingAccuracy(safer, other));
        return new Result(c, unsafe, r);
    }

    public static Result qa(List<QaExample> rows, Scorer scorer, int batchSize, IntConsumer progress) {
        List<PromptResponse> items = new ArrayList<>(rows.size());
        boolean[] unsafe = new boolean[rows.size()];
        for (int i = 0; i < rows.size(); i++) {
            items.add(new PromptResponse(rows.get(i).prompt(), rows.get(i).response()));
            unsafe[i] = !rows.get(i).safe();
        }
        long t0 = System.nanoTime();
        Scored sc = scoreBucketed(items, scorer, batchSize, progress);
        double[] c = sc.costs();
        double secs = (System.nanoTime() - t0) / 1e9;
        ObjectNode r = common("qa", rows.size(), c, unsafe, secs);
        r.with("counts").put("truncated", truncatedCount(items, scorer));
        putPadding(r, sc.buckets(), secs);
        r.set("per_category", perCategory(rows, c));
        return new Result(c, unsafe, r);
    }

    /**
     * For each harm category, the rows flagged with it: how many, and the fraction the model calls unsafe (their
     * accuracy, since a flagged row is unsafe; a flagged row labelled safe counts as correct when called safe).
     */
    static ObjectNode perCategory(List<QaExample> rows, double[] c) {
        Map<String, int[]> m = new LinkedHashMap<>(); // name -> {count, correct}
        for (int i = 0; i < rows.size(); i++) {
            for (var e : rows.get(i).categories().entrySet()) {
                int[] a = m.computeIfAbsent(e.getKey(), k -> new int[2]);
                if (!e.getValue()) continue;
                a[0]++;
                if ((c[i] > 0) == !rows.get(i).safe()) a[1]++;
            }
        }
        ObjectNode o = JSON.createObjectNode();
        m.forEach((k, a) -> {
            ObjectNode x = o.putObject(k);
            x.put("count", a[0]);
            if (a[0] == 0) x.putNull("accuracy");
            else x.put("accuracy", (double) a[1] / a[0]);
        });
        return o;
    }

    private static ObjectNode common(String format, int rows, double[] c, boolean[] unsafe, double secs) {
        BinaryMetrics m = BinaryMetrics.of(c, unsafe);
        ObjectNode r = JSON.createObjectNode();
        r.put("format", format);
        r.put("sign_accuracy", m.accuracy());
        r.put("precision_unsafe", m.precision());
        r.put("recall_unsafe", m.recall());
        r.put("f1_unsafe", m.f1());
        putDouble(r, "auroc", m.auroc());
        ObjectNode counts = r.putObject("counts");
        counts.put("rows", rows);
        counts.put("responses", m.count());
        counts.put("unsafe", m.positives());
        counts.put("safe", m.count() - m.positives());
        ObjectNode cm = r.putObject("confusion");
        cm.put("tp", m.tp());
        cm.put("fp", m.fp());
        cm.put("tn", m.tn());
        cm.put("fn", m.fn());
        double mean = 0;
        for (double v : c) mean += v;
        r.put("mean_cost", c.length == 0 ? 0 : mean / c.length);
        if (c.length > 0) r.set("histogram", histogram(c, unsafe, HISTOGRAM_BINS));
        ObjectNode t = r.putObject("timing");
        t.put("seconds", secs);
        t.put("responses_per_second", secs > 0 ? m.count() / secs : 0);
        return r;
    }

    /** Bins of the report's cost histogram. */
    public static final int HISTOGRAM_BINS = 40;

    /**
     * {@code {"edges": [bins+1], "series": {"safe": [bins], "unsafe": [bins]}}}: equal-width bins over
     * [min(costs, 0), max(costs, 0)], so the threshold 0 is always inside; the last bin includes its right edge.
     * {@code ./gptneo serve --eval-report} draws it.
     */
    static ObjectNode histogram(double[] c, boolean[] unsafe, int bins) {
        double lo = 0, hi = 0;
        for (double v : c)
            if (Double.isFinite(v)) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        if (hi - lo < 1e-9) {
            lo -= 0.5;
            hi += 0.5;
        }
        int[] safe = new int[bins], bad = new int[bins];
        for (int i = 0; i < c.length; i++) {
            if (!Double.isFinite(c[i])) continue;
            int b = Math.max(0, Math.min(bins - 1, (int) Math.floor((c[i] - lo) / (hi - lo) * bins)));
            if (unsafe[i]) bad[b]++;
            else safe[b]++;
        }
        ObjectNode h = JSON.createObjectNode();
        var edges = h.putArray("edges");
        for (int i = 0; i <= bins; i++) edges.add(lo + (hi - lo) * i / bins);
        ObjectNode series = h.putObject("series");
        var s = series.putArray("safe");
        for (int v : safe) s.add(v);
        var u = series.putArray("unsafe");
        for (int v : bad) u.add(v);
        return h;
    }

    static void putDouble(ObjectNode o, String k, double v) {
        if (Double.isFinite(v)) o.put(k, v);
        else o.putNull(k);
    }

    /** How many responses were too long for the window (their prompt cut from the start to keep the response). */
    static int truncatedCount(List<PromptResponse> items, Scorer scorer) {
        int n = 0;
        for (boolean t : scorer.truncated(items)) if (t) n++;
        return n;
    }

    /** Scores in batches; {@code progress} (may be null) is told how many responses each batch scored. */
    public static double[] score(List<PromptResponse> items, Scorer scorer, int batchSize, IntConsumer progress) {
        return scoreBucketed(items, scorer, batchSize, progress).costs();
    }

    /** Costs in input order and the length buckets they were scored in (null when the scorer cannot count tokens). */
    public record Scored(double[] costs, LengthBuckets buckets) {}

    /**
     * Scores in batches of rows of similar length ({@link LengthBuckets}: each batch padded only to its own longest
     * row) when the scorer counts tokens, else in input order; the costs come back in input order either way.
     */
    public static Scored scoreBucketed(List<PromptResponse> items, Scorer scorer, int batchSize, IntConsumer progress) {
        return scoreBucketed(items, scorer, tokenLengths(items, scorer), batchSize, progress);
    }

    /** Tokens of each row as the scorer feeds it ({@link Scorer#tokens}), or null when it cannot count them. */
    public static int[] tokenLengths(List<PromptResponse> items, Scorer scorer) {
        int[] lengths = new int[items.size()];
        for (int i = 0; i < lengths.length; i++) if ((lengths[i] = scorer.tokens(items.get(i))) < 0) return null;
        return lengths;
    }

    /** As {@link #scoreBucketed(List, Scorer, int, IntConsumer)} with the rows' token counts known (null: unknown). */
    public static Scored scoreBucketed(
            List<PromptResponse> items, Scorer scorer, int[] lengths, int batchSize, IntConsumer progress) {
        LengthBuckets buckets = lengths != null ? LengthBuckets.of(lengths, batchSize) : null;
        int[] order = buckets != null
                ? buckets.order()
                : java.util.stream.IntStream.range(0, items.size()).toArray();
        double[] out = new double[items.size()];
        for (int s = 0; s < items.size(); s += batchSize) {
            int e = Math.min(items.size(), s + batchSize);
            List<PromptResponse> b = new ArrayList<>(e - s);
            for (int i = s; i < e; i++) b.add(items.get(order[i]));
            float[] c = scorer.score(b);
            if (c == null || c.length != b.size()) {
                throw new IllegalStateException("scorer returned " + (c == null ? "null" : c.length + " costs")
                        + " for " + b.size() + " pairs");
            }
            for (int i = 0; i < c.length; i++) out[order[s + i]] = c[i];
            if (progress != null) progress.accept(c.length);
        }
        return new Scored(out, buckets);
    }

    /** The report's {@code padding} entry: pad fractions with and without bucketing, and useful (non-pad) tokens/s. */
    private static void putPadding(ObjectNode r, LengthBuckets b, double secs) {
        if (b == null) return;
        ObjectNode p = r.putObject("padding");
        p.put("length_bucketed", true);
        p.put("padding_fraction", b.paddingFraction());
        p.put("padding_fraction_input_order", b.paddingFractionUnbucketed());
        p.put("useful_tokens", b.usefulTokens());
        p.put("useful_tokens_per_second", secs > 0 ? b.usefulTokens() / secs : 0);
    }

    /** Writes report.json into {@code dir} (the command line adds the plots). */
    public static void write(Path dir, Result r) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("report.json"), JSON.writeValueAsString(r.report()) + "\n");
    }
}
