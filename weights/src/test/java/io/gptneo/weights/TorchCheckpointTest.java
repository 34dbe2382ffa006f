package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * PyTorch checkpoints written by {@code torch.save} (src/test/python/make_torch_fixtures.py) read to the same values
 * as the shared safetensors fixtures; hostile pickles are refused with a named error and run nothing.
 */
class TorchCheckpointTest {
    static final Path DIR = Path.of("src", "test", "resources", "torch");
    /** Every hostile payload would create this file if any of it ran (the script checks that plain pickle does). */
    static final Path MARKER = Path.of("/tmp/gptneo-pickle-pwned");

    static Path fixture(String name) {
        return SharedData.resolve("fixtures/" + name);
    }

    @BeforeAll
    @AfterAll
    static void noMarker() throws IOException {
        Files.deleteIfExists(MARKER);
    }

    @Test
    void shardedBinWithTiedHeadLoadsAsTheSafetensorsModel() throws Exception {
        Path bin = DIR.resolve("tiny-bf16-bin");
        try (TensorSource src = Checkpoints.open(bin)) {
            assertInstanceOf(ShardedCheckpoint.class, src);
            assertEquals(Checkpoints.TORCH_INDEX, src.path().getFileName().toString());
            TorchCheckpoint shard = (TorchCheckpoint) ((ShardedCheckpoint) src).shard("lm_head.weight");
            assertEquals(
                    shard.storageKey("transformer.wte.weight"),
                    shard.storageKey("lm_head.weight"),
                    "tied weights share one storage");
            assertEquals(Dtype.BF16, src.info("transformer.wte.weight").dtype());
        }
        GptNeoWeights fromBin = GptNeoWeights.load(bin);
        GptNeoWeights fromSt = GptNeoWeights.load(fixture("gptneo-tiny-bf16-sharded"));
        assertTrue(fromBin.hasLmHead());
        assertEquals(fromSt.tensors().size() + 1, fromBin.tensors().size());
        for (String n : fromSt.tensors().keySet()) assertEquals(fromSt.get(n), fromBin.get(n), n);
        assertEquals(fromSt.get("wte.weight"), fromBin.lmHead());
    }

    static Stream<Arguments> parts() {
        return Stream.of(
                Arguments.of("parts-f32.bin", "gptneo-tiny", Dtype.F32),
                Arguments.of("parts-f16.bin", "gptneo-tiny-f16", Dtype.F16),
                Arguments.of("parts-bigendian.bin", "gptneo-tiny", Dtype.F32));
    }

    /** Views with storage offsets (q/k/v in one fused storage), a transposed (non-contiguous) view, a Parameter. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("parts")
    void offsetsStridesAndByteOrderAreHonoured(String file, String reference, Dtype dtype) throws Exception {
        try (TorchCheckpoint bin = TorchCheckpoint.open(DIR.resolve(file));
                TensorSource st = Checkpoints.open(fixture(reference))) {
            assertEquals(4 * 13 + 2, bin.names().size());
            String p = "transformer.h.0.attn.attention.";
            assertEquals(
                    bin.storageKey(p + "q_proj.weight"),
                    bin.storageKey(p + "v_proj.weight"),
                    "q/k/v are views of one storage");
            for (String n : bin.names()) {
                assertEquals(dtype, bin.info(n).dtype(), n);
                assertArrayEquals(st.info(n).shape(), bin.info(n).shape(), n);
                assertEquals(st.load(n, DataType.FLOAT), bin.load(n, DataType.FLOAT), n);
                assertEquals(st.load(n, DataType.DOUBLE), bin.load(n, DataType.DOUBLE), n);
            }
        }
    }

    @Test
    void safetensorsIsPreferredAndBinAloneLoads(@TempDir Path dir) throws Exception {
        Files.copy(DIR.resolve("hostile/good.bin"), dir.resolve(Checkpoints.TORCH_SINGLE));
        try (TensorSource src = Checkpoints.open(dir)) {
            assertInstanceOf(TorchCheckpoint.class, src);
            assertArrayEquals(new float[] {1, 2, 3, 4}, src.load("w").toFloatVector());
        }
        INDArray other = org.nd4j.linalg.factory.Nd4j.createFromArray(5f, 6f);
        SafeTensorsWriter.write(dir.resolve(Checkpoints.SINGLE), Map.of("w", other), null);
        try (TensorSource src = Checkpoints.open(dir)) {
            assertInstanceOf(SafeTensorsFile.class, src);
            assertEquals(other, src.load("w"));
        }
    }

    @Test
    void legacyAndNonZipFilesGetClearErrors(@TempDir Path dir) throws Exception {
        var legacy = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(DIR.resolve("legacy.bin")));
        assertTrue(
                legacy.getMessage().contains("legacy PyTorch checkpoint")
                        && legacy.getMessage().contains("legacy.bin"),
                legacy.getMessage());
        byte[] good = Files.readAllBytes(DIR.resolve("hostile/good.bin"));
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, java.util.Arrays.copyOf(good, good.length - 30));
        var e = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(cut));
        assertTrue(e.getMessage().contains("cut.bin"), e.getMessage());
    }

    static Stream<Arguments> hostile() {
        return Stream.of(
                Arguments.of("os_system", "refused global os.system"),
                Arguments.of("posix_system", "refused global posix.system"),
                Arguments.of("builtins_eval", "refused global builtins.eval"),
                Arguments.of("subprocess_popen", "refused global subprocess.Popen"),
                Arguments.of("stack_global_exec", "refused global builtins.exec"),
                Arguments.of("nested_global", "refused global os.system"),
                Arguments.of("newobj", "refused global subprocess.Popen"),
                Arguments.of("reduce_on_storage_class", "torch.FloatStorage cannot be called"),
                Arguments.of("inst_opcode", "opcode 0x53 ('S') is not in the subset"),
                Arguments.of("memo_missing", "memo index 7 was never stored"),
                Arguments.of("memo_long_missing", "memo index 2147483647 was never stored"),
                Arguments.of("truncated", "truncated pickle stream"),
                Arguments.of("no_stop", "truncated pickle stream"),
                Arguments.of("huge_string", "string of 2147483647 bytes exceeds the stream"),
                Arguments.of("huge_storage", "declares 2147483647 F32 elements but archive/data/0 holds 16 bytes"),
                Arguments.of("huge_tensor", "reach element 2147483647 of a storage with 4"),
                Arguments.of("short_storage", "declares 4 F32 elements but archive/data/0 holds 8 bytes"),
                Arguments.of("escaping_key", "storage key '../../../../tmp/x' does not name an entry"),
                Arguments.of("escaping_key_slash", "storage key '0/../../x' does not name an entry"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("hostile")
    void hostilePicklesAreRefusedAndRunNothing(String name, String expected) throws Exception {
        Path file = DIR.resolve("hostile/" + name + ".bin");
        var e = assertThrows(SafeTensorsException.class, () -> TorchCheckpoint.open(file));
        assertTrue(e.getMessage().contains(expected) && e.getMessage().contains(name + ".bin"), e.getMessage());
        Thread.sleep(50); // a spawned process would have had time to run
        assertFalse(Files.exists(MARKER), "payload of " + name + " ran");
    }

    @Test
    void theAllowlistIsExactlyTheStateDictSubset() {
        assertEquals(14, PickleReader.ALLOWED.size());
        for (String g : PickleReader.ALLOWED)
            assertTrue(g.startsWith("torch.") || g.equals("collections.OrderedDict"), g);
    }

    @Test
    void convertWritesSafetensorsWithTheSameValuesAndDropsTheTiedHead(@TempDir Path out) throws Exception {
        Path bin = DIR.resolve("tiny-bf16-bin");
        List<String> names = SafetensorsConversion.convert(bin, out, null);
        assertFalse(names.contains("lm_head.weight"), "the tied head shares wte's storage");
        assertTrue(Files.isRegularFile(out.resolve("config.json")));
        try (SafeTensorsFile st = SafeTensorsFile.open(out.resolve(Checkpoints.SINGLE));
                TensorSource src = Checkpoints.open(bin)) {
            assertEquals(src.names().size() - 1, st.names().size());
            for (String n : st.names()) {
                assertEquals(Dtype.BF16, st.info(n).dtype(), n);
                assertEquals(src.load(n), st.load(n), n);
            }
        }
        GptNeoWeights a = GptNeoWeights.load(out), b = GptNeoWeights.load(fixture("gptneo-tiny-bf16-sharded"));
        for (String n : b.tensors().keySet()) assertEquals(b.get(n), a.get(n), n);
        assertFalse(a.hasLmHead());
        Path f32 = out.resolve("f32");
        SafetensorsConversion.convert(bin, f32, Dtype.F32);
        try (SafeTensorsFile st = SafeTensorsFile.open(f32.resolve(Checkpoints.SINGLE))) {
            assertEquals(Dtype.F32, st.info("transformer.wte.weight").dtype());
        }
    }

    /** Plain data as Python's pickle (protocol 2) writes it: floats are big-endian, ints of every width, tuples, None. */
    @Test
    void plainPythonValuesDecode() throws Exception {
        byte[] b = java.util.HexFormat.of()
                .parseHex(
                        "80027d7100285801000000617101473ff800000000000058010000006271025d7103284b014afeffffff4d2c014a701101008a060000000000018a060000000000ff6558010000006371048858010000006471054e58010000006571064b0185710758010000006671085801000000787109580100000079710a86710b752e");
        var m = (Map<?, ?>) PickleReader.read("t", b);
        assertEquals(1.5, m.get("a"));
        assertEquals(List.of(1L, -2L, 300L, 70000L, 1L << 40, -(1L << 40)), m.get("b"));
        assertEquals(Boolean.TRUE, m.get("c"));
        assertNull(m.get("d"));
        assertTrue(m.containsKey("d"));
        assertEquals(new PickleReader.Tuple(List.of(1L)), m.get("e"));
        assertEquals(new PickleReader.Tuple(List.of("x", "y")), m.get("f"));
    }
}
