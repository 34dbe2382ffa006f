package io.gptneo.tensor;

import static io.gptneo.tensor.NativeVectors.LOAD_FLOATS;
import static io.gptneo.tensor.NativeVectors.STORE_FLOATS;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Fast float32 {@code gelu_new} (reference: {@link Reference#gelu}): one Vector API pass each way on the arrays' own
 * memory, parallel over chunks; exp from {@link VectorMath}. Backward recomputes s from x, so only x is saved.
 * Written with the logistic function, 0.5·(1 + tanh(u)) = 1/(1 + e^{−2u}), which needs one exp and one division and
 * no sign handling (tanh through exp needed both plus a blend), and has no cancellation in 1 + t where t nears −1:
 * <pre>
 *   u = c·(x + k·x³),  e = e^{−2u},  s = 1/(1 + e),  y = x·s
 *   dy/dx = s + 2·x·e·s²·c·(1 + 3k·x²)        (s·(1 − s) = e·s²;  c = √(2/π), k = 0.044715)
 * </pre>
 * For x far below 0, e^{−2u} is +∞ and y is −0 and dy/dx 0, as the tanh form gives.
 * Why: as ND4J ops this is nine elementwise passes forward and eleven backward over the [B·T, 4H] MLP activation.
 * Loaded only when jdk.incubator.vector is present ({@link Kernels} decides).
 */
final class FastGelu {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final float C = (float) Reference.GELU_C, K = (float) Reference.GELU_K;
    private static final int CHUNK = 1 << 15;

    private FastGelu() {}

    /** y = gelu_new(x), x FLOAT of any shape -> a new c-order array. */
    static INDArray forward(INDArray x) {
        try (FloatView xv = FloatView.read(x);
                FloatView y = FloatView.create(x.shape())) {
            Blocks.run(xv.length(), CHUNK, (lo, hi) -> forward(xv.mem, y.mem, lo, hi));
            return y.array();
        }
    }

    /** dL/dx = g ⊙ gelu_new'(x). */
    static INDArray backward(INDArray x, INDArray g) {
        try (FloatView xv = FloatView.read(x);
                FloatView gv = FloatView.read(g);
                FloatView d = FloatView.create(x.shape())) {
            Blocks.run(xv.length(), CHUNK, (lo, hi) -> backward(xv.mem, gv.mem, d.mem, lo, hi));
            return d.array();
        }
    }

    /** Elements [lo, hi): y = gelu_new(x). */
    private static void forward(NativeMemory x, NativeMemory y, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        try {
            for (; i < end; i += SP.length()) {
                FloatVector v = (FloatVector) LOAD_FLOATS.invokeExact(SP, x, i * 4);
                FloatVector e = VectorMath.exp(v.mul(v).fma(K, 1f).mul(v).mul(-2 * C)); // e^{-2u}
                STORE_FLOATS.invokeExact(v.div(e.add(1f)), y, i * 4);
            }
        } catch (Throwable t) {
            throw NativeVectors.rethrow(t);
        }
        for (; i < hi; i++) y.buf.putFloat(i * 4, value(x.buf.getFloat(i * 4)));
    }

    /** Elements [lo, hi): d = g ⊙ gelu_new'(x). */
    private static void backward(NativeMemory x, NativeMemory g, NativeMemory d, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        FloatVector one = FloatVector.broadcast(SP, 1f);
        try {
            for (; i < end; i += SP.length()) {
                FloatVector v = (FloatVector) LOAD_FLOATS.invokeExact(SP, x, i * 4), v2 = v.mul(v);
                FloatVector e = VectorMath.exp(v2.fma(K, 1f).mul(v).mul(-2 * C)); // e^{-2u}
                FloatVector s = one.div(e.add(1f)); // 1/(1 + e^{-2u})
                // s·(1 − s) as e·s², not 1 − s (which cancels where s nears 1); e capped: e = +inf (s = 0) gives 0
                FloatVector ss = e.min(1e30f).mul(s).mul(s);
                FloatVector du2 = v2.fma(3 * K, 1f).mul(2 * C); // 2·du/dx
                FloatVector dd = ss.mul(v).fma(du2, s);
                FloatVector gi = (FloatVector) LOAD_FLOATS.invokeExact(SP, g, i * 4);
                STORE_FLOATS.invokeExact(gi.mul(dd), d, i * 4);
            }
        } catch (Throwable t) {
            throw NativeVectors.rethrow(t);
        }
        for (; i < hi; i++) d.buf.putFloat(i * 4, g.buf.getFloat(i * 4) * derivative(x.buf.getFloat(i * 4)));
    }

    /** gelu_new(v) for the tail elements, in the same form. */
    private static float value(float v) {
        return v / (1 + (float) Math.exp(-2 * C * (v + K * v * v * v)));
    }

    /** gelu_new'(v) for the tail elements, in the same form. */
    private static float derivative(float v) {
        float e = Math.min((float) Math.exp(-2 * C * (v + K * v * v * v)), 1e30f), s = 1 / (1 + e);
        return s + 2 * v * e * s * s * C * (1 + 3 * K * v * v);
    }
}
