package io.gptneo.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Fast float32 {@code gelu_new} (reference: {@link Reference#gelu}): one Vector API pass each way on the arrays' own
 * memory, parallel over chunks; tanh from {@link VectorMath}. Backward recomputes t from x, so only x is saved.
 * <pre>
 *   u = c·(x + k·x³),  t = tanh(u),  y = 0.5·x·(1 + t)
 *   dy/dx = 0.5·(1 + t) + 0.5·x·(1 − t²)·c·(1 + 3k·x²)        c = √(2/π), k = 0.044715
 * </pre>
 * Why: as ND4J ops this is nine elementwise passes forward and eleven backward over the [B·T, 4H] MLP activation.
 * Loaded only when jdk.incubator.vector is present ({@link Kernels} decides).
 */
final class FastGelu {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final float C = (float) Reference.GELU_C, K = (float) Reference.GELU_K;
    private static final int CHUNK = 1 << 15;

    private FastGelu() {}

    /** y = gelu_new(x), x FLOAT of any shape -> a new c-order array. */
    static INDArray forward(INDArray x) {
        try (FloatView xv = FloatView.read(x);
                FloatView y = FloatView.create(x.shape())) {
            Blocks.run(xv.length(), CHUNK, (lo, hi) -> forward(xv.buf, y.buf, lo, hi));
            return y.array();
        }
    }

    /** dL/dx = g ⊙ gelu_new'(x). */
    static INDArray backward(INDArray x, INDArray g) {
        try (FloatView xv = FloatView.read(x);
                FloatView gv = FloatView.read(g);
                FloatView d = FloatView.create(x.shape())) {
            Blocks.run(xv.length(), CHUNK, (lo, hi) -> backward(xv.buf, gv.buf, d.buf, lo, hi));
            return d.array();
        }
    }

    /** Elements [lo, hi): y = gelu_new(x). */
    private static void forward(ByteBuffer x, ByteBuffer y, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        for (; i < end; i += SP.length()) {
            FloatVector v = FloatVector.fromByteBuffer(SP, x, i * 4, NATIVE);
            FloatVector t = VectorMath.tanh(v.mul(v).mul(K).add(1f).mul(v).mul(C));
            t.add(1f).mul(v).mul(0.5f).intoByteBuffer(y, i * 4, NATIVE);
        }
        for (; i < hi; i++) y.putFloat(i * 4, value(x.getFloat(i * 4)));
    }

    /** Elements [lo, hi): d = g ⊙ gelu_new'(x). */
    private static void backward(ByteBuffer x, ByteBuffer g, ByteBuffer d, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        for (; i < end; i += SP.length()) {
            FloatVector v = FloatVector.fromByteBuffer(SP, x, i * 4, NATIVE), v2 = v.mul(v);
            FloatVector t = VectorMath.tanh(v2.mul(K).add(1f).mul(v).mul(C));
            FloatVector du = v2.mul(3 * K).add(1f).mul(C);
            FloatVector dd =
                    t.mul(t).neg().add(1f).mul(du).mul(v).add(t.add(1f)).mul(0.5f);
            FloatVector.fromByteBuffer(SP, g, i * 4, NATIVE).mul(dd).intoByteBuffer(d, i * 4, NATIVE);
        }
        for (; i < hi; i++) d.putFloat(i * 4, g.getFloat(i * 4) * derivative(x.getFloat(i * 4)));
    }

    /** gelu_new(v) for the tail elements. */
    private static float value(float v) {
        float t = (float) Math.tanh(C * (v + K * v * v * v));
        return 0.5f * v * (1 + t);
    }

    /** gelu_new'(v) for the tail elements. */
    private static float derivative(float v) {
        float t = (float) Math.tanh(C * (v + K * v * v * v));
        return 0.5f * (1 + t) + 0.5f * v * (1 - t * t) * C * (1 + 3 * K * v * v);
    }
}
