package io.gptneo.tensor;

import java.util.Arrays;
import org.bytedeco.javacpp.ShortPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * bfloat16 for {@code --precision bf16}: frozen base weights held as BFLOAT16 arrays (half the memory), products of a
 * FLOAT activation with such a weight computed from bf16 operands with float32 accumulation and a FLOAT result.
 * {@link Gemm} sends every product with a BFLOAT16 operand here; {@link Kernels#bf16mm} picks oneDNN's bf16 matmul
 * ({@link OneDnnBf16}) or the reference {@link Reference#bf16mm} (the float32 product of the bf16-rounded operands).
 *
 * <p>Rounding is to nearest, ties to even (as PyTorch's and oneDNN's float → bf16), NaN kept a quiet NaN.
 */
public final class Bf16 {
    private Bf16() {}

    /** float → bf16 bits, round to nearest even. */
    public static short round(float f) {
        int b = Float.floatToRawIntBits(f);
        if ((b & 0x7fffffff) > 0x7f800000) return (short) ((b >>> 16) | 0x40); // NaN stays NaN (quiet)
        b += 0x7fff + ((b >>> 16) & 1);
        return (short) (b >>> 16);
    }

    /** bf16 bits → float (exact). */
    public static float value(short h) {
        return Float.intBitsToFloat((h & 0xffff) << 16);
    }

    /** A BFLOAT16 copy of a FLOAT array (c-order), each element rounded to nearest even. */
    public static INDArray of(INDArray a) {
        if (a.dataType() != DataType.FLOAT)
            throw new IllegalArgumentException(
                    "bf16: needs a FLOAT array, got " + a.dataType() + Arrays.toString(a.shape()));
        INDArray out = Nd4j.createUninitializedDetached(DataType.BFLOAT16, a.shape());
        try (FloatView v = FloatView.read(a)) {
            roundInto(v, new ShortPointer(out.data().addressPointer()));
        }
        return out;
    }

    /**
     * Writes {@code v}'s elements rounded to bf16 into {@code dst} (native memory of at least v.length() shorts):
     * {@link FastBf16} where the fast kernels run, else {@link #roundIntoReference}.
     */
    static void roundInto(FloatView v, ShortPointer dst) {
        if (Kernels.get().fast())
            FastBf16.roundInto(
                    v.mem, NativeMemory.of(dst.position(0).capacity(v.length()).asByteBuffer()), v.length());
        else roundIntoReference(v, dst);
        dst.position(0);
    }

    /** The reference of {@link FastBf16}: a scalar loop through a Java staging array. */
    static void roundIntoReference(FloatView v, ShortPointer dst) {
        int n = v.length();
        short[] chunk = new short[Math.max(1, Math.min(n, 1 << 16))];
        for (int i0 = 0; i0 < n; i0 += chunk.length) {
            int len = Math.min(chunk.length, n - i0);
            for (int i = 0; i < len; i++) chunk[i] = round(v.get(i0 + i));
            dst.position(i0).put(chunk, 0, len);
        }
        dst.position(0);
    }

    /** The FLOAT array whose elements are {@code a}'s rounded to bf16 (what a bf16 product multiplies). */
    public static INDArray rounded(INDArray a) {
        if (a.dataType() == DataType.BFLOAT16) return a.castTo(DataType.FLOAT);
        try (FloatView v = FloatView.read(a);
                FloatView o = FloatView.create(a.shape())) {
            for (int i = 0, n = v.length(); i < n; i++) o.put(i, value(round(v.get(i))));
            return o.array();
        }
    }

    /** Bytes of a weight held in bf16 (for memory reports). */
    public static long bytes(INDArray a) {
        return a.length() * 2;
    }
}
