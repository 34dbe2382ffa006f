package io.gptneo.tensor.attention;

/** Scalar double twins of {@link FloatKernels} (the float64 path is for gradient checks, not speed). */
final class DoubleKernels {
    /** Alignment unit for score columns; any value works for scalar loops. */
    static final int L = 4;

    private DoubleKernels() {}

    /** {@code out[o + x] (+)= sum_c w[wOff + c*wStride] * m[mOff + c*mStride + x]}. */
    static void rowCombine(double[] w, int wOff, int wStride, int count,
                           double[] m, int mOff, int mStride, double[] out, int o, int n, boolean accumulate) {
        if (!accumulate) java.util.Arrays.fill(out, o, o + n, 0.0);
        for (int c = 0, wi = wOff, mi = mOff; c < count; c++, wi += wStride, mi += mStride) {
            double wc = w[wi];
            for (int x = 0; x < n; x++) out[o + x] += wc * m[mi + x];
        }
    }

    /** {@code rowCombine} for four output rows (rows ρ of w and out at wOff + ρ*wRow, o + ρ*oRow). */
    static void rowCombine4(double[] w, int wOff, int wRow, int wStride, int count,
                            double[] m, int mOff, int mStride, double[] out, int o, int oRow, int n, boolean accumulate) {
        for (int r = 0; r < 4; r++) rowCombine(w, wOff + r * wRow, wStride, count, m, mOff, mStride, out, o + r * oRow, n, accumulate);
    }

    static double max(double[] s, int from, int to) {
        double mx = Double.NEGATIVE_INFINITY;
        for (int x = from; x < to; x++) mx = Math.max(mx, s[x]);
        return mx;
    }

    static double expShiftSum(double[] s, int from, int to, double shift) {
        double sum = 0.0;
        for (int x = from; x < to; x++) {
            s[x] = Math.exp(s[x] - shift);
            sum += s[x];
        }
        return sum;
    }

    static void expShift(double[] s, int from, int to, double shift) {
        for (int x = from; x < to; x++) s[x] = Math.exp(s[x] - shift);
    }

    static void scale(double[] a, int from, int to, double c) {
        for (int x = from; x < to; x++) a[x] *= c;
    }

    static double dot(double[] a, int ao, double[] b, int bo, int n) {
        double sum = 0.0;
        for (int x = 0; x < n; x++) sum += a[ao + x] * b[bo + x];
        return sum;
    }
}
