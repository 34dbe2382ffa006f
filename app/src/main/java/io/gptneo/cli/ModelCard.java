package io.gptneo.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * {@code OUT/model_card.json} of a pipeline run: what the served model is (from scratch or which checkpoint), what it
 * was trained on and its test metrics, so that {@code ./gptneo serve --model OUT} can load it and say so on
 * {@code /healthz} and the page.
 */
final class ModelCard {
    static final String FILE = "model_card.json";
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private ModelCard() {}

    /** @param base the pretrained checkpoint LoRA was trained on, or null for a model trained from scratch */
    static void write(
            Path out,
            String base,
            String model,
            Path beavertails,
            Path pairs,
            int qaRows,
            int pairRows,
            ObjectNode test)
            throws IOException {
        ObjectNode o = JSON.createObjectNode();
        o.put(
                "initialisation",
                base == null
                        ? "from scratch (random weights; no pretrained checkpoint)"
                        : "pretrained checkpoint " + base);
        if (base != null) o.put("base_model", base);
        o.put("model", model);
        o.put("weights", "adapter");
        o.put("kind", base == null ? "full" : "lora");
        var data = o.putArray("training_data");
        data.add(beavertails.getFileName() + ": " + qaRows + " responses (sign loss)");
        if (pairs != null) data.add(pairs.getFileName() + ": " + pairRows + " pairs (pairwise + sign losses)");
        o.set("test", test);
        JsonNode bt = test.path("beavertails").path("model"),
                pk = test.path("pku").path("model");
        String metrics = String.format(
                Locale.ROOT,
                "BeaverTails test accuracy %.3f, AUROC %.3f",
                bt.path("accuracy").path("value").asDouble(),
                bt.path("auroc").path("value").asDouble());
        if (!pk.isMissingNode())
            metrics += String.format(
                    Locale.ROOT,
                    "; PKU-SafeRLHF test sign accuracy %.3f, ranking accuracy %.3f",
                    pk.path("sign_accuracy").path("value").asDouble(),
                    pk.path("ranking_accuracy").path("value").asDouble());
        o.put(
                "summary",
                (base == null
                                ? "GPT-Neo trained from scratch by ./gptneo pipeline (" + model
                                        + "); not the reference study's " + "gpt-neo-1.3B LoRA cost model"
                                : "LoRA cost model on " + base + " by ./gptneo pipeline")
                        + "; trained on "
                        + dataText(o) + "; " + metrics);
        Path tmp = out.resolve(FILE + ".tmp");
        Files.writeString(tmp, JSON.writeValueAsString(o) + "\n");
        Files.move(tmp, out.resolve(FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String dataText(ObjectNode o) {
        StringBuilder sb = new StringBuilder();
        for (JsonNode d : o.get("training_data"))
            sb.append(sb.length() == 0 ? "" : " + ").append(d.asText());
        return sb.toString();
    }

    /** The card of a pipeline output folder, or null when {@code dir} is not one. */
    static JsonNode read(Path dir) throws IOException {
        Path f = dir.resolve(FILE);
        if (!Files.isRegularFile(f)) return null;
        JsonNode n = JSON.readTree(f.toFile());
        if (n == null || !n.isObject() || !n.path("weights").isTextual())
            throw new IllegalArgumentException(f + ": not a model card (no \"weights\")");
        return n;
    }
}
