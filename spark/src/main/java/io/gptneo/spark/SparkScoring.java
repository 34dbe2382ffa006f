package io.gptneo.spark;

import static org.apache.spark.sql.functions.array;
import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.posexplode;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * Batch scoring of a {@code Dataset<Row>}: every input row comes back with its columns unchanged plus the cost
 * (cost > 0 = unsafe), in the same order within each partition. A row that cannot be scored (a missing or non-string
 * field, a line Spark could not parse, more tokens than {@link ScoreSettings#maxTokens()}) gets null costs and the
 * reason in {@code error}; no row is dropped.
 *
 * <p>Each partition is read in windows of {@value #WINDOW} rows; the rows of a window are sorted by length and scored
 * {@code batchSize} at a time (little padding), then written back in input order.
 */
public final class SparkScoring {
    static final int WINDOW = 256;
    /** Spark's column for a JSON line it could not parse (PERMISSIVE mode). */
    static final String CORRUPT = "_corrupt_record";

    private SparkScoring() {}

    /** Adds {@code cost} (float), {@code unsafe} (boolean) and {@code error} (string) to rows with prompt and response. */
    public static Dataset<Row> score(Dataset<Row> in, ScoreSettings s) {
        return score(in, s, "prompt", List.of("response"), List.of(""));
    }

    /**
     * PKU pairs (prompt, response_0, response_1), one output row per pair: {@code cost_0}, {@code cost_1},
     * {@code unsafe_0}, {@code unsafe_1}, {@code safer} (0 or 1: the response with the lower cost) and {@code error}.
     */
    public static Dataset<Row> scorePairs(Dataset<Row> in, ScoreSettings s) {
        Dataset<Row> d = score(in, s, "prompt", List.of("response_0", "response_1"), List.of("_0", "_1"));
        return d.withColumn(
                "safer",
                org.apache
                        .spark
                        .sql
                        .functions
                        .when(col("cost_0").isNull().or(col("cost_1").isNull()), null)
                        .when(col("cost_1").lt(col("cost_0")), 1)
                        .otherwise(0));
    }

    /**
     * PKU pairs, one output row per response: the pair's other columns, {@code response_id} (0 or 1) and
     * {@code response} in place of response_0/response_1, then {@link #score(Dataset, ScoreSettings)}.
     */
    public static Dataset<Row> scorePairResponses(Dataset<Row> in, ScoreSettings s) {
        requireColumns(in.schema(), List.of("prompt", "response_0", "response_1"));
        List<org.apache.spark.sql.Column> keep = new ArrayList<>();
        for (String c : in.columns()) if (!c.equals("response_0") && !c.equals("response_1")) keep.add(col(c));
        keep.add(posexplode(array(col("response_0"), col("response_1"))).as(new String[] {"response_id", "response"}));
        return score(in.select(keep.toArray(org.apache.spark.sql.Column[]::new)), s);
    }

    /** Is {@code schema} the PKU pair format (response_0 and response_1 columns)? */
    public static boolean isPairs(StructType schema) {
        List<String> names = Arrays.asList(schema.fieldNames());
        return names.contains("response_0") && names.contains("response_1");
    }

    static Dataset<Row> score(
            Dataset<Row> in, ScoreSettings s, String prompt, List<String> responses, List<String> suffixes) {
        StructType schema = in.schema();
        List<String> needed = new ArrayList<>(List.of(prompt));
        needed.addAll(responses);
        requireColumns(schema, needed);
        StructType out = schema;
        for (String sfx : suffixes) {
            out = out.add(field(schema, "cost" + sfx, DataTypes.FloatType))
                    .add(field(schema, "unsafe" + sfx, DataTypes.BooleanType));
        }
        out = out.add(field(schema, "error", DataTypes.StringType));
        int[] textCols = needed.stream().mapToInt(schema::fieldIndex).toArray();
        int corrupt = Arrays.asList(schema.fieldNames()).contains(CORRUPT) ? schema.fieldIndex(CORRUPT) : -1;
        String[] types = needed.stream()
                .map(n -> schema.apply(n).dataType().simpleString())
                .toArray(String[]::new);
        PartitionScorer f =
                new PartitionScorer(s, needed.toArray(String[]::new), types, textCols, corrupt, schema.length());
        return in.mapPartitions(f, Encoders.row(out));
    }

    private static StructField field(StructType schema, String name, org.apache.spark.sql.types.DataType t) {
        if (Arrays.asList(schema.fieldNames()).contains(name)) {
            throw new IllegalArgumentException(
                    "the input already has a column '" + name + "' (rename or drop it before scoring)");
        }
        return DataTypes.createStructField(name, t, true);
    }

    private static void requireColumns(StructType schema, List<String> names) {
        for (String n : names) {
            if (!Arrays.asList(schema.fieldNames()).contains(n)) {
                throw new IllegalArgumentException("the input has no column '" + n + "' (columns: "
                        + String.join(", ", schema.fieldNames()) + ")");
            }
        }
    }

    /** Scores one partition, window by window. */
    static final class PartitionScorer implements MapPartitionsFunction<Row, Row> {
        private final ScoreSettings s;
        private final String[] names; // prompt, then the responses
        private final String[] types; // their Spark types
        private final int[] cols; // their indexes
        private final int corrupt; // index of _corrupt_record, or -1
        private final int width; // input columns

        PartitionScorer(ScoreSettings s, String[] names, String[] types, int[] cols, int corrupt, int width) {
            this.s = s;
            this.names = names;
            this.types = types;
            this.cols = cols;
            this.corrupt = corrupt;
            this.width = width;
        }

        @Override
        public Iterator<Row> call(Iterator<Row> rows) {
            return new Iterator<>() {
                private Iterator<Row> window = List.<Row>of().iterator();

                @Override
                public boolean hasNext() {
                    if (!window.hasNext() && rows.hasNext())
                        window = scoreWindow(rows).iterator();
                    return window.hasNext();
                }

                @Override
                public Row next() {
                    if (!hasNext()) throw new NoSuchElementException();
                    return window.next();
                }
            };
        }

        private List<Row> scoreWindow(Iterator<Row> rows) {
            CostScorer scorer = CostScorer.shared(s);
            int nResp = cols.length - 1;
            List<Row> in = new ArrayList<>(WINDOW);
            while (in.size() < WINDOW && rows.hasNext()) in.add(rows.next());
            String[] error = new String[in.size()];
            int[][][] ids = new int[in.size()][][];
            List<int[]> jobs = new ArrayList<>(); // {row, response}
            for (int r = 0; r < in.size(); r++) {
                error[r] = check(in.get(r));
                if (error[r] != null) continue;
                ids[r] = new int[nResp][];
                String p = in.get(r).getString(cols[0]);
                for (int k = 0; k < nResp; k++) {
                    String response = in.get(r).getString(cols[k + 1]);
                    ids[r][k] = scorer.encode(p, response);
                    int full = s.maxTokens() > 0 ? scorer.tokens(p, response) : 0;
                    if (full > s.maxTokens() && error[r] == null) {
                        error[r] =
                                names[k + 1] + ": " + full + " tokens (template + EOS) > max-tokens " + s.maxTokens();
                    }
                }
                if (error[r] == null) for (int k = 0; k < nResp; k++) jobs.add(new int[] {r, k});
            }
            jobs.sort(Comparator.comparingInt(j -> ids[j[0]][j[1]].length));
            float[][] cost = new float[in.size()][nResp];
            for (int b = 0; b < jobs.size(); b += s.batchSize()) {
                List<int[]> part = jobs.subList(b, Math.min(jobs.size(), b + s.batchSize()));
                float[] c = scorer.costs(part.stream().map(j -> ids[j[0]][j[1]]).toList());
                for (int i = 0; i < c.length; i++) cost[part.get(i)[0]][part.get(i)[1]] = c[i];
            }
            List<Row> out = new ArrayList<>(in.size());
            for (int r = 0; r < in.size(); r++) {
                Object[] v = new Object[width + 2 * nResp + 1];
                for (int i = 0; i < width; i++) v[i] = in.get(r).get(i);
                for (int k = 0; k < nResp && error[r] == null; k++) {
                    if (!Float.isFinite(cost[r][k]))
                        error[r] = names[k + 1] + ": the cost is " + cost[r][k]
                                + " (no verdict: a safety check fails closed)";
                }
                for (int k = 0; k < nResp && error[r] == null; k++) {
                    v[width + 2 * k] = cost[r][k];
                    v[width + 2 * k + 1] = cost[r][k] > 0;
                }
                v[v.length - 1] = error[r];
                out.add(RowFactory.create(v));
            }
            return out;
        }

        /** Why a row cannot be scored, or null. */
        private String check(Row row) {
            if (corrupt >= 0 && !row.isNullAt(corrupt)) return "invalid JSON line";
            for (int i = 0; i < cols.length; i++) {
                if (row.isNullAt(cols[i])) return names[i] + ": missing";
                if (!(row.get(cols[i]) instanceof String)) return names[i] + ": not a string (" + types[i] + ")";
            }
            return null;
        }
    }
}
