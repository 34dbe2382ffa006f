package io.gptneo.tensor;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Vector API bodies of {@link GeluKernel}'s float path (loaded only when jdk.incubator.vector is present); tanh from {@link VectorMath}. */
final class GeluVector {
    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final float C = (float) GeluKernel.C, K = (float) GeluKernel.K;

    private GeluVector() {}

    /**
     * y = gelu_new(x) over elements [lo, hi) of native buffers (the ND4J arrays' own memory): no copies in or out,
     * which had taken about as long as the arithmetic ([512, 3072]: 1.34 -> 0.62 ms).
     */
    static void forward(ByteBuffer x, ByteBuffer y, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        for (; i < end; i += SP.length()) {
            FloatVector v = FloatVector.fromByteBuffer(SP, x, i * 4, NATIVE);
            FloatVector t = VectorMath.tanh(v.mul(v).mul(K).add(1f).mul(v).mul(C));
            t.add(1f).mul(v).mul(0.5f).intoByteBuffer(y, i * 4, NATIVE);
        }
        for (; i < hi; i++) y.putFloat(i * 4, GeluKernel.value(x.getFloat(i * 4)));
    }

    /** d = g ⊙ gelu_new'(x) over elements [lo, hi) of native buffers. */
    static void backward(ByteBuffer x, ByteBuffer g, ByteBuffer d, int lo, int hi) {
        int i = lo, end = lo + SP.loopBound(hi - lo);
        for (; i < end; i += SP.length()) {
            FloatVector v = FloatVector.fromByteBuffer(SP, x, i * 4, NATIVE), v2 = v.mul(v);
            FloatVector t = VectorMath.tanh(v2.mul(K).add(1f).mul(v).mul(C));
            FloatVector du = v2.mul(3 * K).add(1f).mul(C);
            FloatVector dd = t.mul(t).neg().add(1f).mul(du).mul(v).add(t.add(1f)).mul(0.5f);
            FloatVector.fromByteBuffer(SP, g, i * 4, NATIVE).mul(dd).intoByteBuffer(d, i * 4, NATIVE);
        }
        for (; i < hi; i++) d.putFloat(i * 4, g.getFloat(i * 4) * GeluKernel.derivative(x.getFloat(i * 4)));
    }
}
