package io.gptneo.train.data;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.gptneo.weights.ModelResolver;
import java.io.BufferedInputStream;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.tukaani.xz.XZInputStream;

/**
 * Reads PKU-SafeRLHF pair files and BeaverTails QA files (JSONL, one object a line, UTF-8; plain, {@code .gz} or
 * {@code .xz}; a local path or a Hub dataset file {@code hf://datasets/ORG/NAME/PATH[@REVISION]}). Rows in the
 * published schemas read as they are: fields this reader does not use (sources, harm categories, severity levels)
 * are ignored, and {@code better_response_id} is optional.
 *
 * <p>Every field is checked for presence and type. An invalid line stops the read with a {@link DataException}
 * naming {@code file:line} and the field, unless {@code skipInvalid} is set: then the line is left out and its
 * message kept in {@link Dataset#skipped()} for the report. Blank lines are ignored.
 */
public final class DatasetReader {
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private DatasetReader() {}

    /** Reads {@code file}, detecting the format from the first JSON object that has a response field. */
    public static Dataset read(Path file, boolean skipInvalid) {
        return read(file, null, skipInvalid);
    }

    /**
     * Reads {@code file} as {@code format} (null: detect). {@code .gz} and {@code .xz} files are decompressed while
     * streaming; {@code hf://datasets/ORG/NAME/PATH[@REVISION]} (which a Path shows as {@code hf:/datasets/...}) is
     * taken from the HuggingFace cache or downloaded into it first.
     */
    public static Dataset read(Path file, DataFormat format, boolean skipInvalid) {
        file = locate(file);
        List<PairExample> pairs = new ArrayList<>();
        List<QaExample> qa = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        if (Files.isDirectory(file))
            throw new IllegalArgumentException("data file " + file + " is a folder; give the JSONL file(s) in it");
        int lineNo = 0;
        try (BufferedReader in = open(file)) {
            String line;
            while ((line = in.readLine()) != null) {
                lineNo++;
                if (line.isBlank()) continue;
                String loc = file + ":" + lineNo;
                try {
                    JsonNode node = parse(line, loc);
                    if (format == null) format = detect(node, loc);
                    if (format == DataFormat.PAIRS) pairs.add(pair(node, loc));
                    else qa.add(qa(node, loc));
                } catch (DataException e) {
                    if (!skipInvalid) throw e;
                    skipped.add(e.getMessage());
                }
            }
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("data file not found: " + file);
        } catch (CharacterCodingException e) {
            throw new IllegalArgumentException("data file is not valid UTF-8: " + file + ":" + (lineNo + 1));
        } catch (java.util.zip.ZipException | java.io.EOFException | org.tukaani.xz.XZIOException e) {
            throw new IllegalArgumentException("data file " + file
                    + ": corrupt or truncated compressed data after line " + lineNo + " (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw new UncheckedIOException("reading " + file, e);
        }
        if (format == null) format = DataFormat.QA; // empty file: no rows either way
        return new Dataset(
                file,
                format,
                Collections.unmodifiableList(pairs),
                Collections.unmodifiableList(qa),
                Collections.unmodifiableList(skipped));
    }

    /** A path as given, or the local copy of a Hub dataset file ({@code hf://datasets/...}). */
    public static Path locate(Path file) {
        String s = file.toString();
        if (!s.startsWith("hf:/") || Files.exists(file)) return file;
        String ref = ModelResolver.HUB_PREFIX + s.substring(s.startsWith("hf://") ? 5 : 4);
        try {
            return ModelResolver.fromEnvironment().datasetFile(ref);
        } catch (IOException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    /** UTF-8 lines (malformed bytes reported), through gzip or xz when the name ends so. */
    static BufferedReader open(Path file) throws IOException {
        String n = file.getFileName().toString();
        InputStream raw = Files.newInputStream(file);
        InputStream in;
        try {
            in = n.endsWith(".gz")
                    ? new GZIPInputStream(raw, 1 << 16)
                    : n.endsWith(".xz") ? new XZInputStream(new BufferedInputStream(raw, 1 << 16)) : raw;
        } catch (IOException e) {
            raw.close();
            throw new IllegalArgumentException("data file " + file + ": not a valid "
                    + (n.endsWith(".gz") ? "gzip" : "xz") + " file (" + e.getMessage() + ")");
        }
        return new BufferedReader(
                new InputStreamReader(
                        in,
                        StandardCharsets.UTF_8
                                .newDecoder()
                                .onMalformedInput(CodingErrorAction.REPORT)
                                .onUnmappableCharacter(CodingErrorAction.REPORT)),
                1 << 16);
    }

    static JsonNode parse(String line, String loc) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new DataException(loc, null, "invalid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject())
            throw new DataException(loc, null, "expected a JSON object, got " + kind(node));
        return node;
    }

    static DataFormat detect(JsonNode node, String loc) {
        if (node.has("response_0") || node.has("response_1")) return DataFormat.PAIRS;
        if (node.has("response")) return DataFormat.QA;
        throw new DataException(
                loc, "response", "missing (a pair line has response_0/response_1, a QA line has response)");
    }

    static PairExample pair(JsonNode n, String loc) {
        String prompt = text(n, "prompt", loc);
        String r0 = text(n, "response_0", loc);
        String r1 = text(n, "response_1", loc);
        boolean s0 = bool(n, "is_response_0_safe", loc);
        boolean s1 = bool(n, "is_response_1_safe", loc);
        int safer = responseId(n, "safer_response_id", loc, true);
        int better = responseId(n, "better_response_id", loc, false);
        return new PairExample(prompt, r0, r1, s0, s1, safer, better, loc);
    }

    static QaExample qa(JsonNode n, String loc) {
        String prompt = text(n, "prompt", loc);
        String response = text(n, "response", loc);
        JsonNode cat = n.get("category");
        if (cat == null || cat.isNull()) throw new DataException(loc, "category", "missing");
        if (!cat.isObject())
            throw new DataException(loc, "category", "expected an object of booleans, got " + kind(cat));
        Map<String, Boolean> cats = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = cat.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isBoolean()) {
                throw new DataException(loc, "category." + e.getKey(), "expected a boolean, got " + kind(e.getValue()));
            }
            cats.put(e.getKey(), e.getValue().booleanValue());
        }
        boolean safe = bool(n, "is_safe", loc);
        return new QaExample(prompt, response, Collections.unmodifiableMap(cats), safe, loc);
    }

    private static String text(JsonNode n, String field, String loc) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) throw new DataException(loc, field, "missing");
        if (!v.isTextual()) throw new DataException(loc, field, "expected a string, got " + kind(v));
        return v.textValue();
    }

    private static boolean bool(JsonNode n, String field, String loc) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) throw new DataException(loc, field, "missing");
        if (!v.isBoolean()) throw new DataException(loc, field, "expected true or false, got " + kind(v));
        return v.booleanValue();
    }

    /** 0 or 1; -1 when absent and optional. */
    private static int responseId(JsonNode n, String field, String loc, boolean required) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            if (required) throw new DataException(loc, field, "missing");
            return -1;
        }
        if (!v.isIntegralNumber()) throw new DataException(loc, field, "expected 0 or 1, got " + kind(v));
        if (!v.canConvertToInt() || (v.intValue() != 0 && v.intValue() != 1)) {
            throw new DataException(loc, field, "expected 0 or 1, got " + v.asText());
        }
        return v.intValue();
    }

    private static String kind(JsonNode v) {
        if (v == null || v.isMissingNode()) return "nothing";
        if (v.isTextual()) return "string \"" + abbreviate(v.textValue()) + "\"";
        if (v.isNumber()) return "number " + v.asText();
        if (v.isBoolean()) return "boolean " + v.asText();
        if (v.isNull()) return "null";
        return v.getNodeType().name().toLowerCase();
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
