package io.gptneo.lora;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.model.CostModel;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.SafeTensorsFile;
import io.gptneo.weights.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The PEFT adapter folder: {@code adapter_config.json} + {@code adapter_model.safetensors} with PEFT's saved key names
 * ({@code base_model.model.transformer.h.N.attn.attention.q_proj.lora_A.weight}, ...,
 * {@code base_model.model.score.weight}). Both files are written to temporaries and renamed into place.
 */
public final class PeftAdapter {
    public static final String CONFIG_FILE = "adapter_config.json";
    public static final String WEIGHTS_FILE = "adapter_model.safetensors";
    /** PEFT key of the score head saved as a module to save. */
    public static final String SCORE_KEY = LoraModel.PEFT_PREFIX + "score.weight";

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private PeftAdapter() {}

    /**
     * Writes {@code lora}'s config and trainable tensors (LoRA matrices and modules to save) to {@code dir}, plus the
     * score head as {@code base_model.model.score.weight} when {@code head} is given (then {@code score} is listed in
     * modules_to_save).
     */
    public static void save(Path dir, LoraModel lora, ScoreHead head) throws IOException {
        save(dir, lora, head, null);
    }

    /** As {@link #save(Path, LoraModel, ScoreHead)}, recording {@code baseModelName} as base_model_name_or_path. */
    public static void save(Path dir, LoraModel lora, ScoreHead head, String baseModelName) throws IOException {
        Files.createDirectories(dir);
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        lora.namedTrainable().forEach((k, t) -> tensors.put(k, t.data()));
        LoraConfig cfg = lora.config();
        if (head != null) {
            tensors.put(SCORE_KEY, head.weight().data());
            if (!cfg.modulesToSave().contains("score")) {
                List<String> m = new ArrayList<>(cfg.modulesToSave());
                m.add("score");
                cfg = new LoraConfig(
                        cfg.r(), cfg.alpha(), cfg.dropout(), cfg.targetModules(), cfg.useRsLora(), cfg.init(), m);
            }
        }
        // Weights first, config last: a folder whose config is present has complete weights.
        SafeTensorsWriter.write(dir.resolve(WEIGHTS_FILE), tensors, Map.of("format", "pt"));
        writeAtomically(dir.resolve(CONFIG_FILE), JSON.writeValueAsBytes(configJson(cfg, baseModelName)));
    }

    /**
     * Loads an adapter folder onto {@code target}: injects adapters per its config (score head made trainable when
     * {@code score} is a module to save) and copies the saved tensors in. A saved score head is restored even when the
     * config does not list it.
     */
    public static LoraModel load(Path dir, CostModel target) throws IOException {
        LoraConfig cfg = readConfig(dir);
        LoraModel lora = LoraModel.inject(target, cfg, 0);
        Map<String, Tensor> extra = new LinkedHashMap<>();
        if (!lora.namedTrainable().containsKey(SCORE_KEY))
            extra.put(SCORE_KEY, target.head().weight());
        loadWeights(dir, lora, extra);
        return lora;
    }

    /** PEFT's adapter_config.json fields for a sequence-classification LoRA. */
    static ObjectNode configJson(LoraConfig c, String baseModelName) {
        ObjectNode o = JSON.createObjectNode();
        o.put("peft_type", "LORA");
        o.put("task_type", "SEQ_CLS");
        o.put("r", c.r());
        if (c.alpha() == Math.rint(c.alpha())) o.put("lora_alpha", (long) c.alpha());
        else o.put("lora_alpha", c.alpha());
        o.put("lora_dropout", c.dropout());
        if (c.targetIsRegex()) o.put("target_modules", c.targetModules().get(0));
        else {
            ArrayNode t = o.putArray("target_modules");
            c.targetModules().forEach(t::add);
        }
        o.put("bias", "none");
        o.put("fan_in_fan_out", false);
        o.put("use_rslora", c.useRsLora());
        if (c.init() == LoraConfig.Init.GAUSSIAN) o.put("init_lora_weights", "gaussian");
        else o.put("init_lora_weights", true);
        ArrayNode m = o.putArray("modules_to_save");
        c.modulesToSave().forEach(m::add);
        if (baseModelName != null) o.put("base_model_name_or_path", baseModelName);
        o.put("inference_mode", true);
        return o;
    }

    /** Reads adapter_config.json; rejects what this implementation cannot reproduce (non-LoRA, biases, fan_in_fan_out). */
    public static LoraConfig readConfig(Path dir) throws IOException {
        Path f = dir.resolve(CONFIG_FILE);
        JsonNode o;
        try {
            o = JSON.readTree(Files.readAllBytes(f));
        } catch (NoSuchFileException e) {
            throw new IOException("not a PEFT adapter folder: " + f + " is missing", e);
        }
        String type = o.path("peft_type").asText("LORA");
        if (!type.equals("LORA")) throw new IOException(f + ": peft_type " + type + " is not supported (LORA only)");
        if (!o.path("bias").asText("none").equals("none"))
            throw new IOException(f + ": bias=" + o.get("bias").asText() + " is not supported (none only)");
        if (o.path("fan_in_fan_out").asBoolean(false))
            throw new IOException(f + ": fan_in_fan_out=true is not supported");
        if (!o.has("r") || !o.has("lora_alpha")) throw new IOException(f + ": r and lora_alpha are required");
        List<String> targets = new ArrayList<>();
        JsonNode t = o.path("target_modules");
        if (t.isTextual()) targets.add(t.asText());
        else if (t.isArray()) t.forEach(n -> targets.add(n.asText()));
        else throw new IOException(f + ": target_modules must be a list or a regex string");
        List<String> save = new ArrayList<>();
        o.path("modules_to_save").forEach(n -> save.add(n.asText()));
        JsonNode init = o.path("init_lora_weights");
        LoraConfig.Init i = init.isTextual() && init.asText().equals("gaussian")
                ? LoraConfig.Init.GAUSSIAN
                : LoraConfig.Init.KAIMING_UNIFORM;
        try {
            return new LoraConfig(
                    o.get("r").asInt(),
                    o.get("lora_alpha").asDouble(),
                    o.path("lora_dropout").asDouble(0.0),
                    targets,
                    o.path("use_rslora").asBoolean(false),
                    i,
                    save);
        } catch (IllegalArgumentException e) {
            throw new IOException(f + ": " + e.getMessage(), e);
        }
    }

    /**
     * Copies the saved tensors into an injected model's trainable tensors (cast to their dtype). Every trainable
     * tensor must be in the file with its shape, and every tensor in the file must be used.
     */
    public static void loadWeights(Path dir, LoraModel lora) throws IOException {
        loadWeights(dir, lora, Map.of());
    }

    /** As {@link #loadWeights(Path, LoraModel)}; {@code optional} tensors are filled when the file has them. */
    static void loadWeights(Path dir, LoraModel lora, Map<String, Tensor> optional) throws IOException {
        Path f = dir.resolve(WEIGHTS_FILE);
        if (!Files.exists(f)) throw new IOException("not a PEFT adapter folder: " + f + " is missing");
        try (SafeTensorsFile st = SafeTensorsFile.open(f)) {
            TreeSet<String> unused = new TreeSet<>(st.names());
            for (var e : lora.namedTrainable().entrySet()) {
                String key = e.getKey();
                Tensor t = e.getValue();
                if (!st.names().contains(key)) throw new IOException(f + ": missing tensor " + key);
                INDArray a = st.load(key, t.dtype());
                if (!Arrays.equals(a.shape(), t.shape())) {
                    throw new IOException(f + ": " + key + " has shape " + Arrays.toString(a.shape())
                            + ", the model needs " + Arrays.toString(t.shape()));
                }
                t.setData(a);
                unused.remove(key);
            }
            for (var e : optional.entrySet()) {
                if (!unused.remove(e.getKey())) continue;
                Tensor t = e.getValue();
                INDArray a = st.load(e.getKey(), t.dtype());
                if (!Arrays.equals(a.shape(), t.shape())) {
                    throw new IOException(f + ": " + e.getKey() + " has shape " + Arrays.toString(a.shape())
                            + ", the model needs " + Arrays.toString(t.shape()));
                }
                t.setData(a);
            }
            if (!unused.isEmpty())
                throw new IOException(f + ": tensors not matching any adapter of the model: " + unused);
        }
    }

    static void writeAtomically(Path target, byte[] bytes) throws IOException {
        Path abs = target.toAbsolutePath();
        Path tmp = Files.createTempFile(abs.getParent(), "." + abs.getFileName(), ".tmp");
        try {
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
