package io.gptneo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A fixture model folder under shared/fixtures with its expected.json and expected.safetensors. */
final class Fixture {
    static final double TOL = 1e-4;

    final Path modelDir;
    final JsonNode expected;
    private final Path arrays;

    /**
     * {@code model} = folder to load ({@code torch:NAME} = a PyTorch checkpoint the weights module's tests commit);
     * {@code oracle} = folder holding the expected values (legacy uses tiny's).
     */
    Fixture(String model, String oracle) throws IOException {
        this.modelDir = model.startsWith("torch:")
                ? Path.of("..", "weights", "src", "test", "resources", "torch", model.substring(6))
                : SharedData.resolve("fixtures/" + model);
        Path o = SharedData.resolve("fixtures/" + oracle);
        this.expected = new ObjectMapper().readTree(Files.readString(o.resolve("expected.json")));
        this.arrays = o.resolve("expected.safetensors");
    }

    INDArray array(String name) throws IOException {
        try (SafeTensorsFile f = SafeTensorsFile.open(arrays)) {
            return f.load(name, DataType.DOUBLE);
        }
    }

    static int[] ints(JsonNode n) {
        int[] r = new int[n.size()];
        for (int i = 0; i < r.length; i++) r[i] = n.get(i).asInt();
        return r;
    }

    static int[][] ints2(JsonNode n) {
        int[][] r = new int[n.size()][];
        for (int i = 0; i < r.length; i++) r[i] = ints(n.get(i));
        return r;
    }

    /** |a − e| ≤ tol · max(1, |e|) for every element. */
    static void assertClose(String what, INDArray expected, INDArray actual, double tol) {
        assertEquals(
                java.util.Arrays.toString(expected.shape()),
                java.util.Arrays.toString(actual.shape()),
                what + ": shape");
        double[] e = expected.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double[] a = actual.castTo(DataType.DOUBLE).dup('c').data().asDouble();
        double worst = 0;
        int at = -1;
        for (int i = 0; i < e.length; i++) {
            double err = Math.abs(a[i] - e[i]) / Math.max(1, Math.abs(e[i]));
            if (!(err <= worst)) {
                worst = err;
                at = i;
            }
        }
        if (!(worst <= tol))
            fail(what + ": max error " + worst + " at flat index " + at + " (expected " + e[at] + ", got " + a[at]
                    + ")");
    }

    static void assertClose(String what, double expected, double actual, double tol) {
        if (!(Math.abs(expected - actual) <= tol * Math.max(1, Math.abs(expected)))) {
            fail(what + ": expected " + expected + ", got " + actual);
        }
    }
}
