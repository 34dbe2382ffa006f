package io.gptneo.train;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Checkpoint folders {@code OUT/checkpoints/checkpoint-STEP}, written atomically: the content goes to a hidden
 * temporary folder first, which is renamed into place only when complete, so a crash or a kill mid-write never
 * leaves a checkpoint that looks valid. After each save only the newest {@code keepLast} are kept.
 */
public final class CheckpointManager {
    public static final String DIR = "checkpoints";
    /** Written last inside a checkpoint; a folder with it is a checkpoint {@code --resume} accepts. */
    public static final String STATE_FILE = "trainer_state.json";

    private static final Pattern NAME = Pattern.compile("checkpoint-(\\d+)");

    /** Writes a checkpoint's files into an (empty, existing) folder. */
    @FunctionalInterface
    public interface Writer {
        void write(Path dir) throws IOException;
    }

    private final Path root;
    private final int keepLast;

    public CheckpointManager(Path outDir, int keepLast) {
        if (keepLast < 1) throw new IllegalArgumentException("keep-checkpoints must be >= 1, got " + keepLast);
        this.root = outDir.resolve(DIR);
        this.keepLast = keepLast;
    }

    public Path root() {
        return root;
    }

    /** Saves the checkpoint of {@code step} (a no-op returning the folder if it already exists) and prunes old ones. */
    public Path save(long step, Writer writer) throws IOException {
        Files.createDirectories(root);
        Path target = root.resolve("checkpoint-" + step);
        if (Files.isRegularFile(target.resolve(STATE_FILE))) return target;
        Path tmp = Files.createTempDirectory(root, ".tmp-checkpoint-" + step + "-");
        try {
            try {
                writer.write(tmp);
            } catch (IOException e) { // e.g. a full disk, whose message names no file
                throw new IOException(
                        "cannot write checkpoint " + target + " (" + e.getMessage()
                                + "); free space or give another --out",
                        e);
            }
            if (!Files.isRegularFile(tmp.resolve(STATE_FILE))) {
                throw new IllegalStateException("checkpoint writer did not write " + STATE_FILE);
            }
            if (Files.exists(target)) deleteTree(target); // an incomplete leftover without a state file
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException | FileAlreadyExistsException e) {
                throw new IOException("cannot rename " + tmp + " to " + target + " atomically", e);
            }
        } finally {
            if (Files.exists(tmp)) deleteTree(tmp);
        }
        prune();
        return target;
    }

    /** Complete checkpoints, oldest first. */
    public List<Path> list() {
        return list(root);
    }

    static List<Path> list(Path root) {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(root)) return out;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root)) {
            for (Path p : ds) {
                if (NAME.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p.resolve(STATE_FILE)))
                    out.add(p);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        out.sort(Comparator.comparingLong(CheckpointManager::stepOf));
        return out;
    }

    /** Removes all but the newest {@code keepLast} complete checkpoints and any leftover temporary folders. */
    void prune() throws IOException {
        List<Path> all = list();
        for (int i = 0; i < all.size() - keepLast; i++) deleteTree(all.get(i));
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(root, ".tmp-checkpoint-*")) {
            for (Path p : ds) deleteTree(p);
        }
    }

    public static long stepOf(Path checkpoint) {
        Matcher m = NAME.matcher(checkpoint.getFileName().toString());
        if (!m.matches()) throw new IllegalArgumentException("not a checkpoint folder name: " + checkpoint);
        return Long.parseLong(m.group(1));
    }

    /**
     * The checkpoint {@code --resume DIR} means: DIR itself when it holds {@value #STATE_FILE}; otherwise the newest
     * checkpoint under DIR/checkpoints or DIR (a training output or a checkpoints folder).
     */
    public static Path resolveResume(Path dir) {
        if (Files.isRegularFile(dir.resolve(STATE_FILE))) return dir;
        for (Path r : List.of(dir.resolve(DIR), dir)) {
            List<Path> l = list(r);
            if (!l.isEmpty()) return l.get(l.size() - 1);
        }
        throw new IllegalArgumentException("--resume " + dir + ": no checkpoint there (expected " + STATE_FILE
                + " in it, or checkpoint-N folders in it or in its " + DIR + "/ folder)");
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) return;
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(x);
        }
    }
}
