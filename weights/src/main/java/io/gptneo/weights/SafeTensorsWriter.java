package io.gptneo.weights;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes safetensors files that this reader and the Python {@code safetensors} library accept: tensors sorted by
 * name with contiguous offsets from 0, {@code __metadata__} first, the header padded with spaces so the data region
 * starts 8-byte aligned. The file is written to a temporary file in the same directory, forced to disk and renamed
 * over the target atomically, so readers never see a half-written file.
 */
public final class SafeTensorsWriter {
    private static final int CHUNK_ELEMS = 1 << 20;

    private SafeTensorsWriter() {}

    /** Writes every tensor in its own type: FLOAT → F32, DOUBLE → F64, HALF → F16, BFLOAT16 → BF16, LONG → I64, ... */
    public static void write(Path file, Map<String, INDArray> tensors, Map<String, String> metadata)
            throws IOException {
        write(file, tensors, metadata, null);
    }

    /**
     * As {@link #write(Path, Map, Map)}, but floating-point tensors are stored as {@code floatDtype} (F64, F32, F16 or
     * BF16; narrowing rounds to nearest even). Integer and boolean tensors keep their type. null = each array's own.
     */
    public static void write(Path file, Map<String, INDArray> tensors, Map<String, String> metadata, Dtype floatDtype)
            throws IOException {
        if (floatDtype != null && !floatDtype.isFloating())
            throw new IllegalArgumentException("floatDtype must be F64, F32, F16 or BF16, not " + floatDtype);
        TreeMap<String, INDArray> sorted = new TreeMap<>(tensors);
        TreeMap<String, Dtype> types = new TreeMap<>();
        ObjectNode header = SafeTensorsFile.JSON.createObjectNode();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            new TreeMap<>(metadata).forEach(m::put);
        }
        long offset = 0;
        for (var e : sorted.entrySet()) {
            String name = e.getKey();
            INDArray a = e.getValue();
            if (name.isEmpty() || name.equals("__metadata__"))
                throw new IllegalArgumentException("invalid tensor name '" + name + "' for " + file);
            if (a == null) throw new IllegalArgumentException(file + ": tensor '" + name + "' is null");
            Dtype src = Dtype.of(a.dataType());
            Dtype dt = floatDtype != null && src.isFloating() ? floatDtype : src;
            types.put(name, dt);
            long bytes = a.length() * dt.size();
            ObjectNode t = header.putObject(name);
            t.put("dtype", dt.safetensorsName());
            var shape = t.putArray("shape");
            for (long d : a.shape()) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = SafeTensorsFile.JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) head.put((byte) ' ');
        head.flip();

        Path abs = file.toAbsolutePath();
        Path dir = abs.getParent();
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, "." + abs.getFileName(), ".tmp");
        try {
            try (FileChannel ch =
                    FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                writeFully(ch, head);
                for (var e : sorted.entrySet()) writeData(ch, e.getValue(), types.get(e.getKey()));
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** Streams one tensor's elements in C order, converting to {@code dt} in chunks. */
    private static void writeData(FileChannel ch, INDArray a, Dtype dt) throws IOException {
        long n = a.length();
        if (n == 0) return;
        // Raw bytes need a dense C-order buffer; views and 'f'-order arrays are copied once.
        INDArray c =
                a.isView() || a.ordering() != 'c' || a.offset() != 0 || a.data().length() != n ? a.dup('c') : a;
        DataType st = c.dataType();
        int ss = st.width();
        Pointer base = c.data().pointer();
        long baseByte = base.position() * base.sizeof();
        boolean same = Dtype.of(st) == dt && ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN && dt != Dtype.BOOL;
        ByteBuffer out =
                same ? null : ByteBuffer.allocate(CHUNK_ELEMS * dt.size()).order(ByteOrder.LITTLE_ENDIAN);
        long step = same ? TensorDecoder.WINDOW_BYTES / ss : CHUNK_ELEMS;
        for (long e0 = 0; e0 < n; e0 += step) {
            int cnt = (int) Math.min(step, n - e0);
            ByteBuffer in = TensorDecoder.view(base, baseByte + e0 * ss, (long) cnt * ss);
            if (same) {
                writeFully(ch, in);
                continue;
            }
            out.clear();
            Dtype sd = Dtype.of(st);
            for (int i = 0; i < cnt; i++) {
                switch (dt) {
                    case F64 -> out.putDouble(TensorDecoder.readDouble(in, sd, i));
                    case F32 -> out.putFloat(
                            sd == Dtype.F64
                                    ? (float) in.getDouble(8 * i)
                                    : (float) TensorDecoder.readDouble(in, sd, i));
                    case F16 -> out.putShort(HalfFloats.floatToHalf((float) TensorDecoder.readDouble(in, sd, i)));
                    case BF16 -> out.putShort(HalfFloats.floatToBf16((float) TensorDecoder.readDouble(in, sd, i)));
                    case BOOL -> out.put((byte) (TensorDecoder.readLong(in, sd, i) != 0 ? 1 : 0));
                    default -> throw new IllegalStateException("unexpected conversion " + sd + " -> " + dt);
                }
            }
            out.flip();
            writeFully(ch, out);
        }
    }
}
