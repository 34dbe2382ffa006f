package io.gptneo.weights;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * GPT-Neo hyper-parameters (the fields of HuggingFace's {@code GPTNeoConfig} that define the network).
 *
 * @param intermediateSize MLP width (config {@code intermediate_size}; null there means 4 × hiddenSize)
 * @param windowSize       span of LOCAL attention layers (a token sees itself and the windowSize − 1 before it)
 * @param attentionLayers  one entry per layer
 */
public record GptNeoConfig(
        int vocabSize,
        int maxPositionEmbeddings,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int intermediateSize,
        int windowSize,
        List<AttentionType> attentionLayers,
        double layerNormEpsilon,
        String activationFunction,
        int bosTokenId,
        int eosTokenId) {

    public static final String GELU_NEW = "gelu_new";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public GptNeoConfig {
        Objects.requireNonNull(attentionLayers, "attentionLayers");
        attentionLayers = List.copyOf(attentionLayers);
        requirePositive("vocab_size", vocabSize);
        requirePositive("max_position_embeddings", maxPositionEmbeddings);
        requirePositive("hidden_size", hiddenSize);
        requirePositive("num_layers", numLayers);
        requirePositive("num_heads", numHeads);
        requirePositive("intermediate_size", intermediateSize);
        requirePositive("window_size", windowSize);
        if (hiddenSize % numHeads != 0)
            throw new IllegalArgumentException(
                    "hidden_size " + hiddenSize + " is not divisible by num_heads " + numHeads);
        if (attentionLayers.size() != numLayers)
            throw new IllegalArgumentException(
                    "attention_layers has " + attentionLayers.size() + " entries but num_layers is " + numLayers);
        if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon))
            throw new IllegalArgumentException("layer_norm_epsilon must be positive, got " + layerNormEpsilon);
        if (!GELU_NEW.equals(activationFunction))
            throw new IllegalArgumentException(
                    "activation_function '" + activationFunction + "' is not supported (only gelu_new)");
    }

    private static void requirePositive(String field, int v) {
        if (v <= 0) throw new IllegalArgumentException(field + " must be positive, got " + v);
    }

    /** Per-head width: hiddenSize / numHeads. */
    public int headDim() {
        return hiddenSize / numHeads;
    }

    /** Attention kind of layer {@code i}. */
    public AttentionType attentionType(int layer) {
        return attentionLayers.get(layer);
    }

    /**
     * A config made in code (tests, benchmarks): intermediate 4 × hidden, epsilon 1e-5, gelu_new, bos = eos =
     * vocab − 1. {@code types} gives every layer's kind, or a pattern cycled over the layers (empty: global/local
     * alternating, as in the released GPT-Neo models).
     *
     * @param vocab     vocab_size
     * @param positions max_position_embeddings
     * @param hidden    hidden_size
     * @param layers    num_layers
     * @param heads     num_heads
     * @param window    window_size of the local layers
     * @param types     attention_types, per layer or a pattern
     * @return the config
     */
    public static GptNeoConfig of(
            int vocab, int positions, int hidden, int layers, int heads, int window, AttentionType... types) {
        if (types.length == 0) types = new AttentionType[] {AttentionType.GLOBAL, AttentionType.LOCAL};
        List<AttentionType> per = new ArrayList<>(layers);
        for (int i = 0; i < layers; i++) per.add(types[i % types.length]);
        return new GptNeoConfig(
                vocab, positions, hidden, layers, heads, 4 * hidden, window, per, 1e-5, GELU_NEW, vocab - 1, vocab - 1);
    }

    /** A copy with another MLP width. */
    public GptNeoConfig withIntermediateSize(int size) {
        return new GptNeoConfig(
                vocabSize,
                maxPositionEmbeddings,
                hiddenSize,
                numLayers,
                numHeads,
                size,
                windowSize,
                attentionLayers,
                layerNormEpsilon,
                activationFunction,
                bosTokenId,
                eosTokenId);
    }

    /** A copy with another layer-norm epsilon. */
    public GptNeoConfig withLayerNormEpsilon(double eps) {
        return new GptNeoConfig(
                vocabSize,
                maxPositionEmbeddings,
                hiddenSize,
                numLayers,
                numHeads,
                intermediateSize,
                windowSize,
                attentionLayers,
                eps,
                activationFunction,
                bosTokenId,
                eosTokenId);
    }

    /** Reads a HuggingFace {@code config.json}. Errors name the file and the field. */
    public static GptNeoConfig load(Path configJson) throws IOException {
        String text;
        try {
            text = Files.readString(configJson);
        } catch (NoSuchFileException e) {
            throw new ConfigException(configJson + ": config file not found");
        }
        return parse(text, configJson.toString());
    }

    /** Parses config JSON; {@code source} names it in error messages. */
    public static GptNeoConfig parse(String json, String source) throws ConfigException {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new ConfigException(source + ": not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) throw new ConfigException(source + ": not a JSON object");
        Reader r = new Reader(root, source);
        JsonNode mt = root.get("model_type");
        if (mt != null && mt.isTextual() && !mt.textValue().equals("gpt_neo"))
            throw new ConfigException(source + ": model_type '" + mt.textValue() + "' is not gpt_neo");
        int vocab = r.intField(true, 0, "vocab_size");
        int positions = r.intField(true, 0, "max_position_embeddings", "n_positions");
        int hidden = r.intField(true, 0, "hidden_size", "n_embd");
        int layers = r.intField(true, 0, "num_layers", "num_hidden_layers", "n_layer");
        int heads = r.intField(true, 0, "num_heads", "num_attention_heads", "n_head");
        if (!root.hasNonNull("intermediate_size") && !root.hasNonNull("n_inner") && 4L * hidden > Integer.MAX_VALUE) {
            throw new ConfigException(
                    source + ": hidden_size " + hidden + " is too large: the MLP width 4 × hidden_size = " + 4L * hidden
                            + " (no intermediate_size given) exceeds " + Integer.MAX_VALUE);
        }
        int inter = r.intField(false, 4 * hidden, "intermediate_size", "n_inner");
        int window = r.intField(false, 256, "window_size");
        double eps = r.doubleField(1e-5, "layer_norm_epsilon");
        String act = r.stringField(GELU_NEW, "activation_function");
        if (!act.equals(GELU_NEW))
            throw new ConfigException(source + ": activation_function '" + act + "' is not supported (only gelu_new)");
        int bos = r.intField(false, 50256, "bos_token_id");
        int eos = r.intField(false, 50256, "eos_token_id");
        List<AttentionType> types = attentionLayers(root, source, layers);
        try {
            return new GptNeoConfig(vocab, positions, hidden, layers, heads, inter, window, types, eps, act, bos, eos);
        } catch (IllegalArgumentException e) {
            throw new ConfigException(source + ": " + e.getMessage());
        }
    }

    /** Expands {@code attention_types} ([[[kinds...], repeat], ...]) and checks {@code attention_layers} against it. */
    private static List<AttentionType> attentionLayers(JsonNode root, String source, int layers)
            throws ConfigException {
        JsonNode at = root.get("attention_types");
        JsonNode al = root.get("attention_layers");
        List<AttentionType> expanded = null;
        if (at != null && !at.isNull()) {
            if (!at.isArray())
                throw new ConfigException(
                        source + ": attention_types must be a list like [[[\"global\",\"local\"],6]]");
            expanded = new ArrayList<>();
            for (JsonNode group : at) {
                if (!group.isArray()
                        || group.size() != 2
                        || !group.get(0).isArray()
                        || !group.get(1).canConvertToInt()
                        || !group.get(1).isIntegralNumber()
                        || group.get(1).intValue() < 0)
                    throw new ConfigException(
                            source + ": attention_types entry " + group + " is not [[kinds...], repeat]");
                List<AttentionType> kinds = new ArrayList<>();
                for (JsonNode k : group.get(0)) kinds.add(kind(k, source, "attention_types"));
                int repeat = group.get(1).intValue();
                if ((long) repeat * kinds.size() > 1_000_000)
                    throw new ConfigException(source + ": attention_types expands to too many layers");
                for (int i = 0; i < repeat; i++) expanded.addAll(kinds);
            }
            if (expanded.size() != layers)
                throw new ConfigException(source + ": attention_types expands to " + expanded.size()
                        + " layers but num_layers is " + layers);
        }
        if (al != null && !al.isNull()) {
            if (!al.isArray())
                throw new ConfigException(source + ": attention_layers must be a list of \"global\"/\"local\"");
            List<AttentionType> explicit = new ArrayList<>();
            for (JsonNode k : al) explicit.add(kind(k, source, "attention_layers"));
            if (explicit.size() != layers)
                throw new ConfigException(
                        source + ": attention_layers has " + explicit.size() + " entries but num_layers is " + layers);
            if (expanded != null && !expanded.equals(explicit))
                throw new ConfigException(source + ": attention_layers " + names(explicit)
                        + " disagrees with attention_types, which expands to " + names(expanded));
            return explicit;
        }
        if (expanded == null) throw new ConfigException(source + ": needs attention_types or attention_layers");
        return expanded;
    }

    private static AttentionType kind(JsonNode k, String source, String field) throws ConfigException {
        AttentionType t = k.isTextual() ? AttentionType.parse(k.textValue()) : null;
        if (t == null)
            throw new ConfigException(source + ": " + field + " has " + k + "; expected \"global\" or \"local\"");
        return t;
    }

    private static List<String> names(List<AttentionType> l) {
        return l.stream().map(AttentionType::jsonName).toList();
    }

    /** HuggingFace-style config.json text; {@link #parse} reads it back to an equal config. */
    public String toJson() {
        ObjectNode o = JSON.createObjectNode();
        o.putArray("architectures").add("GPTNeoForCausalLM");
        o.put("model_type", "gpt_neo");
        o.put("vocab_size", vocabSize);
        o.put("max_position_embeddings", maxPositionEmbeddings);
        o.put("hidden_size", hiddenSize);
        o.put("num_layers", numLayers);
        o.put("num_heads", numHeads);
        o.put("intermediate_size", intermediateSize);
        o.put("window_size", windowSize);
        // Shortest repeating pattern, as HF writes it: [[["global","local"], numLayers/2]].
        int period = numLayers;
        for (int p = 1; p <= numLayers; p++) {
            if (numLayers % p != 0) continue;
            boolean ok = true;
            for (int i = p; i < numLayers && ok; i++) ok = attentionLayers.get(i) == attentionLayers.get(i - p);
            if (ok) {
                period = p;
                break;
            }
        }
        ArrayNode group = o.putArray("attention_types").addArray();
        ArrayNode kinds = group.addArray();
        for (int i = 0; i < period; i++) kinds.add(attentionLayers.get(i).jsonName());
        group.add(numLayers / period);
        ArrayNode al = o.putArray("attention_layers");
        attentionLayers.forEach(t -> al.add(t.jsonName()));
        o.put("activation_function", activationFunction);
        o.put("layer_norm_epsilon", layerNormEpsilon);
        o.put("bos_token_id", bosTokenId);
        o.put("eos_token_id", eosTokenId);
        o.put("resid_dropout", 0.0);
        o.put("embed_dropout", 0.0);
        o.put("attention_dropout", 0.0);
        try {
            return JSON.writeValueAsString(o);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Writes {@link #toJson()} to a file. */
    public void save(Path configJson) throws IOException {
        Files.writeString(configJson, toJson());
    }

    /** Field access with aliases; every error names the file and the field. */
    private record Reader(JsonNode root, String source) {
        JsonNode find(String... names) throws ConfigException {
            JsonNode found = null;
            String foundName = null;
            for (String n : names) {
                JsonNode v = root.get(n);
                if (v == null || v.isNull()) continue;
                if (found != null && !found.equals(v))
                    throw new ConfigException(
                            source + ": " + foundName + " = " + found + " disagrees with its alias " + n + " = " + v);
                if (found == null) {
                    found = v;
                    foundName = n;
                }
            }
            return found;
        }

        int intField(boolean required, int dflt, String... names) throws ConfigException {
            JsonNode v = find(names);
            if (v == null) {
                if (required)
                    throw new ConfigException(source + ": missing required field " + String.join(" / ", names));
                return dflt;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt())
                throw new ConfigException(source + ": field " + names[0] + " must be an integer, got " + v);
            return v.intValue();
        }

        double doubleField(double dflt, String name) throws ConfigException {
            JsonNode v = find(name);
            if (v == null) return dflt;
            if (!v.isNumber()) throw new ConfigException(source + ": field " + name + " must be a number, got " + v);
            return v.doubleValue();
        }

        String stringField(String dflt, String name) throws ConfigException {
            JsonNode v = find(name);
            if (v == null) return dflt;
            if (!v.isTextual()) throw new ConfigException(source + ": field " + name + " must be a string, got " + v);
            return v.textValue();
        }
    }
}
