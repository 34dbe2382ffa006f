package io.gptneo.train.baseline;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The reference point for the cost model: a bag-of-words logistic regression.
 *
 * <p>Features: lowercased word unigrams and bigrams of the response, and unigrams of the prompt (prefixed so the
 * two vocabularies stay apart), weighted log(1 + count); the vocabulary is the n-grams seen at least
 * {@code minCount} times in training. Model: logistic regression with an L2 penalty on the weights (not the bias),
 * fitted by full-batch gradient descent. {@link #score} returns the logit, positive = unsafe, like a cost.
 */
public final class BagOfWordsBaseline {
    private static final Pattern WORD = Pattern.compile("[\\p{L}\\p{N}']+");

    public record Options(int minCount, double l2, double learningRate, int iterations) {
        public static Options defaults() {
            return new Options(2, 1e-3, 0.5, 300);
        }
    }

    private final Map<String, Integer> vocab;
    private final double[] weights;
    private final double bias;

    private BagOfWordsBaseline(Map<String, Integer> vocab, double[] weights, double bias) {
        this.vocab = vocab;
        this.weights = weights;
        this.bias = bias;
    }

    /** Fits on (prompt, response, unsafe) rows. */
    public static BagOfWordsBaseline fit(List<String> prompts, List<String> responses, boolean[] unsafe, Options o) {
        int n = prompts.size();
        Map<String, Integer> counts = new HashMap<>();
        List<Map<String, Integer>> raw = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            Map<String, Integer> f = ngrams(prompts.get(i), responses.get(i));
            raw.add(f);
            for (String k : f.keySet()) counts.merge(k, 1, Integer::sum); // document frequency
        }
        Map<String, Integer> vocab = new HashMap<>();
        counts.keySet().stream()
                .filter(k -> counts.get(k) >= o.minCount())
                .sorted()
                .forEach(k -> vocab.put(k, vocab.size()));
        int[][] idx = new int[n][];
        double[][] val = new double[n][];
        for (int i = 0; i < n; i++) {
            SparseRow r = vectorize(raw.get(i), vocab);
            idx[i] = r.idx;
            val[i] = r.val;
        }
        double[] w = new double[vocab.size()];
        double b = 0;
        double[] gw = new double[w.length];
        for (int it = 0; it < o.iterations(); it++) {
            java.util.Arrays.fill(gw, 0);
            double gb = 0;
            for (int i = 0; i < n; i++) {
                double z = b;
                for (int k = 0; k < idx[i].length; k++) z += w[idx[i][k]] * val[i][k];
                double err = sigmoid(z) - (unsafe[i] ? 1 : 0); // d(mean log-loss)/dz times n
                gb += err;
                for (int k = 0; k < idx[i].length; k++) gw[idx[i][k]] += err * val[i][k];
            }
            for (int j = 0; j < w.length; j++) w[j] -= o.learningRate() * (gw[j] / n + o.l2() * w[j]);
            b -= o.learningRate() * gb / n;
        }
        return new BagOfWordsBaseline(vocab, w, b);
    }

    /** Logit of "unsafe" for one row. */
    public double score(String prompt, String response) {
        SparseRow r = vectorize(ngrams(prompt, response), vocab);
        double z = bias;
        for (int k = 0; k < r.idx.length; k++) z += weights[r.idx[k]] * r.val[k];
        return z;
    }

    public int vocabularySize() {
        return vocab.size();
    }

    static Map<String, Integer> ngrams(String prompt, String response) {
        Map<String, Integer> f = new HashMap<>();
        String prev = null;
        Matcher m = WORD.matcher(response.toLowerCase(Locale.ROOT));
        while (m.find()) {
            String w = m.group();
            f.merge("r:" + w, 1, Integer::sum);
            if (prev != null) f.merge("r2:" + prev + ' ' + w, 1, Integer::sum);
            prev = w;
        }
        Matcher p = WORD.matcher(prompt.toLowerCase(Locale.ROOT));
        while (p.find()) f.merge("p:" + p.group(), 1, Integer::sum);
        return f;
    }

    private record SparseRow(int[] idx, double[] val) {}

    private static SparseRow vectorize(Map<String, Integer> f, Map<String, Integer> vocab) {
        int[] idx = new int[f.size()];
        double[] val = new double[f.size()];
        int k = 0;
        for (Map.Entry<String, Integer> e : f.entrySet()) {
            Integer j = vocab.get(e.getKey());
            if (j == null) continue;
            idx[k] = j;
            val[k] = Math.log1p(e.getValue());
            k++;
        }
        return new SparseRow(java.util.Arrays.copyOf(idx, k), java.util.Arrays.copyOf(val, k));
    }

    private static double sigmoid(double z) {
        return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
    }
}
