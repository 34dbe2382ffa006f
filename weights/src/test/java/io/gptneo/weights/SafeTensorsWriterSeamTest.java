package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Narrowing writes convert in chunks of 2^20 elements: every chunk after the first must read its own elements
 * (it used to re-read the first chunk's, which corrupted every exported F16/BF16 embedding of more than 2^20 values).
 */
class SafeTensorsWriterSeamTest {
    @Test
    void narrowingPastTheFirstChunkKeepsEveryElement(@TempDir Path tmp) throws Exception {
        long n = (1L << 21) + 7;
        INDArray x = Nd4j.rand(DataType.FLOAT, n).subi(0.5).muli(4);
        float[] v = x.toFloatVector();
        for (Dtype dt : new Dtype[] {Dtype.F16, Dtype.BF16}) {
            Path f = tmp.resolve(dt + ".safetensors");
            SafeTensorsWriter.write(f, Map.of("x", x), null, dt);
            try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
                float[] y = st.load("x", DataType.FLOAT).toFloatVector();
                for (int i = 0; i < v.length; i++) {
                    float want = dt == Dtype.F16
                            ? HalfFloats.halfToFloat(HalfFloats.floatToHalf(v[i]))
                            : HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v[i]));
                    if (want != y[i]) assertEquals(want, y[i], dt + " element " + i);
                }
            }
        }
    }
}
