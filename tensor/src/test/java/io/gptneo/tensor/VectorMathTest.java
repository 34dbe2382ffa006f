package io.gptneo.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

/** {@link VectorMath} against {@code Math} in double: accuracy over the float range and the edge cases. */
class VectorMathTest {
    static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;

    @Test
    void expIsAccurateAndHandlesTheEdges() {
        double worst = 0;
        float[] x = new float[SP.length()];
        for (int i = 0; i < 200_000; i++) {
            for (int l = 0; l < x.length; l++) x[l] = -87f + 175f * ((i * x.length + l) % 1_000_003) / 1_000_003f;
            float[] e = VectorMath.exp(FloatVector.fromArray(SP, x, 0)).toArray();
            for (int l = 0; l < x.length; l++)
                worst = Math.max(worst, Math.abs(e[l] - Math.exp(x[l])) / Math.exp(x[l]));
        }
        assertTrue(worst < 3e-7, "exp max relative error " + worst);
        float[] edge = new float[SP.length()];
        edge[0] = Float.NEGATIVE_INFINITY;
        edge[1] = -100f;
        edge[2] = 100f;
        edge[3] = 0f;
        edge[4] = Float.NaN;
        edge[5] = -87.3f;
        float[] e = VectorMath.exp(FloatVector.fromArray(SP, edge, 0)).toArray();
        assertEquals(0f, e[0]);
        assertEquals(0f, e[1]);
        assertEquals(Float.POSITIVE_INFINITY, e[2]);
        assertEquals(1f, e[3]);
        assertTrue(Float.isNaN(e[4]), "exp(NaN) = " + e[4]);
        assertEquals(Math.exp(-87.3f), e[5], 3e-7 * Math.exp(-87.3f));
    }

    /** The softmax exp: as accurate as exp on [-80, 88], exactly 0 below, NaN kept; equal to exp's value there. */
    @Test
    void expSoftmaxIsAccurateAndZeroBelowItsBound() {
        double worst = 0, worstVsExp = 0;
        float[] x = new float[SP.length()];
        for (int i = 0; i < 200_000; i++) {
            for (int l = 0; l < x.length; l++) x[l] = -80f + 168f * ((i * x.length + l) % 1_000_003) / 1_000_003f;
            FloatVector v = FloatVector.fromArray(SP, x, 0);
            float[] e = VectorMath.expSoftmax(v).toArray(),
                    g = VectorMath.exp(v).toArray();
            for (int l = 0; l < x.length; l++) {
                worst = Math.max(worst, Math.abs(e[l] - Math.exp(x[l])) / Math.exp(x[l]));
                worstVsExp = Math.max(worstVsExp, Math.abs(e[l] - g[l]) / g[l]);
            }
        }
        assertTrue(worst < 3e-7, "expSoftmax max relative error " + worst);
        assertTrue(worstVsExp < 3e-7, "expSoftmax vs exp: " + worstVsExp);
        float[] edge = new float[SP.length()];
        edge[0] = Float.NEGATIVE_INFINITY;
        edge[1] = -80.001f;
        edge[2] = -1e30f;
        edge[3] = 0f;
        edge[4] = Float.NaN;
        edge[5] = -80f;
        edge[6] = 1e-6f; // just above 0, as s - lse may be after rounding
        float[] e = VectorMath.expSoftmax(FloatVector.fromArray(SP, edge, 0)).toArray();
        assertEquals(0f, e[0]);
        assertEquals(0f, e[1]);
        assertEquals(0f, e[2]);
        assertEquals(1f, e[3]);
        assertTrue(Float.isNaN(e[4]), "expSoftmax(NaN) = " + e[4]);
        assertEquals(Math.exp(-80.0), e[5], 3e-7 * Math.exp(-80.0));
        assertEquals(Math.exp(edge[6]), e[6], 3e-7);
    }

    @Test
    void tanhAndSum() {
        float[] u = new float[SP.length()];
        double worst = 0;
        for (int i = 0; i < 20_000; i++) {
            for (int l = 0; l < u.length; l++) u[l] = -12f + 24f * ((i * u.length + l) % 100_003) / 100_003f;
            float[] t = VectorMath.tanh(FloatVector.fromArray(SP, u, 0)).toArray();
            for (int l = 0; l < u.length; l++) worst = Math.max(worst, Math.abs(t[l] - Math.tanh(u[l])));
        }
        assertTrue(worst < 2e-7, "tanh max absolute error " + worst);
        float[] v = new float[SP.length()];
        for (int l = 0; l < v.length; l++) v[l] = 0.1f * l + 1e-3f + (l % 3 == 0 ? 1e4f : 0f);
        // the documented tree, written out on an array: lane i + n added into lane i, n = L/2, L/4, ..., 1
        float[] tree = v.clone();
        for (int n = tree.length / 2; n >= 1; n /= 2) for (int i = 0; i < n; i++) tree[i] = tree[i] + tree[i + n];
        assertEquals(tree[0], VectorMath.sum(FloatVector.fromArray(SP, v, 0)), 0f, "pairwise tree sum");
        // the two other spellings of the same tree that kernels use: lanes in an array, and the shuffles inline
        assertEquals(tree[0], VectorMath.sumLanes(v.clone(), 0, v.length), 0f, "sumLanes");
        FloatVector w = FloatVector.fromArray(SP, v, 0);
        for (VectorShuffle<Float> h : VectorMath.halves(SP)) w = w.add(w.rearrange(h));
        assertEquals(tree[0], w.lane(0), 0f, "halves written out");
        float[] other = new float[8]; // another lane count: sum's fallback takes the same tree
        for (int l = 0; l < 8; l++) other[l] = v[l];
        float[] t8 = other.clone();
        for (int n = 4; n >= 1; n /= 2) for (int i = 0; i < n; i++) t8[i] = t8[i] + t8[i + n];
        assertEquals(t8[0], VectorMath.sumLanes(other, 0, 8), 0f, "eight lanes");
    }
}
