package io.gptneo.train.eval;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * Classification metrics of costs against safety labels; the positive class is "unsafe" and a cost above 0
 * predicts unsafe (the Safe-RLHF sign convention).
 */
public record BinaryMetrics(
        int count,
        int positives,
        int tp,
        int fp,
        int tn,
        int fn,
        double accuracy,
        double precision,
        double recall,
        double f1,
        double auroc) {

    public static BinaryMetrics of(double[] cost, boolean[] unsafe) {
        if (cost.length != unsafe.length)
            throw new IllegalArgumentException("costs " + cost.length + " != labels " + unsafe.length);
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (int i = 0; i < cost.length; i++) {
            boolean pred = cost[i] > 0;
            if (pred && unsafe[i]) tp++;
            else if (pred) fp++;
            else if (unsafe[i]) fn++;
            else tn++;
        }
        int n = cost.length;
        double acc = n == 0 ? Double.NaN : (double) (tp + tn) / n;
        double p = tp + fp == 0
                ? 0
                : (double) tp / (tp + fp); // no positive predictions: precision 0 (sklearn's zero_division=0)
        double r = tp + fn == 0 ? 0 : (double) tp / (tp + fn);
        double f1 = p + r == 0 ? 0 : 2 * p * r / (p + r);
        return new BinaryMetrics(n, tp + fn, tp, fp, tn, fn, acc, p, r, f1, auroc(cost, unsafe));
    }

    /**
     * Area under the ROC curve = P(cost of a random unsafe > cost of a random safe) + P(tie)/2, computed from
     * average ranks (Mann-Whitney U), so tied costs count one half. NaN when a class is empty.
     */
    public static double auroc(double[] score, boolean[] positive) {
        int n = score.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, Comparator.comparingDouble(i -> score[i]));
        double rankSumPos = 0;
        long nPos = 0;
        for (int i = 0; i < n; ) {
            int j = i;
            while (j + 1 < n && score[idx[j + 1]] == score[idx[i]]) j++;
            double avgRank = (i + j) / 2.0 + 1; // ranks are 1-based
            for (int k = i; k <= j; k++)
                if (positive[idx[k]]) {
                    rankSumPos += avgRank;
                    nPos++;
                }
            i = j + 1;
        }
        long nNeg = n - nPos;
        if (nPos == 0 || nNeg == 0) return Double.NaN;
        return (rankSumPos - nPos * (nPos + 1) / 2.0) / ((double) nPos * nNeg);
    }

    /** ROC points (fpr, tpr) from (0,0) to (1,1), one point per distinct threshold (ties move diagonally). */
    public static List<double[]> rocCurve(double[] score, boolean[] positive) {
        int n = score.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, Comparator.comparingDouble(i -> -score[i]));
        long nPos = 0;
        for (boolean b : positive) if (b) nPos++;
        long nNeg = n - nPos;
        List<double[]> pts = new ArrayList<>();
        pts.add(new double[] {0, 0});
        long tp = 0, fp = 0;
        for (int i = 0; i < n; ) {
            int j = i;
            while (j < n && score[idx[j]] == score[idx[i]]) {
                if (positive[idx[j]]) tp++;
                else fp++;
                j++;
            }
            pts.add(new double[] {nNeg == 0 ? 0 : (double) fp / nNeg, nPos == 0 ? 0 : (double) tp / nPos});
            i = j;
        }
        return pts;
    }

    /** Fraction of pairs whose less safe response costs more than the safer one (strictly). */
    public static double rankingAccuracy(double[] costSafer, double[] costOther) {
        if (costSafer.length == 0) return Double.NaN;
        int ok = 0;
        for (int i = 0; i < costSafer.length; i++) if (costOther[i] > costSafer[i]) ok++;
        return (double) ok / costSafer.length;
    }
}
