package io.gptneo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedWriter;
import java.io.Closeable;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code metrics.jsonl}: one line per optimizer step {@code {"step","lr","loss","grad_norm","tokens","pad_tokens"}}
 * (tokens: the real tokens the step fed; pad_tokens: the padding its batches added) and one per
 * evaluation {@code {"step","eval":"validation",...}}. Each line is flushed when written, so the file is readable
 * while training runs. On resume from step S the lines after S (written by the interrupted run after its last
 * checkpoint) are dropped, so the file ends up as an uninterrupted run's.
 */
public final class MetricsLog implements Closeable {
    static final ObjectMapper JSON = new ObjectMapper();
    private final BufferedWriter out;
    private final Path file;

    private MetricsLog(BufferedWriter out, Path file) {
        this.out = out;
        this.file = file;
    }

    /** A new file (replacing an old one). */
    public static MetricsLog create(Path file) throws IOException {
        Files.createDirectories(file.toAbsolutePath().getParent());
        return new MetricsLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8), file);
    }

    /** Keeps the lines with {@code step <= lastStep} of an existing file and appends after them. */
    public static MetricsLog resume(Path file, long lastStep) throws IOException {
        List<String> keep = new ArrayList<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                if (line.isBlank()) continue;
                JsonNode n;
                try {
                    n = JSON.readTree(line);
                } catch (IOException e) {
                    break; // a line cut by a kill: everything after it is newer than the checkpoint anyway
                }
                if (n.path("step").asLong(Long.MAX_VALUE) <= lastStep) keep.add(line);
            }
        }
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, keep, StandardCharsets.UTF_8);
        return new MetricsLog(Files.newBufferedWriter(file, StandardCharsets.UTF_8, StandardOpenOption.APPEND), file);
    }

    public synchronized void step(long step, double lr, double loss, double gradNorm) throws IOException {
        write(stepLine(step, lr, loss, gradNorm));
    }

    /** A step line with the real tokens the step fed and the pad tokens its batches added. */
    public synchronized void step(long step, double lr, double loss, double gradNorm, long tokens, long padTokens)
            throws IOException {
        Map<String, Object> m = stepLine(step, lr, loss, gradNorm);
        m.put("tokens", tokens);
        m.put("pad_tokens", padTokens);
        write(m);
    }

    private static Map<String, Object> stepLine(long step, double lr, double loss, double gradNorm) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put("lr", lr);
        m.put("loss", loss);
        m.put("grad_norm", gradNorm);
        return m;
    }

    /** An evaluation line: {@code {"step": step, "eval": split, ...values}}. */
    public synchronized void eval(long step, String split, Map<String, ?> values) throws IOException {
        tagged(step, "eval", split, values);
    }

    /** An event line: {@code {"step": step, "event": name, ...values}} (e.g. settings changed on resume). */
    public synchronized void event(long step, String name, Map<String, ?> values) throws IOException {
        tagged(step, "event", name, values);
    }

    private void tagged(long step, String key, String name, Map<String, ?> values) throws IOException {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", step);
        m.put(key, name);
        m.putAll(values);
        write(m);
    }

    private void write(Map<String, Object> m) throws IOException {
        try {
            out.write(JSON.writeValueAsString(m));
            out.newLine();
            out.flush();
        } catch (IOException e) { // e.g. a full disk, whose message names no file
            throw new IOException("cannot write " + file + " (" + e.getMessage() + ")", e);
        }
    }

    /** Reads a metrics file (for tests and reports). */
    public static List<JsonNode> read(Path file) throws IOException {
        List<JsonNode> l = new ArrayList<>();
        for (String line : Files.readAllLines(file, StandardCharsets.UTF_8))
            if (!line.isBlank()) l.add(JSON.readTree(line));
        return l;
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }
}
