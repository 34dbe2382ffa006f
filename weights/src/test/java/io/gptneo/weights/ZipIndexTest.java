package io.gptneo.weights;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.ZipFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Zip64 archives (what torch.save writes for entries or archives above 4 GB): sizes and offsets set to 0xFFFFFFFF in
 * the central directory and carried by the Zip64 extra field, entry count and directory location by the Zip64
 * end record. Built here by hand from a small checkpoint, so the 64-bit paths run without a 4 GB file.
 */
class ZipIndexTest {
    @TempDir
    Path tmp;

    @Test
    void zip64DirectoryIsReadAndTheCheckpointLoads() throws Exception {
        Map<String, byte[]> entries = new LinkedHashMap<>();
        try (ZipFile z =
                new ZipFile(TorchCheckpointTest.DIR.resolve("hostile/good.bin").toFile())) {
            for (var e : java.util.Collections.list(z.entries()))
                entries.put(
                        e.getName().replace("archive/", "zip64_model/"),
                        z.getInputStream(e).readAllBytes());
        }
        Path f = tmp.resolve("zip64.bin");
        Files.write(f, zip64(entries));
        try (ZipFile z = new ZipFile(f.toFile())) { // the JDK's reader agrees the archive is valid
            for (var e : entries.entrySet())
                assertArrayEquals(
                        e.getValue(), z.getInputStream(z.getEntry(e.getKey())).readAllBytes());
        }
        try (TorchCheckpoint t = TorchCheckpoint.open(f)) {
            assertArrayEquals(new float[] {1, 2, 3, 4}, t.load("w").toFloatVector());
        }
        try (var ch = java.nio.channels.FileChannel.open(f)) {
            Map<String, ZipIndex.Entry> idx = ZipIndex.read(f, ch);
            assertEquals(entries.keySet(), idx.keySet());
            for (var e : idx.values()) assertEquals(entries.get(e.name()).length, e.size(), e.name());
        }
    }

    /** A stored zip whose every size, offset and count goes through the Zip64 records. */
    static byte[] zip64(Map<String, byte[]> entries) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream cd = new ByteArrayOutputStream();
        for (var e : entries.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8), data = e.getValue();
            long offset = out.size();
            ByteBuffer lh = le(30 + name.length);
            lh.putInt(0x04034b50)
                    .putShort((short) 45)
                    .putShort((short) 0)
                    .putShort((short) 0)
                    .putInt(0)
                    .putInt(0)
                    .putInt(data.length)
                    .putInt(data.length)
                    .putShort((short) name.length)
                    .putShort((short) 0)
                    .put(name);
            out.writeBytes(lh.array());
            out.writeBytes(data);
            ByteBuffer c = le(46 + name.length + 28);
            c.putInt(0x02014b50)
                    .putShort((short) 45)
                    .putShort((short) 45)
                    .putShort((short) 0)
                    .putShort((short) 0)
                    .putInt(0)
                    .putInt(0)
                    .putInt(-1)
                    .putInt(-1)
                    .putShort((short) name.length)
                    .putShort((short) 28)
                    .putShort((short) 0)
                    .putShort((short) 0)
                    .putShort((short) 0)
                    .putInt(0)
                    .putInt(-1)
                    .put(name)
                    .putShort((short) 1)
                    .putShort((short) 24)
                    .putLong(data.length)
                    .putLong(data.length)
                    .putLong(offset);
            cd.writeBytes(c.array());
        }
        long cdOffset = out.size();
        out.writeBytes(cd.toByteArray());
        long z64 = out.size();
        ByteBuffer end = le(56 + 20 + 22);
        end.putInt(0x06064b50)
                .putLong(44)
                .putShort((short) 45)
                .putShort((short) 45)
                .putInt(0)
                .putInt(0)
                .putLong(entries.size())
                .putLong(entries.size())
                .putLong(cd.size())
                .putLong(cdOffset);
        end.putInt(0x07064b50).putInt(0).putLong(z64).putInt(1);
        end.putInt(0x06054b50)
                .putShort((short) 0)
                .putShort((short) 0)
                .putShort((short) -1)
                .putShort((short) -1)
                .putInt(-1)
                .putInt(-1)
                .putShort((short) 0);
        out.writeBytes(end.array());
        return out.toByteArray();
    }

    private static ByteBuffer le(int n) {
        return ByteBuffer.allocate(n).order(ByteOrder.LITTLE_ENDIAN);
    }
}
