package io.gptneo.serve;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where costs of a reference set (the evaluation split) fall: equal-width bins over [lo, hi], with counts per
 * ground-truth label ("safe" / "unsafe", or "all" when the source has no labels). The page draws it and marks a new
 * cost on it; {@link #fractionAtOrBelow} places a cost among the reference costs (exact when the raw costs are known,
 * otherwise interpolated within a bin, and then reported as approximate).
 */
public final class ReferenceHistogram {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final double[] edges;
    private final Map<String, long[]> series;
    private final double[] sortedCosts; // null when only bins are known
    private final String source;

    private ReferenceHistogram(double[] edges, Map<String, long[]> series, double[] sortedCosts, String source) {
        if (edges.length < 2) throw new IllegalArgumentException("a histogram needs at least 2 bin edges");
        for (int i = 1; i < edges.length; i++) {
            if (!(edges[i] > edges[i - 1]))
                throw new IllegalArgumentException("bin edges must increase: " + Arrays.toString(edges));
        }
        if (series.isEmpty()) throw new IllegalArgumentException("a histogram needs at least one series of counts");
        for (Map.Entry<String, long[]> e : series.entrySet()) {
            if (e.getValue().length != edges.length - 1) {
                throw new IllegalArgumentException("series " + e.getKey() + " has " + e.getValue().length
                        + " counts for " + (edges.length - 1) + " bins");
            }
            for (long c : e.getValue())
                if (c < 0) throw new IllegalArgumentException("negative count in series " + e.getKey());
        }
        this.edges = edges;
        this.series = series;
        this.sortedCosts = sortedCosts;
        this.source = source;
    }

    /**
     * Bins costs into {@code bins} equal-width bins over [min(costs, 0), max(costs, 0)] (the range always shows the
     * threshold 0). {@code safe[i]} is the ground truth of cost i, or null for unlabelled; labels may be null as a whole.
     */
    public static ReferenceHistogram fromCosts(double[] costs, Boolean[] safe, int bins, String source) {
        if (costs.length == 0) throw new IllegalArgumentException("no reference costs in " + source);
        if (bins < 1) throw new IllegalArgumentException("bins must be >= 1");
        double lo = 0, hi = 0;
        for (double c : costs) {
            if (!Double.isFinite(c))
                throw new IllegalArgumentException("non-finite reference cost " + c + " in " + source);
            lo = Math.min(lo, c);
            hi = Math.max(hi, c);
        }
        if (hi - lo < 1e-9) {
            lo -= 0.5;
            hi += 0.5;
        }
        double[] edges = new double[bins + 1];
        for (int i = 0; i <= bins; i++) edges[i] = lo + (hi - lo) * i / bins;
        boolean labelled = safe != null && Arrays.stream(safe).anyMatch(b -> b != null);
        Map<String, long[]> series = new LinkedHashMap<>();
        if (labelled) {
            series.put("safe", new long[bins]);
            series.put("unsafe", new long[bins]);
            if (Arrays.stream(safe).anyMatch(b -> b == null)) series.put("unlabelled", new long[bins]);
        } else {
            series.put("all", new long[bins]);
        }
        for (int i = 0; i < costs.length; i++) {
            int b = Math.min(bins - 1, (int) Math.floor((costs[i] - lo) / (hi - lo) * bins));
            String key = !labelled ? "all" : safe[i] == null ? "unlabelled" : safe[i] ? "safe" : "unsafe";
            series.get(key)[Math.max(0, b)]++;
        }
        double[] sorted = costs.clone();
        Arrays.sort(sorted);
        return new ReferenceHistogram(edges, series, sorted, source);
    }

    /**
     * Reads a JSON Lines file of reference costs: one object per line with a number {@code cost} and optionally the
     * ground truth as a boolean {@code is_safe} (or {@code safe}); blank lines are skipped.
     */
    public static ReferenceHistogram fromCostsJsonl(Path file, int bins) throws IOException {
        List<Double> costs = new ArrayList<>();
        List<Boolean> labels = new ArrayList<>();
        try (BufferedReader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int no = 0;
            while ((line = r.readLine()) != null) {
                no++;
                if (line.isBlank()) continue;
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    throw new IllegalArgumentException(
                            file + " line " + no + ": invalid JSON (" + firstLine(e.getMessage()) + ")");
                }
                JsonNode cost = n == null ? null : n.get("cost");
                if (cost == null || !cost.isNumber()) {
                    throw new IllegalArgumentException(
                            file + " line " + no + ": expected an object with a number \"cost\"");
                }
                costs.add(cost.asDouble());
                JsonNode label = n.has("is_safe") ? n.get("is_safe") : n.get("safe");
                if (label != null && !label.isNull() && !label.isBoolean()) {
                    throw new IllegalArgumentException(file + " line " + no + ": \"is_safe\" must be true or false");
                }
                labels.add(label == null || label.isNull() ? null : label.asBoolean());
            }
        }
        return fromCosts(
                costs.stream().mapToDouble(Double::doubleValue).toArray(),
                labels.toArray(Boolean[]::new),
                bins,
                file.toString());
    }

    /**
     * Reads the eval report ({@code report.json}): its {@code histogram} object (see {@link #toJson()} for the
     * shape: {@code edges} and {@code series} of counts, or {@code edges} and {@code counts}), found at the top level
     * or one level down (e.g. {@code test.histogram}); else an array of per-example {@code costs} (with optional
     * {@code labels_safe}), binned into {@code bins} bins.
     */
    public static ReferenceHistogram fromEvalReport(Path file, int bins) throws IOException {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": invalid JSON (" + firstLine(e.getMessage()) + ")");
        }
        if (root == null || !root.isObject()) throw new IllegalArgumentException(file + ": expected a JSON object");
        JsonNode h = find(root, "histogram");
        if (h != null) return fromHistogramJson(h, file.toString());
        JsonNode costs = find(root, "costs");
        if (costs != null && costs.isArray()) {
            double[] c = new double[costs.size()];
            for (int i = 0; i < c.length; i++) {
                if (!costs.get(i).isNumber())
                    throw new IllegalArgumentException(file + ": costs[" + i + "] is not a number");
                c[i] = costs.get(i).asDouble();
            }
            JsonNode safe = find(root, "labels_safe");
            Boolean[] s = null;
            if (safe != null && safe.isArray() && safe.size() == c.length) {
                s = new Boolean[c.length];
                for (int i = 0; i < c.length; i++)
                    s[i] = safe.get(i).isBoolean() ? safe.get(i).asBoolean() : null;
            }
            return fromCosts(c, s, bins, file.toString());
        }
        throw new IllegalArgumentException(
                file + ": no \"histogram\" (edges + counts) or \"costs\" array in this report; "
                        + "pass --reference-costs FILE (JSON Lines of {\"cost\": x, \"is_safe\": b}) instead");
    }

    static ReferenceHistogram fromHistogramJson(JsonNode h, String source) {
        JsonNode edgesNode = h.has("edges") ? h.get("edges") : h.get("bin_edges");
        if (edgesNode == null || !edgesNode.isArray())
            throw new IllegalArgumentException(source + ": histogram has no \"edges\" array");
        double[] edges = new double[edgesNode.size()];
        for (int i = 0; i < edges.length; i++) edges[i] = edgesNode.get(i).asDouble();
        Map<String, long[]> series = new LinkedHashMap<>();
        if (h.has("series") && h.get("series").isObject()) {
            h.get("series").fields().forEachRemaining(e -> series.put(e.getKey(), counts(e.getValue(), source)));
        } else {
            h.fields().forEachRemaining(e -> {
                String k = e.getKey();
                if (k.equals("counts")) series.put("all", counts(e.getValue(), source));
                else if (k.startsWith("counts_"))
                    series.put(k.substring("counts_".length()), counts(e.getValue(), source));
            });
        }
        return new ReferenceHistogram(edges, series, null, source);
    }

    private static long[] counts(JsonNode a, String source) {
        if (!a.isArray()) throw new IllegalArgumentException(source + ": histogram counts must be arrays");
        long[] c = new long[a.size()];
        for (int i = 0; i < c.length; i++) c[i] = a.get(i).asLong();
        return c;
    }

    private static JsonNode find(JsonNode root, String key) {
        if (root.has(key)) return root.get(key);
        for (JsonNode child : root) if (child.isObject() && child.has(key)) return child.get(key);
        return null;
    }

    private static String firstLine(String s) {
        if (s == null) return "unknown error";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    public long total() {
        long t = 0;
        for (long[] c : series.values()) for (long v : c) t += v;
        return t;
    }

    public boolean exact() {
        return sortedCosts != null;
    }

    /** Fraction of reference costs at or below {@code cost}, in [0, 1]. */
    public double fractionAtOrBelow(double cost) {
        if (sortedCosts != null) {
            int lo = 0, hi = sortedCosts.length; // first index with value > cost
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (sortedCosts[mid] <= cost) lo = mid + 1;
                else hi = mid;
            }
            return (double) lo / sortedCosts.length;
        }
        long total = total();
        if (total == 0) return 0;
        double below = 0;
        for (int b = 0; b < edges.length - 1; b++) {
            long n = 0;
            for (long[] c : series.values()) n += c[b];
            if (cost >= edges[b + 1]) below += n;
            else if (cost > edges[b]) below += n * (cost - edges[b]) / (edges[b + 1] - edges[b]);
        }
        return below / total;
    }

    /** {@code {"source", "total", "exact", "threshold": 0, "edges": [...], "series": {"safe": [...], ...}}}. */
    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.put(
                "source",
                Path.of(source).getFileName() == null
                        ? source
                        : Path.of(source).getFileName().toString());
        o.put("total", total());
        o.put("exact", exact());
        o.put("threshold", 0.0);
        ArrayNode e = o.putArray("edges");
        for (double d : edges) e.add(d);
        ObjectNode s = o.putObject("series");
        for (Map.Entry<String, long[]> en : series.entrySet()) {
            ArrayNode a = s.putArray(en.getKey());
            for (long v : en.getValue()) a.add(v);
        }
        return o;
    }
}
