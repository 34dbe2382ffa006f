package io.gptneo.train;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Every training setting. Defaults follow the Safe-RLHF cost-model recipe with LoRA (r 8, alpha 16, dropout 0.05
 * on q_proj,v_proj plus the score head; AdamW lr 1e-5, weight decay 0.05, 100 warmup steps, cosine; 2 epochs of
 * batch 2; gradient checkpointing; max length 1024).
 *
 * <p>Precedence: these defaults, then a JSON config file ({@code --config}), then command-line flags. JSON keys are
 * the flag names without dashes in any of the spellings {@code lora-r}, {@code lora_r}, {@code loraR}.
 */
public final class TrainConfig {
    // model and data
    public String model;
    public String data;
    public String out;
    public String initAdapter;
    public String resume;
    public List<String> resumeOverride = List.of(); // settings --resume may change although they alter the trajectory
    public boolean shuffle = true;
    // when shuffling: batches of rows of similar length (EpochOrder.bucketed). Off by default: on the main job it cut
    // training time 2.2x but lowered every validation score (BeaverTails AUROC 0.718 -> 0.676, PKU ranking 0.724 ->
    // 0.675)
    public boolean lengthBuckets = false;
    public long seed = 42;
    public boolean skipInvalid = false;
    public double validationFraction = 0.1;
    public double testFraction = 0.1;
    // adapter
    public int loraR = 8;
    public double loraAlpha = 16;
    public double loraDropout = 0.05;
    public List<String> targets = List.of("q_proj", "v_proj");
    public boolean trainBase = false;
    public double dropout = 0.0; // base model: embedding and residual dropout in training (GPT-Neo's configs: 0)
    // optimizer and schedule
    public String optimizer = "adamw";
    public double lr = 1e-5;
    public double weightDecay = 0.05;
    public int warmupSteps = 100;
    public String schedule = "cosine";
    public double maxGradNorm = 1.0;
    public double regularization = 0.0;
    // loop
    public int epochs = 2;
    public long maxSteps = -1;
    public int batchSize = 2;
    public int gradAccum = 1;
    public int maxLength = 1024;
    public String truncation = "keep-response"; // or "first-tokens" (fixture parity only), see CostInputs
    public boolean gradientCheckpointing = true;
    public String precision =
            "fp32"; // base products: fp32, or bf16 (frozen block weights held in bf16, fp32 accumulation)
    // evaluation and checkpoints
    public long evalEvery = 0; // steps between validation passes; 0: at the end of each epoch
    public int evalBatchSize = 8;
    public long saveEvery = 500; // steps between checkpoints; 0: only at the end and on a signal
    public int keepCheckpoints = 3;
    public boolean progress = true;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Applies a JSON object's keys on top of the current values. */
    public TrainConfig applyJson(JsonNode obj, String origin) {
        if (!obj.isObject()) throw new IllegalArgumentException(origin + ": expected a JSON object");
        Map<String, Field> fields = fieldsByKey();
        List<String> unknown = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = obj.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            Field f = fields.get(normalize(e.getKey()));
            if (f == null) {
                unknown.add(e.getKey());
                continue;
            }
            set(f, e.getValue(), origin + ": key '" + e.getKey() + "'");
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException(
                    origin + ": unknown key(s) " + unknown + "; known: " + String.join(", ", kebabNames()));
        }
        return this;
    }

    public TrainConfig applyJsonFile(Path file) {
        JsonNode n;
        try {
            n = JSON.readTree(file.toFile());
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("config " + file + ": invalid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new IllegalArgumentException("config " + file + ": cannot read (" + e.getMessage() + ")");
        }
        return applyJson(n, "config " + file);
    }

    /**
     * Copies every non-null field of {@code flags} whose name matches a setting (flags holds boxed, unset = null
     * fields named like these), so only options given on the command line override.
     */
    public TrainConfig applyFlags(Object flags) {
        Map<String, Field> fields = fieldsByKey();
        for (Field src : flags.getClass().getDeclaredFields()) {
            Field dst = fields.get(normalize(src.getName()));
            if (dst == null || Modifier.isStatic(src.getModifiers())) continue;
            try {
                src.setAccessible(true);
                Object v = src.get(flags);
                if (v != null) set(dst, JSON.valueToTree(v), "--" + kebab(dst.getName()));
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return this;
    }

    /** Checks ranges and names; throws with the flag's name. */
    public TrainConfig validate() {
        req(loraR >= 1, "--lora-r must be >= 1");
        req(loraDropout >= 0 && loraDropout < 1, "--lora-dropout must be in [0, 1)");
        req(dropout >= 0 && dropout < 1, "--dropout must be in [0, 1)");
        req(lr >= 0, "--lr must be >= 0");
        req(weightDecay >= 0, "--weight-decay must be >= 0");
        req(warmupSteps >= 0, "--warmup-steps must be >= 0");
        req(
                List.of("cosine", "linear", "constant").contains(schedule),
                "--schedule must be cosine, linear or constant, got " + schedule);
        req(
                List.of("adamw", "adamw_hf").contains(optimizer),
                "--optimizer must be adamw or adamw_hf, got " + optimizer);
        req(epochs >= 1 || maxSteps > 0, "--epochs must be >= 1 (or give --max-steps)");
        req(batchSize >= 1, "--batch-size must be >= 1");
        req(gradAccum >= 1, "--grad-accum must be >= 1");
        req(maxLength >= 2, "--max-length must be >= 2");
        CostInputs.Truncation.parse(truncation);
        req(maxGradNorm >= 0, "--max-grad-norm must be >= 0 (0 disables clipping)");
        req(regularization >= 0, "--regularization must be >= 0");
        req(keepCheckpoints >= 1, "--keep-checkpoints must be >= 1");
        req(List.of("fp32", "bf16").contains(precision), "--precision must be fp32 or bf16, got " + precision);
        req(
                !(trainBase && precision.equals("bf16")),
                "--precision bf16 holds the frozen base weights in bf16: not with --train-base (full training stays fp32)");
        req(!targets.isEmpty() || trainBase, "--targets is empty: nothing to train (give --train-base or targets)");
        return this;
    }

    private static void req(boolean ok, String msg) {
        if (!ok) throw new io.gptneo.GptNeoException(msg);
    }

    public ObjectNode toJson() {
        ObjectNode o = JSON.createObjectNode();
        for (Field f : settingFields()) {
            try {
                o.set(kebab(f.getName()), JSON.valueToTree(f.get(this)));
            } catch (IllegalAccessException e) {
                throw new IllegalStateException(e);
            }
        }
        return o;
    }

    public String toJsonString() {
        try {
            return JSON.writeValueAsString(toJson());
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public TrainConfig copy() {
        return new TrainConfig().applyJson(toJson(), "copy");
    }

    private void set(Field f, JsonNode v, String what) {
        try {
            Object value;
            if (f.getType() == List.class) {
                List<String> l = new ArrayList<>();
                if (v.isTextual()) {
                    for (String s : v.textValue().split(",")) if (!s.isBlank()) l.add(s.trim());
                } else if (v.isArray()) {
                    for (JsonNode x : v) {
                        if (!x.isTextual()) throw new IllegalArgumentException(what + ": expected strings, got " + x);
                        l.add(x.textValue());
                    }
                } else
                    throw new IllegalArgumentException(
                            what + ": expected a list or a comma-separated string, got " + v);
                value = List.copyOf(l);
            } else if (f.getType() == String.class) {
                if (!v.isTextual() && !v.isNull())
                    throw new IllegalArgumentException(what + ": expected a string, got " + v);
                value = v.isNull() ? null : v.textValue();
            } else if (f.getType() == boolean.class) {
                if (!v.isBoolean()) throw new IllegalArgumentException(what + ": expected true or false, got " + v);
                value = v.booleanValue();
            } else if (f.getType() == int.class || f.getType() == long.class) {
                if (!v.isIntegralNumber() && !(v.isNumber() && v.asDouble() == Math.rint(v.asDouble()))) {
                    throw new IllegalArgumentException(what + ": expected an integer, got " + v);
                }
                value = f.getType() == int.class ? (Object) Math.toIntExact(v.asLong()) : (Object) v.asLong();
            } else if (f.getType() == double.class) {
                if (!v.isNumber()) throw new IllegalArgumentException(what + ": expected a number, got " + v);
                value = v.asDouble();
            } else {
                throw new IllegalStateException("unsupported setting type " + f.getType());
            }
            f.set(this, value);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static List<Field> settingFields() {
        List<Field> l = new ArrayList<>();
        for (Field f : TrainConfig.class.getDeclaredFields()) {
            if (Modifier.isPublic(f.getModifiers()) && !Modifier.isStatic(f.getModifiers())) l.add(f);
        }
        return l;
    }

    private static Map<String, Field> fieldsByKey() {
        Map<String, Field> m = new LinkedHashMap<>();
        for (Field f : settingFields()) m.put(normalize(f.getName()), f);
        return m;
    }

    private static List<String> kebabNames() {
        return settingFields().stream().map(f -> kebab(f.getName())).toList();
    }

    static String normalize(String key) {
        return key.replace("-", "").replace("_", "").toLowerCase(Locale.ROOT);
    }

    static String kebab(String camel) {
        return camel.replaceAll("([a-z0-9])([A-Z])", "$1-$2").toLowerCase(Locale.ROOT);
    }
}
