package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Seeded mutation fuzzing of a small writer-made file: byte flips (mostly in the header), JSON-ish character
 * substitutions, length-field edits and truncations. Every outcome must be a SafeTensorsException or a consistent
 * load: shapes match the header, sizes match the dtype, and a tensor whose entry and bytes are untouched loads its
 * original values.
 */
class SafeTensorsFuzzTest {
    private static final int ITERATIONS = 10_000;
    private static final byte[] JSONISH = "{}[]\":,0123456789-eE. FIUBOLdtypeshapdaofs_".getBytes();

    @Test
    void mutatedFilesFailCleanlyOrLoadConsistently(@TempDir Path dir) throws Exception {
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        tensors.put("a", Nd4j.create(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
        tensors.put("b", Nd4j.createFromArray(7L, -8L));
        tensors.put("c", Nd4j.scalar(0.5));
        tensors.put("d", Nd4j.createFromArray(new byte[] {1, 2, 3}).castTo(DataType.UBYTE));
        tensors.put("e", Nd4j.createFromArray(new short[] {300, -300}));
        Path orig = dir.resolve("orig.safetensors");
        SafeTensorsWriter.write(orig, tensors, Map.of("format", "pt"));
        byte[] base = Files.readAllBytes(orig);
        Map<String, TensorInfo> infos;
        Map<String, double[]> values = new LinkedHashMap<>();
        long dataStart;
        try (SafeTensorsFile f = SafeTensorsFile.open(orig)) {
            infos = f.infos();
            dataStart = f.dataStart();
            for (String n : f.names()) values.put(n, f.load(n, null).data().asDouble());
        }
        SplittableRandom rnd = new SplittableRandom(20240611);
        Path p = dir.resolve("fuzz.safetensors");
        int failures = 0, loads = 0;
        for (int it = 0; it < ITERATIONS; it++) {
            byte[] b = base.clone();
            int len = b.length;
            int touchedFrom = Integer.MAX_VALUE, touchedTo = -1; // byte range changed, for the value check
            int kind = rnd.nextInt(10);
            int edits = 1 + rnd.nextInt(3);
            for (int k = 0; k < edits; k++) {
                int pos;
                switch (kind) {
                    case 0, 1, 2 -> {
                        pos = 8 + rnd.nextInt((int) dataStart - 8);
                        b[pos] = JSONISH[rnd.nextInt(JSONISH.length)];
                    }
                    case 3, 4 -> {
                        pos = 8 + rnd.nextInt((int) dataStart - 8);
                        b[pos] ^= (byte) (1 << rnd.nextInt(8));
                    }
                    case 5 -> { // length field
                        pos = rnd.nextInt(8);
                        b[pos] = (byte) rnd.nextInt(256);
                    }
                    case 6 -> {
                        pos = (int) dataStart + rnd.nextInt(b.length - (int) dataStart);
                        b[pos] = (byte) rnd.nextInt(256);
                    } // data region
                    default -> {
                        pos = -1;
                        len = rnd.nextInt(base.length);
                    }
                }
                if (pos >= 0) {
                    touchedFrom = Math.min(touchedFrom, pos);
                    touchedTo = Math.max(touchedTo, pos);
                }
            }
            Files.write(p, len == b.length ? b : java.util.Arrays.copyOf(b, len));
            try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
                for (String n : f.names()) {
                    TensorInfo info = f.info(n);
                    assertEquals(info.numel() * info.dtype().size(), info.byteSize(), n);
                    assertTrue(f.dataStart() + info.end() <= len, n);
                    INDArray a;
                    try {
                        a = f.load(n, null);
                    } catch (SafeTensorsException e) {
                        continue; // e.g. an out-of-range integer for the target type
                    }
                    assertArrayEquals(info.shape(), a.shape(), n);
                    assertEquals(info.numel(), a.length(), n);
                    long from = f.dataStart() + info.begin(), to = f.dataStart() + info.end();
                    boolean untouched = f.dataStart() == dataStart
                            && info.equals(infos.get(n))
                            && (touchedTo < from || touchedFrom >= to);
                    if (untouched)
                        assertArrayEquals(values.get(n), a.data().asDouble(), "iteration " + it + " tensor " + n);
                }
                loads++;
            } catch (SafeTensorsException e) {
                assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
                failures++;
            } catch (Throwable t) {
                fail("iteration " + it + " (kind " + kind + "): unexpected " + t, t);
            }
        }
        assertEquals(ITERATIONS, failures + loads);
        assertTrue(failures > ITERATIONS / 2 && loads > ITERATIONS / 20, "failures " + failures + ", loads " + loads);
    }
}
