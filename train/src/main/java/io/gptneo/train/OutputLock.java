package io.gptneo.train;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;

/**
 * One training run per output folder: an exclusive OS lock on {@code OUT/.train.lock}, which also holds the owner's
 * PID and start time for the message a second run gets. The OS drops the lock when its process dies (even by
 * {@code kill -9}), so a lock file left behind is stale by construction: the next run takes it over and says so.
 */
public final class OutputLock implements AutoCloseable {
    public static final String FILE = ".train.lock";

    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;

    private OutputLock(Path file, FileChannel channel, FileLock lock) {
        this.file = file;
        this.channel = channel;
        this.lock = lock;
    }

    /**
     * Takes the lock of {@code out} (created if missing) or throws, touching nothing else, when another run holds it.
     *
     * @throws IllegalStateException naming the folder and the other run's PID and start time
     */
    public static OutputLock acquire(Path out, java.io.PrintStream log) throws IOException {
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new IllegalArgumentException("--out " + out + " is a file, not a folder");
        }
        Files.createDirectories(out);
        Path file = out.resolve(FILE);
        FileChannel ch =
                FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileLock lock;
        try {
            lock = ch.tryLock();
        } catch (OverlappingFileLockException sameJvm) {
            lock = null;
        }
        if (lock == null) {
            ch.close();
            String owner = Files.readString(file, StandardCharsets.UTF_8).trim();
            throw new IllegalStateException("--out " + out + " is in use by another training run ("
                    + (owner.isEmpty() ? "owner unknown" : owner)
                    + "); wait for it to finish or give another --out. Nothing was written.");
        }
        String previous = Files.readString(file, StandardCharsets.UTF_8).trim();
        if (!previous.isEmpty()) log.printf("%s: taking over a stale lock (%s, no longer running)%n", out, previous);
        ch.truncate(0);
        ch.write(
                java.nio.ByteBuffer.wrap(("pid " + ProcessHandle.current().pid() + ", started " + Instant.now() + "\n")
                        .getBytes(StandardCharsets.UTF_8)),
                0);
        ch.force(false);
        return new OutputLock(file, ch, lock);
    }

    /** Releases the lock and removes the file. */
    @Override
    public void close() throws IOException {
        try {
            Files.deleteIfExists(file);
            lock.release();
        } finally {
            channel.close();
        }
    }
}
