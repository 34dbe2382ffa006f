package io.gptneo.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A PyTorch {@code torch.save} checkpoint ({@code pytorch_model.bin}, the zip format of torch ≥ 1.6) read without
 * executing anything: the zip's {@code ARCHIVE/data.pkl} is interpreted by {@link PickleReader} (allowlisted globals
 * only) and each tensor's bytes are memory-mapped from its stored {@code ARCHIVE/data/KEY} entry when it is read.
 *
 * <pre>
 * ARCHIVE/data.pkl     pickle of {name: _rebuild_tensor_v2(storage, offset, size, stride, ...)}
 * ARCHIVE/byteorder    "little" or "big" (absent = little)
 * ARCHIVE/data/KEY     raw storage bytes, numel × element size
 * </pre>
 * Sizes, offsets and strides are checked against each storage entry's real size on open; a non-contiguous tensor is
 * made contiguous when read (up to 2 GB). Tensors that share a storage (tied weights) keep pointing at the same entry
 * ({@link #storageKey}).
 */
public final class TorchCheckpoint implements TensorSource, MappedSource {
    /** data.pkl above this size is refused before it is read (a state dict's pickle holds names and shapes only). */
    public static final long MAX_PICKLE_BYTES = 64L << 20;

    private record Slot(PickleReader.Tensor tensor, ZipIndex.Entry entry, boolean contiguous) {}

    private final Path file;
    private final FileChannel channel;
    private final ByteOrder order;
    private final Map<String, TensorInfo> infos; // sorted by name
    private final Map<String, Slot> slots;

    private TorchCheckpoint(
            Path file, FileChannel channel, ByteOrder order, Map<String, TensorInfo> infos, Map<String, Slot> slots) {
        this.file = file;
        this.channel = channel;
        this.order = order;
        this.infos = infos;
        this.slots = slots;
    }

    /** Opens a checkpoint: reads the zip directory and the pickle, checks every tensor against its storage. */
    public static TorchCheckpoint open(Path file) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (IOException e) {
            throw new SafeTensorsException(file + ": cannot open PyTorch checkpoint: " + e, e);
        }
        try {
            return read(file, ch);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    private static TorchCheckpoint read(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        ByteBuffer magic = ZipIndex.read(ch, 0, (int) Math.min(4, size), file);
        if (size < 4 || magic.getInt(0) != 0x04034b50) {
            if (size >= 2 && (magic.get(0) & 0xff) == 0x80)
                throw SafeTensorsException.of(
                        file,
                        null,
                        "legacy PyTorch checkpoint (torch.save before 1.6, a bare pickle stream) is not"
                                + " supported: re-save it with torch >= 1.6 (the zip format) or convert it to safetensors");
            throw SafeTensorsException.of(
                    file, null, "not a PyTorch zip checkpoint (it does not start with a zip header)");
        }
        Map<String, ZipIndex.Entry> entries = ZipIndex.read(file, ch);
        List<String> pkls = entries.keySet().stream()
                .filter(n -> n.endsWith("/data.pkl") && n.indexOf('/') == n.length() - 9)
                .toList();
        if (pkls.size() != 1)
            throw SafeTensorsException.of(
                    file,
                    null,
                    pkls.isEmpty()
                            ? "no ARCHIVE/data.pkl entry: not a torch.save checkpoint"
                            : "several data.pkl entries: " + pkls);
        String prefix = pkls.get(0).substring(0, pkls.get(0).length() - "data.pkl".length());
        ZipIndex.Entry pkl = entries.get(pkls.get(0));
        if (pkl.size() > MAX_PICKLE_BYTES)
            throw SafeTensorsException.of(
                    file, null, pkl.name() + " is " + pkl.size() + " bytes, above the limit of " + MAX_PICKLE_BYTES);
        ByteOrder order = ByteOrder.LITTLE_ENDIAN;
        ZipIndex.Entry bo = entries.get(prefix + "byteorder");
        if (bo != null) {
            String s = new String(bytes(file, ch, bo, 16), StandardCharsets.US_ASCII).strip();
            if (s.equals("big")) order = ByteOrder.BIG_ENDIAN;
            else if (!s.equals("little"))
                throw SafeTensorsException.of(file, null, bo.name() + " says '" + s + "', not 'little' or 'big'");
        }
        Object root = PickleReader.read(file + "!" + pkl.name(), bytes(file, ch, pkl, MAX_PICKLE_BYTES));
        Map<String, PickleReader.Tensor> tensors = new TreeMap<>();
        flatten(file, "", root, tensors, Collections.newSetFromMap(new IdentityHashMap<>()), 0);
        Map<String, TensorInfo> infos = new TreeMap<>();
        Map<String, Slot> slots = new TreeMap<>();
        for (var e : tensors.entrySet()) {
            String name = e.getKey();
            PickleReader.Tensor t = e.getValue();
            PickleReader.Storage s = t.storage();
            ZipIndex.Entry data = entries.get(prefix + "data/" + s.key());
            if (data == null)
                throw SafeTensorsException.of(
                        file, name, "storage entry " + prefix + "data/" + s.key() + " is missing from the archive");
            if (data.method() != 0)
                throw SafeTensorsException.of(
                        file,
                        name,
                        data.name() + " is compressed (zip method " + data.method()
                                + "); torch.save stores entries uncompressed");
            int es = s.dtype().size();
            if (s.numel() > data.size() / es || s.numel() * es != data.size())
                throw SafeTensorsException.of(
                        file,
                        name,
                        "storage " + s.key() + " declares " + s.numel() + " " + s.dtype() + " elements but "
                                + data.name() + " holds " + data.size() + " bytes");
            long numel = 1, extent = 1, expect = 1;
            boolean contiguous = true;
            try {
                for (int d = t.size().length - 1; d >= 0; d--) {
                    long n = t.size()[d];
                    numel = Math.multiplyExact(numel, n);
                    if (n > 1 && t.stride()[d] != expect) contiguous = false;
                    expect = Math.multiplyExact(expect, n);
                    if (n > 0) extent = Math.addExact(extent, Math.multiplyExact(n - 1, t.stride()[d]));
                }
            } catch (ArithmeticException x) {
                throw SafeTensorsException.of(
                        file,
                        name,
                        "size " + Arrays.toString(t.size()) + " / stride " + Arrays.toString(t.stride()) + " overflow");
            }
            if (numel > 0 && t.offset() + extent > s.numel())
                throw SafeTensorsException.of(
                        file,
                        name,
                        "offset " + t.offset() + ", size " + Arrays.toString(t.size()) + " and stride "
                                + Arrays.toString(t.stride()) + " reach element " + (t.offset() + extent)
                                + " of a storage with " + s.numel());
            if (!contiguous && (numel * es > Integer.MAX_VALUE || extent * es > Integer.MAX_VALUE))
                throw SafeTensorsException.of(
                        file,
                        name,
                        "non-contiguous tensor of " + numel * es
                                + " bytes: above the 2 GB that can be made contiguous");
            infos.put(name, new TensorInfo(name, s.dtype(), t.size(), 0, numel * es));
            slots.put(name, new Slot(t, data, contiguous));
        }
        return new TorchCheckpoint(file, ch, order, Collections.unmodifiableMap(infos), slots);
    }

    /** Collects tensors of the (possibly nested, e.g. {"state_dict": {...}}) dict under dotted names. */
    private static void flatten(
            Path file, String prefix, Object o, Map<String, PickleReader.Tensor> out, Set<Object> seen, int depth)
            throws SafeTensorsException {
        if (!(o instanceof Map<?, ?> m))
            throw SafeTensorsException.of(
                    file,
                    null,
                    "data.pkl holds " + (o == null ? "None" : o.getClass().getSimpleName()) + ", not a state dict");
        if (depth > 4 || !seen.add(o)) return;
        for (var e : m.entrySet()) {
            String name = prefix + e.getKey();
            if (e.getValue() instanceof PickleReader.Tensor t) out.put(name, t);
            else if (e.getValue() instanceof Map<?, ?>) flatten(file, name + ".", e.getValue(), out, seen, depth + 1);
        }
    }

    private static byte[] bytes(Path file, FileChannel ch, ZipIndex.Entry e, long limit) throws IOException {
        if (e.method() != 0)
            throw SafeTensorsException.of(
                    file,
                    null,
                    e.name() + " is compressed (zip method " + e.method()
                            + "); torch.save stores entries uncompressed");
        if (e.size() > limit)
            throw SafeTensorsException.of(
                    file, null, e.name() + " is " + e.size() + " bytes, above the limit of " + limit);
        return ZipIndex.read(ch, e.dataOffset(), (int) e.size(), file).array();
    }

    @Override
    public Path path() {
        return file;
    }

    @Override
    public Set<String> names() {
        return infos.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        TensorInfo t = infos.get(name);
        if (t == null) throw new IllegalArgumentException(file + ": no tensor named '" + name + "'");
        return t;
    }

    /** The storage entry a tensor reads from: tensors with the same key share memory in PyTorch (tied weights). */
    public String storageKey(String name) {
        info(name);
        return slots.get(name).tensor().storage().key();
    }

    @Override
    public INDArray load(String name, DataType dtype) throws IOException {
        TensorInfo t = info(name);
        Slot s = slots.get(name);
        if (s.entry().dataOffset() + s.entry().size() > channel.size())
            throw SafeTensorsException.of(
                    file,
                    name,
                    s.entry().name() + " ends at byte "
                            + (s.entry().dataOffset() + s.entry().size()) + " but the file now has " + channel.size());
        return TensorDecoder.decode(this, t, dtype);
    }

    @Override
    public ByteBuffer map(TensorInfo t, long off, long len) throws IOException {
        if (len == 0) return ByteBuffer.allocate(0).order(order);
        if (!channel.isOpen()) throw new SafeTensorsException(file + ": file is closed");
        Slot s = slots.get(t.name());
        int es = t.dtype().size();
        long start = s.entry().dataOffset() + s.tensor().offset() * es;
        if (s.contiguous())
            return channel.map(FileChannel.MapMode.READ_ONLY, start + off, len).order(order);
        return gather(s, es, start).slice((int) off, (int) len).order(order);
    }

    /** Copies a strided tensor's elements into a new C-order buffer. */
    private ByteBuffer gather(Slot s, int es, long start) throws IOException {
        long[] size = s.tensor().size(), stride = s.tensor().stride();
        long extent = 1;
        for (int d = 0; d < size.length; d++) extent += (size[d] - 1) * stride[d];
        ByteBuffer src = channel.map(FileChannel.MapMode.READ_ONLY, start, extent * es);
        long numel = 1;
        for (long n : size) numel *= n;
        ByteBuffer dst = ByteBuffer.allocate((int) (numel * es));
        long[] idx = new long[size.length];
        byte[] el = new byte[es];
        for (long i = 0; i < numel; i++) {
            long at = 0;
            for (int d = 0; d < size.length; d++) at += idx[d] * stride[d];
            src.get((int) (at * es), el);
            dst.put(el);
            for (int d = size.length - 1; d >= 0 && ++idx[d] == size[d]; d--) idx[d] = 0;
        }
        return dst.flip();
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return "TorchCheckpoint[" + file + ", " + infos.size() + " tensors]";
    }
}
