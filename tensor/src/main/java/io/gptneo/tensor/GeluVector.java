package io.gptneo.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Vector API bodies of {@link GeluKernel}'s float loops (loaded only when jdk.incubator.vector is present); tanh from {@link VectorMath}. */
final class GeluVector {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final float C = (float) GeluKernel.C, K = (float) GeluKernel.K;

    private GeluVector() {}

    static void forward(float[] x, float[] y, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        for (; i < end; i += SP.length()) {
            FloatVector v = FloatVector.fromArray(SP, x, i);
            FloatVector t = VectorMath.tanh(v.mul(v).mul(K).add(1f).mul(v).mul(C));
            t.add(1f).mul(v).mul(0.5f).intoArray(y, i);
        }
        GeluKernel.forward(x, y, i, hi);
    }

    static void backward(float[] x, float[] g, float[] d, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        for (; i < end; i += SP.length()) {
            FloatVector v = FloatVector.fromArray(SP, x, i), v2 = v.mul(v);
            FloatVector t = VectorMath.tanh(v2.mul(K).add(1f).mul(v).mul(C));
            FloatVector du = v2.mul(3 * K).add(1f).mul(C);
            FloatVector dd = t.mul(t).neg().add(1f).mul(du).mul(v).add(t.add(1f)).mul(0.5f);
            FloatVector.fromArray(SP, g, i).mul(dd).intoArray(d, i);
        }
        GeluKernel.backward(x, g, d, i, hi);
    }
}
