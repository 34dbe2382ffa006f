package io.gptneo.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Reads the two on-disk forms of a GPT-2 BPE tokenizer into one {@link Spec}; every error names its file. */
final class TokenizerFiles {
    static final String EOS = "<|endoftext|>";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Vocabulary (token string to id), merge pairs in rank order, special tokens (content to id), and the source. */
    record Spec(Map<String, Integer> vocab, List<String[]> merges, Map<String, Integer> specials, Path source) {}

    private TokenizerFiles() {}

    static Spec load(Path dir) {
        if (Files.isRegularFile(dir) && dir.getFileName().toString().equals("tokenizer.json"))
            return fromTokenizerJson(dir);
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("tokenizer directory not found: " + dir);
        Path tj = dir.resolve("tokenizer.json");
        if (Files.isRegularFile(tj)) return fromTokenizerJson(tj);
        Path vocab = dir.resolve("vocab.json");
        Path merges = dir.resolve("merges.txt");
        if (Files.isRegularFile(vocab) && !Files.isRegularFile(merges)) {
            throw new IllegalArgumentException("missing merges.txt next to " + vocab + " (expected " + merges + ")");
        }
        if (!Files.isRegularFile(vocab)) {
            throw new IllegalArgumentException(
                    "no tokenizer in " + dir + ": expected tokenizer.json or vocab.json + merges.txt");
        }
        return fromVocabAndMerges(vocab, merges);
    }

    static Spec fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
        Map<String, Integer> vocab;
        try {
            vocab = JSON.readValue(vocabJson.toFile(), new TypeReference<LinkedHashMap<String, Integer>>() {});
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("malformed vocab.json " + vocabJson + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read vocab.json " + vocabJson + ": " + e.getMessage(), e);
        }
        if (vocab == null || vocab.isEmpty())
            throw new IllegalArgumentException("malformed vocab.json " + vocabJson + ": empty vocabulary");
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (e.getValue() == null)
                throw new IllegalArgumentException("malformed vocab.json " + vocabJson + ": null id for " + e.getKey());
        }
        List<String> lines;
        try {
            lines = Files.readAllLines(mergesTxt, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read merges.txt " + mergesTxt + ": " + e.getMessage(), e);
        }
        List<String[]> merges = new ArrayList<>(lines.size());
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isEmpty() || (i == 0 && line.startsWith("#version"))) continue;
            merges.add(splitMerge(line, mergesTxt + " line " + (i + 1)));
        }
        // Without tokenizer.json there is no added-token list; GPT-2's only special token lives in the vocabulary.
        Map<String, Integer> specials = new LinkedHashMap<>();
        if (vocab.containsKey(EOS)) specials.put(EOS, vocab.get(EOS));
        return new Spec(vocab, merges, specials, vocabJson);
    }

    static Spec fromTokenizerJson(Path file) {
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("malformed tokenizer.json " + file + ": " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read tokenizer.json " + file + ": " + e.getMessage(), e);
        }
        JsonNode model = root == null ? null : root.get("model");
        if (model == null || !model.isObject()) throw bad(file, "no \"model\" object");
        JsonNode type = model.get("type");
        if (type != null && !type.asText().equals("BPE"))
            throw bad(file, "model type is " + type.asText() + ", expected BPE");
        JsonNode vocabNode = model.get("vocab");
        JsonNode mergesNode = model.get("merges");
        if (vocabNode == null || !vocabNode.isObject()) throw bad(file, "no model.vocab object");
        if (mergesNode == null || !mergesNode.isArray()) throw bad(file, "no model.merges array");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().canConvertToInt()) throw bad(file, "id of " + e.getKey() + " is not an int");
            vocab.put(e.getKey(), e.getValue().intValue());
        }
        List<String[]> merges = new ArrayList<>(mergesNode.size());
        for (int i = 0; i < mergesNode.size(); i++) {
            JsonNode m = mergesNode.get(i);
            String where = file + " model.merges[" + i + "]";
            if (m.isTextual()) {
                merges.add(splitMerge(m.asText(), where));
            } else if (m.isArray()
                    && m.size() == 2
                    && m.get(0).isTextual()
                    && m.get(1).isTextual()) {
                merges.add(new String[] {m.get(0).asText(), m.get(1).asText()}); // newer "[a, b]" form
            } else {
                throw new IllegalArgumentException("malformed merge at " + where + ": " + m);
            }
        }
        Map<String, Integer> specials = new LinkedHashMap<>();
        JsonNode added = root.get("added_tokens");
        if (added != null && added.isArray()) {
            for (JsonNode t : added) {
                JsonNode id = t.get("id"), content = t.get("content");
                if (id == null || !id.canConvertToInt() || content == null)
                    throw bad(file, "added token without id/content: " + t);
                Integer prev = vocab.putIfAbsent(content.asText(), id.intValue());
                if (prev != null && prev != id.intValue())
                    throw bad(
                            file,
                            "added token " + content.asText() + " has id " + id.intValue() + " but the vocabulary says "
                                    + prev);
                if (t.path("special").asBoolean(false)) specials.put(content.asText(), id.intValue());
            }
        }
        return new Spec(vocab, merges, specials, file);
    }

    private static String[] splitMerge(String line, String where) {
        int sp = line.indexOf(' ');
        if (sp <= 0 || sp == line.length() - 1 || line.indexOf(' ', sp + 1) >= 0) {
            throw new IllegalArgumentException(
                    "malformed merge at " + where + ": expected \"left right\", got \"" + line + "\"");
        }
        return new String[] {line.substring(0, sp), line.substring(sp + 1)};
    }

    private static IllegalArgumentException bad(Path file, String what) {
        return new IllegalArgumentException("malformed tokenizer.json " + file + ": " + what);
    }
}
