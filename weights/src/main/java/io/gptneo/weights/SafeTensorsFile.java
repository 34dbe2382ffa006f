package io.gptneo.weights;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A safetensors file opened lazily: {@link #open} reads and validates only the header; tensor data is memory-mapped
 * on demand, one tensor (or one ≤1 GiB window of a tensor) at a time, so files and tensors above 2 GB work.
 *
 * <p>Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data region. Every tensor entry is
 * {@code {"dtype":..,"shape":[..],"data_offsets":[begin,end]}} with offsets relative to the data region; the
 * optional {@code __metadata__} entry maps strings to strings.
 */
public final class SafeTensorsFile implements TensorSource, MappedSource {
    /** Headers above this size are rejected before reading them (the reference implementation uses 100 MB too). */
    public static final long MAX_HEADER_BYTES = 100L * 1000 * 1000;

    static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors; // sorted by name
    private final Map<String, String> metadata;

    private SafeTensorsFile(
            Path file,
            FileChannel channel,
            long dataStart,
            Map<String, TensorInfo> tensors,
            Map<String, String> metadata) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Opens and validates the header of a safetensors file. Only the 8-byte length and the header are read. */
    public static SafeTensorsFile open(Path file) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafeTensorsException(file + ": cannot open safetensors file: " + e, e);
        }
        try {
            long size = ch.size();
            if (size < 8)
                throw SafeTensorsException.of(
                        file, null, "truncated: " + size + " bytes, shorter than the 8-byte header length");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0, file);
            long n = lenBuf.getLong(0);
            if (n < 0 || n > MAX_HEADER_BYTES)
                throw SafeTensorsException.of(
                        file,
                        null,
                        "header length " + Long.toUnsignedString(n) + " is above the limit of " + MAX_HEADER_BYTES
                                + " bytes");
            if (n > size - 8)
                throw SafeTensorsException.of(
                        file,
                        null,
                        "truncated: header length " + n + " runs beyond the end of the file (" + size + " bytes)");
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8, file);
            String json;
            try {
                json = StandardCharsets.UTF_8
                        .newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(hb.flip())
                        .toString();
            } catch (CharacterCodingException e) {
                throw SafeTensorsException.of(file, null, "header is not valid UTF-8");
            }
            long dataLen = size - 8 - n;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, TensorInfo> infos = parseHeader(file, json, dataLen, meta);
            return new SafeTensorsFile(file, ch, 8 + n, infos, Collections.unmodifiableMap(meta));
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos, Path file) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos + buf.position());
            if (r < 0) throw SafeTensorsException.of(file, null, "truncated while reading the header");
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path file, String json, long dataLen, Map<String, String> meta)
            throws SafeTensorsException {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw SafeTensorsException.of(file, null, "header is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw SafeTensorsException.of(file, null, "header is not a JSON object");
        Map<String, TensorInfo> out = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            JsonNode v = e.getValue();
            if (name.equals("__metadata__")) {
                if (!v.isObject()) throw SafeTensorsException.of(file, null, "__metadata__ is not a JSON object");
                for (Iterator<Map.Entry<String, JsonNode>> m = v.fields(); m.hasNext(); ) {
                    Map.Entry<String, JsonNode> kv = m.next();
                    if (!kv.getValue().isTextual())
                        throw SafeTensorsException.of(
                                file, null, "__metadata__ value of '" + kv.getKey() + "' is not a string");
                    meta.put(kv.getKey(), kv.getValue().textValue());
                }
                continue;
            }
            out.put(name, parseEntry(file, name, v, dataLen));
        }
        checkOverlaps(file, out.values());
        return Collections.unmodifiableMap(out);
    }

    private static TensorInfo parseEntry(Path file, String name, JsonNode v, long dataLen) throws SafeTensorsException {
        if (!v.isObject()) throw SafeTensorsException.of(file, name, "entry is not a JSON object");
        for (Iterator<String> k = v.fieldNames(); k.hasNext(); ) {
            String key = k.next();
            if (!key.equals("dtype") && !key.equals("shape") && !key.equals("data_offsets"))
                throw SafeTensorsException.of(file, name, "unexpected field '" + key + "'");
        }
        JsonNode dt = v.get("dtype");
        if (dt == null || !dt.isTextual()) throw SafeTensorsException.of(file, name, "missing or non-string dtype");
        Dtype dtype = Dtype.fromName(dt.textValue());
        if (dtype == null) throw SafeTensorsException.of(file, name, "unknown dtype '" + dt.textValue() + "'");
        JsonNode sh = v.get("shape");
        if (sh == null || !sh.isArray()) throw SafeTensorsException.of(file, name, "missing or non-array shape");
        long[] shape = new long[sh.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = nonNegativeLong(file, name, sh.get(i), "shape[" + i + "]");
            try {
                numel = Math.multiplyExact(numel, shape[i]);
            } catch (ArithmeticException ex) {
                throw SafeTensorsException.of(file, name, "shape " + sh + " overflows the element count");
            }
        }
        JsonNode off = v.get("data_offsets");
        if (off == null || !off.isArray() || off.size() != 2)
            throw SafeTensorsException.of(file, name, "data_offsets must be an array [begin, end]");
        long begin = nonNegativeLong(file, name, off.get(0), "data_offsets[0]");
        long end = nonNegativeLong(file, name, off.get(1), "data_offsets[1]");
        if (end < begin)
            throw SafeTensorsException.of(file, name, "data_offsets [" + begin + ", " + end + "] end before begin");
        if (end > dataLen)
            throw SafeTensorsException.of(
                    file,
                    name,
                    "data_offsets [" + begin + ", " + end + "] out of range: the data region has " + dataLen
                            + " bytes (truncated file?)");
        long bytes;
        try {
            bytes = Math.multiplyExact(numel, dtype.size());
        } catch (ArithmeticException ex) {
            throw SafeTensorsException.of(file, name, "shape " + sh + " overflows the byte count");
        }
        if (end - begin != bytes)
            throw SafeTensorsException.of(
                    file,
                    name,
                    "data_offsets [" + begin + ", " + end + "] hold " + (end - begin) + " bytes but shape " + sh
                            + " of " + dtype + " needs " + bytes);
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static long nonNegativeLong(Path file, String name, JsonNode n, String what) throws SafeTensorsException {
        if (n == null || !n.isIntegralNumber())
            throw SafeTensorsException.of(file, name, what + " is not an integer: " + n);
        if (!n.canConvertToLong())
            throw SafeTensorsException.of(file, name, what + " = " + n + " overflows a 64-bit integer");
        long x = n.longValue();
        if (x < 0) throw SafeTensorsException.of(file, name, what + " = " + x + " is negative");
        return x;
    }

    private static void checkOverlaps(Path file, Iterable<TensorInfo> infos) throws SafeTensorsException {
        List<TensorInfo> sorted = new ArrayList<>();
        for (TensorInfo t : infos) if (t.end() > t.begin()) sorted.add(t);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo a = sorted.get(i - 1), b = sorted.get(i);
            if (b.begin() < a.end())
                throw SafeTensorsException.of(
                        file,
                        b.name(),
                        "data_offsets [" + b.begin() + ", " + b.end() + "] overlap tensor '" + a.name() + "' ["
                                + a.begin() + ", " + a.end() + "]");
        }
    }

    /** The file this was opened from. */
    @Override
    public Path path() {
        return file;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    /** All header entries, sorted by name. */
    public Map<String, TensorInfo> infos() {
        return tensors;
    }

    @Override
    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException(file + ": no tensor named '" + name + "'");
        return t;
    }

    /** The {@code __metadata__} map (empty when absent). */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Absolute file offset of the data region (8 + header length). */
    public long dataStart() {
        return dataStart;
    }

    /** A read-only little-endian memory map of one tensor's bytes; tensors above 2 GB must be read with {@link #load}. */
    public ByteBuffer raw(String name) throws IOException {
        TensorInfo t = info(name);
        if (t.byteSize() > Integer.MAX_VALUE)
            throw SafeTensorsException.of(
                    file, name, t.byteSize() + " bytes is too large for one ByteBuffer; use load()");
        return map(t, 0, t.byteSize());
    }

    /** Maps {@code len} bytes of a tensor starting {@code off} bytes into it. */
    @Override
    public ByteBuffer map(TensorInfo t, long off, long len) throws IOException {
        if (len == 0) return ByteBuffer.allocate(0).order(ByteOrder.LITTLE_ENDIAN);
        ensureOpen();
        return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + t.begin() + off, len)
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    @Override
    public INDArray load(String name, DataType dtype) throws IOException {
        TensorInfo t = info(name);
        // The file may have been truncated after open: re-check so a map past the end cannot hand back zeros.
        if (dataStart + t.end() > channel.size())
            throw SafeTensorsException.of(
                    file,
                    name,
                    "data ends at byte " + (dataStart + t.end()) + " but the file now has " + channel.size());
        return TensorDecoder.decode(this, t, dtype);
    }

    private void ensureOpen() throws IOException {
        if (!channel.isOpen()) throw new SafeTensorsException(file + ": file is closed");
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return "SafeTensorsFile[" + file + ", " + tensors.size() + " tensors]";
    }
}
