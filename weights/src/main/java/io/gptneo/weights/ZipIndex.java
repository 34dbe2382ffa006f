package io.gptneo.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The central directory of a zip file, read without inflating anything, so that stored (uncompressed) entries can be
 * memory-mapped where their bytes begin. Handles Zip64 (entries and archives above 4 GB, more than 65535 entries).
 * Every offset and size is checked against the file's length before it is used.
 */
final class ZipIndex {
    /** One entry: its compression method (0 = stored), sizes, and the file offset of its first data byte. */
    record Entry(String name, int method, long compressedSize, long size, long dataOffset) {}

    private static final int EOCD = 0x06054b50,
            ZIP64_LOCATOR = 0x07064b50,
            ZIP64_EOCD = 0x06064b50,
            CENTRAL = 0x02014b50,
            LOCAL = 0x04034b50;
    private static final int MAX_ENTRIES = 1 << 20;

    private ZipIndex() {}

    /** Reads the central directory; throws a {@link SafeTensorsException} naming the file for anything malformed. */
    static Map<String, Entry> read(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        int tail = (int) Math.min(size, 22 + 65535);
        ByteBuffer end = read(ch, size - tail, tail, file);
        int eocd = -1;
        for (int i = tail - 22; i >= 0; i--)
            if (end.getInt(i) == EOCD) {
                eocd = i;
                break;
            }
        if (eocd < 0)
            throw SafeTensorsException.of(file, null, "not a zip archive (no end-of-central-directory record)");
        long count = end.getShort(eocd + 10) & 0xffff;
        long cdSize = end.getInt(eocd + 12) & 0xffffffffL, cdOffset = end.getInt(eocd + 16) & 0xffffffffL;
        if (eocd >= 20 && end.getInt(eocd - 20) == ZIP64_LOCATOR) {
            long z64 = end.getLong(eocd - 20 + 8);
            if (z64 < 0 || z64 > size - 56)
                throw SafeTensorsException.of(file, null, "Zip64 end record offset " + z64 + " is outside the file");
            ByteBuffer z = read(ch, z64, 56, file);
            if (z.getInt(0) != ZIP64_EOCD)
                throw SafeTensorsException.of(file, null, "bad Zip64 end-of-central-directory record");
            count = z.getLong(32);
            cdSize = z.getLong(40);
            cdOffset = z.getLong(48);
        }
        if (count < 0 || count > MAX_ENTRIES)
            throw SafeTensorsException.of(file, null, "zip declares " + count + " entries (limit " + MAX_ENTRIES + ")");
        if (cdOffset < 0 || cdSize < 0 || cdSize > Integer.MAX_VALUE || cdOffset > size - cdSize)
            throw SafeTensorsException.of(
                    file,
                    null,
                    "zip central directory [" + cdOffset + ", +" + cdSize + "] lies outside the file (" + size
                            + " bytes; truncated?)");
        ByteBuffer cd = read(ch, cdOffset, (int) cdSize, file);
        Map<String, Entry> out = new LinkedHashMap<>();
        int p = 0;
        for (long i = 0; i < count; i++) {
            if (p + 46 > cdSize || cd.getInt(p) != CENTRAL)
                throw SafeTensorsException.of(file, null, "zip central directory entry " + i + " is malformed");
            int method = cd.getShort(p + 10) & 0xffff;
            long csize = cd.getInt(p + 20) & 0xffffffffL, usize = cd.getInt(p + 24) & 0xffffffffL;
            int nlen = cd.getShort(p + 28) & 0xffff,
                    xlen = cd.getShort(p + 30) & 0xffff,
                    clen = cd.getShort(p + 32) & 0xffff;
            long local = cd.getInt(p + 42) & 0xffffffffL;
            if (p + 46L + nlen + xlen + clen > cdSize)
                throw SafeTensorsException.of(
                        file, null, "zip central directory entry " + i + " runs past the directory");
            byte[] nb = new byte[nlen];
            cd.get(p + 46, nb);
            String name = new String(nb, StandardCharsets.UTF_8);
            // Zip64 extra field (id 1): the 64-bit values of the fields set to 0xFFFFFFFF, in this order.
            for (int x = p + 46 + nlen, xe = x + xlen; x + 4 <= xe; ) {
                int id = cd.getShort(x) & 0xffff, len = cd.getShort(x + 2) & 0xffff;
                if (x + 4 + len > xe) break;
                if (id == 1) {
                    int q = x + 4;
                    if (usize == 0xffffffffL && q + 8 <= x + 4 + len) {
                        usize = cd.getLong(q);
                        q += 8;
                    }
                    if (csize == 0xffffffffL && q + 8 <= x + 4 + len) {
                        csize = cd.getLong(q);
                        q += 8;
                    }
                    if (local == 0xffffffffL && q + 8 <= x + 4 + len) {
                        local = cd.getLong(q);
                    }
                }
                x += 4 + len;
            }
            if (method == 0 && csize != usize)
                throw SafeTensorsException.of(
                        file, name, "stored zip entry declares " + usize + " bytes but occupies " + csize);
            if (csize < 0 || usize < 0 || local < 0 || local > size - 30)
                throw SafeTensorsException.of(file, name, "zip entry offsets/sizes are outside the file");
            ByteBuffer lh = read(ch, local, 30, file);
            if (lh.getInt(0) != LOCAL)
                throw SafeTensorsException.of(file, name, "zip local header missing at offset " + local);
            long data = local + 30 + (lh.getShort(26) & 0xffff) + (lh.getShort(28) & 0xffff);
            if (data > size - csize)
                throw SafeTensorsException.of(
                        file,
                        name,
                        "zip entry data [" + data + ", +" + csize + "] runs past the end of the file (" + size
                                + " bytes; truncated?)");
            if (out.put(name, new Entry(name, method, csize, usize, data)) != null)
                throw SafeTensorsException.of(file, name, "zip archive holds two entries with this name");
            p += 46 + nlen + xlen + clen;
        }
        return Collections.unmodifiableMap(out);
    }

    static ByteBuffer read(FileChannel ch, long pos, int len, Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len).order(ByteOrder.LITTLE_ENDIAN);
        while (b.hasRemaining()) {
            if (ch.read(b, pos + b.position()) < 0)
                throw SafeTensorsException.of(file, null, "truncated at byte " + (pos + b.position()));
        }
        return b.flip();
    }
}
