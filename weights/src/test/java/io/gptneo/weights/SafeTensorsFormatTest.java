package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/** Writer/reader round trips over every dtype, the byte layout, and each malformed-input error. */
class SafeTensorsFormatTest {
    @TempDir
    Path dir;

    static Map<String, INDArray> allTypes() {
        Map<String, INDArray> m = new LinkedHashMap<>();
        m.put("f32", Nd4j.create(new float[] {1.5f, -2f, 3.25f, Float.MIN_VALUE, -0f, Float.POSITIVE_INFINITY}, 2, 3));
        m.put("f64", Nd4j.create(new double[] {Math.PI, -1e300, 4.9e-324}, 3));
        m.put(
                "i64",
                Nd4j.createFromArray(new long[] {Long.MIN_VALUE, 0, Long.MAX_VALUE, 7})
                        .reshape(2, 2));
        m.put("i32", Nd4j.createFromArray(new int[] {Integer.MIN_VALUE, -1, 1, Integer.MAX_VALUE}));
        m.put("i16", Nd4j.createFromArray(new short[] {Short.MIN_VALUE, 12, Short.MAX_VALUE}));
        m.put("i8", Nd4j.createFromArray(new byte[] {-128, 0, 127}));
        m.put("u8", Nd4j.createFromArray(new byte[] {0, 5, (byte) 200}).castTo(DataType.UBYTE));
        m.put("bool", Nd4j.createFromArray(new boolean[] {true, false, true}));
        m.put("scalar", Nd4j.scalar(-1e9f));
        m.put("empty", Nd4j.create(DataType.FLOAT, 0, 3));
        m.put("a.fortran", Nd4j.create(new float[] {1, 2, 3, 4, 5, 6}, new long[] {2, 3}, 'f'));
        m.put(
                "b.view",
                Nd4j.create(new float[] {1, 2, 3, 4, 5, 6, 7, 8, 9}, 3, 3)
                        .get(
                                org.nd4j.linalg.indexing.NDArrayIndex.interval(1, 3),
                                org.nd4j.linalg.indexing.NDArrayIndex.interval(0, 2)));
        return m;
    }

    @Test
    void roundTripEveryDtype() throws IOException {
        Map<String, INDArray> in = allTypes();
        Path f = dir.resolve("all.safetensors");
        SafeTensorsWriter.write(f, in, Map.of("format", "pt", "note", "ünïcode"));
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertEquals(new java.util.TreeSet<>(in.keySet()), st.names());
            assertEquals(List.copyOf(new java.util.TreeSet<>(in.keySet())), List.copyOf(st.names()), "sorted");
            assertEquals(Map.of("format", "pt", "note", "ünïcode"), st.metadata());
            Map<String, Dtype> want = Map.ofEntries(
                    Map.entry("f32", Dtype.F32),
                    Map.entry("f64", Dtype.F64),
                    Map.entry("i64", Dtype.I64),
                    Map.entry("i32", Dtype.I32),
                    Map.entry("i16", Dtype.I16),
                    Map.entry("i8", Dtype.I8),
                    Map.entry("u8", Dtype.U8),
                    Map.entry("bool", Dtype.BOOL),
                    Map.entry("scalar", Dtype.F32),
                    Map.entry("empty", Dtype.F32),
                    Map.entry("a.fortran", Dtype.F32),
                    Map.entry("b.view", Dtype.F32));
            for (var e : in.entrySet()) {
                TensorInfo info = st.info(e.getKey());
                assertEquals(want.get(e.getKey()), info.dtype(), e.getKey());
                assertArrayEquals(e.getValue().shape(), info.shape(), e.getKey());
                INDArray back = st.load(e.getKey(), null);
                assertEquals(e.getValue().dataType(), back.dataType(), e.getKey());
                assertArrayEquals(e.getValue().shape(), back.shape(), e.getKey());
                assertEquals(e.getValue(), back, e.getKey());
            }
            assertEquals(0, st.info("scalar").rank());
            assertEquals(-1e9f, st.load("scalar", DataType.FLOAT).getFloat(0));
            assertEquals(-1e9, st.load("scalar", DataType.DOUBLE).getDouble(0));
            assertEquals(
                    2f, st.load("a.fortran", null).getFloat(1, 0)); // f-order data {1..6}: (1,0) is the 2nd element
            assertEquals(8f, st.load("b.view", null).getFloat(1, 1));
            // conversions: integers widen to FLOAT/DOUBLE and narrow only when in range
            assertEquals(Nd4j.createFromArray(-128.0, 0.0, 127.0), st.load("i8", DataType.DOUBLE));
            assertEquals(Nd4j.createFromArray(0L, 5L, 200L), st.load("u8", DataType.LONG));
            assertEquals(
                    Nd4j.createFromArray(Math.PI, -1e300, 4.9e-324).castTo(DataType.FLOAT),
                    st.load("f64", DataType.FLOAT));
            var narrow = assertThrows(SafeTensorsException.class, () -> st.load("i64", DataType.INT));
            assertTrue(
                    narrow.getMessage().contains("'i64'") && narrow.getMessage().contains(f.toString()),
                    narrow.getMessage());
            var lossy = assertThrows(SafeTensorsException.class, () -> st.load("f32", DataType.LONG));
            assertTrue(lossy.getMessage().contains("cannot load F32 data as LONG"), lossy.getMessage());
            // raw() is the little-endian bytes of the data region
            ByteBuffer raw = st.raw("i32");
            assertEquals(16, raw.remaining());
            assertEquals(Integer.MIN_VALUE, raw.getInt(0));
        }
    }

    @Test
    void layoutMatchesTheFormat() throws IOException {
        Path f = dir.resolve("layout.safetensors");
        SafeTensorsWriter.write(f, allTypes(), Map.of("format", "pt"));
        byte[] b = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8, "header padded to 8 bytes");
        String header = new String(b, 8, (int) n, StandardCharsets.UTF_8);
        assertTrue(header.startsWith("{\"__metadata__\":{\"format\":\"pt\"}"), header);
        assertTrue(header.substring(header.lastIndexOf('}') + 1).isBlank(), "padding is spaces");
        JsonNode root = new ObjectMapper().readTree(header);
        long expectBegin = 0;
        String prev = "";
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            var e = it.next();
            if (e.getKey().equals("__metadata__")) continue;
            assertTrue(e.getKey().compareTo(prev) > 0, "sorted");
            prev = e.getKey();
            assertEquals(expectBegin, e.getValue().get("data_offsets").get(0).longValue(), "contiguous " + e.getKey());
            expectBegin = e.getValue().get("data_offsets").get(1).longValue();
        }
        assertEquals(b.length - 8 - n, expectBegin, "data region fully covered");
    }

    @Test
    void writesHalfAndBfloatAndReplacesAtomically() throws IOException {
        INDArray x = Nd4j.create(new float[] {1.00048828125f, 0.1f, -65520f, 3.0e-8f, 1e-40f}, 5);
        Path f = dir.resolve("h.safetensors");
        for (Dtype d : List.of(Dtype.F16, Dtype.BF16, Dtype.F64)) {
            SafeTensorsWriter.write(f, Map.of("x", x, "ids", Nd4j.createFromArray(1L, 2L)), Map.of(), d);
            try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
                assertEquals(d, st.info("x").dtype());
                assertEquals(Dtype.I64, st.info("ids").dtype(), "integers keep their type");
                float[] got = st.load("x", DataType.FLOAT).toFloatVector();
                for (int i = 0; i < 5; i++) {
                    float v = x.getFloat(i);
                    float want =
                            switch (d) {
                                case F16 -> HalfFloats.halfToFloat(HalfFloats.floatToHalf(v));
                                case BF16 -> HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(v));
                                default -> v;
                            };
                    assertEquals(want, got[i], 0f, d + " " + i);
                }
                if (d == Dtype.F16) assertEquals(Float.NEGATIVE_INFINITY, got[2]);
                assertTrue(st.metadata().isEmpty());
            }
        }
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(List.of(f), s.toList(), "no temporary files left");
        }
    }

    @Test
    void chunkedDecodingMatchesOneShot() throws IOException {
        INDArray x = Nd4j.rand(DataType.FLOAT, 7, 13);
        Path f = dir.resolve("c.safetensors");
        SafeTensorsWriter.write(f, Map.of("x", x), Map.of(), Dtype.BF16);
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            INDArray whole = st.load("x", DataType.DOUBLE);
            for (long w : new long[] {8, 16, 24, 40, 1000}) // windows smaller than the tensor: the seams must line up
            assertEquals(whole, TensorDecoder.decode(st, st.info("x"), DataType.DOUBLE, w), "window " + w);
            assertEquals(whole.castTo(DataType.FLOAT), TensorDecoder.decode(st, st.info("x"), DataType.FLOAT, 6));
        }
    }

    // ---- malformed input: every error is a SafeTensorsException naming the file (and the tensor) ----

    private Path raw(String name, long headerLen, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(headerLen).put(h);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private Path file(String name, String header, int dataBytes) throws IOException {
        return raw(name, header.getBytes(StandardCharsets.UTF_8).length, header, dataBytes);
    }

    private void expect(Path p, String... fragments) {
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> {
            try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
                for (String n : f.names()) f.load(n, null);
            }
        });
        assertTrue(e.getMessage().contains(p.toString()), e.getMessage());
        for (String s : fragments) assertTrue(e.getMessage().contains(s), e.getMessage() + "\n  should contain: " + s);
    }

    static String t(String name, String dtype, String shape, long b, long e) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + b + "," + e
                + "]}";
    }

    @Test
    void malformedFiles() throws IOException {
        Path tiny = dir.resolve("short.safetensors");
        Files.write(tiny, new byte[] {1, 2, 3});
        expect(tiny, "truncated");
        expect(raw("beyond.safetensors", 1000, "{}", 0), "beyond the end of the file");
        expect(raw("huge.safetensors", 200_000_000L, "{}", 0), "above the limit");
        expect(raw("neg.safetensors", -5, "{}", 0), "above the limit");
        expect(file("json.safetensors", "{\"a\":", 0), "not valid JSON");
        expect(file("notobj.safetensors", "[1,2]", 0), "not a JSON object");
        expect(file("dtype.safetensors", "{" + t("w", "F8", "[2]", 0, 2) + "}", 2), "tensor 'w'", "unknown dtype 'F8'");
        expect(file("range.safetensors", "{" + t("w", "F32", "[4]", 0, 16) + "}", 8), "tensor 'w'", "out of range");
        expect(
                file(
                        "overlap.safetensors",
                        "{" + t("a", "F32", "[2]", 0, 8) + "," + t("b", "F32", "[2]", 4, 12) + "}",
                        12),
                "tensor 'b'",
                "overlap tensor 'a'");
        expect(file("size.safetensors", "{" + t("w", "F32", "[3]", 0, 8) + "}", 8), "tensor 'w'", "needs 12");
        expect(file("negshape.safetensors", "{" + t("w", "F32", "[-1]", 0, 0) + "}", 0), "tensor 'w'", "negative");
        expect(
                file("overflow.safetensors", "{" + t("w", "F32", "[4294967296,4294967296]", 0, 0) + "}", 0),
                "tensor 'w'",
                "overflows");
        expect(
                file("bigint.safetensors", "{" + t("w", "F32", "[99999999999999999999]", 0, 0) + "}", 0),
                "tensor 'w'",
                "overflows a 64-bit");
        expect(
                file("dup.safetensors", "{" + t("w", "F32", "[1]", 0, 4) + "," + t("w", "F32", "[1]", 4, 8) + "}", 8),
                "Duplicate field 'w'");
        expect(file("meta.safetensors", "{\"__metadata__\":{\"a\":1}}", 0), "__metadata__");
        expect(
                file("offsets.safetensors", "{" + t("w", "F32", "[1]", 4, 0) + "}", 4),
                "tensor 'w'",
                "end before begin");
        expect(
                file("float.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", 4),
                "tensor 'w'",
                "not an integer");
        expect(file("trailing.safetensors", "{} {}", 0), "not valid JSON");
        Path utf = raw("utf.safetensors", 4, "", 0);
        Files.write(utf, new byte[] {4, 0, 0, 0, 0, 0, 0, 0, '{', (byte) 0xff, '}', ' '});
        expect(utf, "UTF-8");
        // a file truncated after open: load re-checks the size instead of mapping past the end
        Path ok = dir.resolve("shrink.safetensors");
        SafeTensorsWriter.write(ok, Map.of("w", Nd4j.rand(DataType.FLOAT, 64)), Map.of());
        try (SafeTensorsFile f = SafeTensorsFile.open(ok)) {
            try (var ch = java.nio.channels.FileChannel.open(ok, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(ch.size() - 10);
            }
            var e = assertThrows(SafeTensorsException.class, () -> f.load("w", null));
            assertTrue(e.getMessage().contains("'w'") && e.getMessage().contains(ok.toString()), e.getMessage());
        }
    }

    @Test
    void shardedAndDirectoryErrors() throws IOException {
        Path shard = dir.resolve("s1.safetensors");
        SafeTensorsWriter.write(shard, Map.of("a", Nd4j.ones(2), "b", Nd4j.zeros(3)), Map.of());
        Path index = dir.resolve(Checkpoints.INDEX);
        Files.writeString(
                index,
                "{\"metadata\":{\"total_size\":20},\"weight_map\":{\"a\":\"s1.safetensors\",\"b\":\"s1.safetensors\"}}");
        try (TensorSource src = Checkpoints.open(dir)) {
            assertEquals(java.util.Set.of("a", "b"), src.names());
            assertEquals(Nd4j.ones(2), src.load("a", DataType.FLOAT));
            var e = assertThrows(IllegalArgumentException.class, () -> src.info("zz"));
            assertTrue(e.getMessage().contains("'zz'") && e.getMessage().contains(index.toString()));
        }
        Files.writeString(index, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s2.safetensors\"}}");
        var missing = assertThrows(SafeTensorsException.class, () -> Checkpoints.open(dir));
        assertTrue(
                missing.getMessage().contains("shard 's2.safetensors' is missing")
                        && missing.getMessage().contains(index.toString()),
                missing.getMessage());
        Files.writeString(index, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"c\":\"s1.safetensors\"}}");
        var lacks = assertThrows(SafeTensorsException.class, () -> Checkpoints.open(dir));
        assertTrue(lacks.getMessage().contains("'c' (in s1.safetensors)"), lacks.getMessage());
        Files.writeString(index, "{\"weight_map\":{\"a\":\"../s1.safetensors\"}}");
        assertThrows(SafeTensorsException.class, () -> Checkpoints.open(dir));
        Files.writeString(index, "{\"weight_map\":[]}");
        assertThrows(SafeTensorsException.class, () -> Checkpoints.open(dir));

        Path empty = Files.createDirectory(dir.resolve("empty"));
        var none = assertThrows(SafeTensorsException.class, () -> Checkpoints.open(empty));
        assertTrue(
                none.getMessage().contains(empty.toString())
                        && none.getMessage().contains("model.safetensors")
                        && none.getMessage().contains("model.safetensors.index.json"),
                none.getMessage());
        assertTrue(none.getMessage().contains("pytorch_model.bin"), none.getMessage());
        Files.write(empty.resolve("pytorch_model.bin"), new byte[] {0});
        var pt = assertThrows(SafeTensorsException.class, () -> Checkpoints.open(empty));
        assertTrue(
                pt.getMessage().contains("pytorch_model.bin")
                        && pt.getMessage().contains("not a PyTorch zip checkpoint"),
                pt.getMessage());
        var nodir = assertThrows(SafeTensorsException.class, () -> Checkpoints.open(dir.resolve("absent")));
        assertTrue(nodir.getMessage().contains("absent"));
    }

    @Test
    void openReadsOnlyTheHeaderOfALargeSparseFile() throws IOException {
        // a 3 GiB tensor in a sparse file: open is instant, raw() refuses (>2 GB), info describes it
        Path f = dir.resolve("big.safetensors");
        long n = 3L << 30;
        String header = "{" + t("big", "U8", "[" + n + "]", 0, n) + "}";
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        try (var ch = java.nio.channels.FileChannel.open(
                f,
                java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE,
                java.nio.file.StandardOpenOption.SPARSE)) {
            ch.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, h.length));
            ch.write(ByteBuffer.wrap(h));
            ch.write(ByteBuffer.wrap(new byte[] {42}), 8 + h.length + n - 1);
        }
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            assertEquals(n, st.info("big").byteSize());
            var e = assertThrows(SafeTensorsException.class, () -> st.raw("big"));
            assertTrue(e.getMessage().contains("'big'"), e.getMessage());
            ByteBuffer tail = st.map(st.info("big"), n - 4, 4); // windows beyond 2 GB map fine
            assertEquals(42, tail.get(3));
        }
    }
}
