package io.gptneo.lora;

import io.gptneo.model.CostModel;
import io.gptneo.model.GptNeoModel;
import io.gptneo.model.Linear;
import io.gptneo.model.ScoreHead;
import io.gptneo.tensor.Seeds;
import io.gptneo.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A model with LoRA adapters injected into its targeted {@link Linear}s. Base weights stay frozen (no gradient
 * buffers); the trainable set is every lora_A/lora_B plus the {@code modules_to_save} tensors (the score head).
 * Names follow PEFT's saved state dict: {@code base_model.model.<module path>.lora_A.weight},
 * {@code base_model.model.score.weight}.
 */
public final class LoraModel {
    /** Prefix PEFT puts before every module path of the wrapped model. */
    public static final String PEFT_PREFIX = "base_model.model.";

    private final LoraConfig config;
    private final List<LoraLinear> adapters; // in model order (layer number, then name)
    private final Map<String, Tensor> modulesToSave; // HF param name (e.g. score.weight) -> trainable tensor
    private final long baseParamCount;

    private LoraModel(
            LoraConfig config, List<LoraLinear> adapters, Map<String, Tensor> modulesToSave, long baseParamCount) {
        this.config = config;
        this.adapters = List.copyOf(adapters);
        this.modulesToSave = Collections.unmodifiableMap(new LinkedHashMap<>(modulesToSave));
        this.baseParamCount = baseParamCount;
    }

    /**
     * Injects adapters into a cost model. A {@code "score"} entry of {@code cfg.modulesToSave()} makes the score head
     * trainable (a leaf over its current data) and part of the trainable set; other modules to save are rejected.
     * Base weights are left as they are (frozen unless the caller made them trainable).
     */
    public static LoraModel inject(CostModel model, LoraConfig cfg, long seed) {
        Map<String, Tensor> save = new LinkedHashMap<>();
        for (String m : cfg.modulesToSave()) {
            if (!m.equals("score"))
                throw new IllegalArgumentException("modules_to_save entry '" + m + "' is not supported (only 'score')");
            ScoreHead head = model.head();
            head.setTrainable(true);
            save.put("score.weight", head.weight());
        }
        return inject(model.model().linears(), model.parameters(), save, cfg, seed);
    }

    /** Injects adapters into a bare GPT-Neo (causal LM); there is no score head, so modules to save are ignored. */
    public static LoraModel inject(GptNeoModel model, LoraConfig cfg, long seed) {
        return inject(model.linears(), model.parameters(), Map.of(), cfg, seed);
    }

    /**
     * Core injection over a model's parts.
     *
     * @param linears       every Linear of the model by HF module path; those {@code cfg} targets get an adapter
     * @param baseParams    all base parameters by HF name (counted in "all params"; includes the score head)
     * @param modulesToSave trainable full tensors by HF name (e.g. {@code score.weight}); each must require grad
     * @param seed          init seed; adapter i draws A from a seed mixed from (seed, i)
     */
    public static LoraModel inject(
            Map<String, Linear> linears,
            Map<String, Tensor> baseParams,
            Map<String, Tensor> modulesToSave,
            LoraConfig cfg,
            long seed) {
        List<String> names = new ArrayList<>(linears.keySet());
        names.sort(NATURAL);
        List<LoraLinear> adapters = new ArrayList<>();
        for (String name : names) {
            if (!cfg.targets(name)) continue;
            Linear lin = linears.get(name);
            if (lin.adapter() != null) throw new IllegalStateException(name + " already has an adapter");
            int i = adapters.size();
            adapters.add(new LoraLinear(lin, i, cfg, mix(seed, i)));
        }
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException(
                    "LoRA target modules " + cfg.targetModules() + " match none of the model's linear layers "
                            + names.stream()
                                    .map(n -> n.substring(n.lastIndexOf('.') + 1))
                                    .distinct()
                                    .toList());
        }
        for (var e : modulesToSave.entrySet()) {
            if (!e.getValue().requiresGrad())
                throw new IllegalArgumentException("module to save " + e.getKey() + " is not trainable");
        }
        long count = 0;
        for (Tensor t : baseParams.values()) count += t.data().length();
        return new LoraModel(cfg, adapters, modulesToSave, count);
    }

    static long mix(long seed, long i) {
        return Seeds.stream(seed, i);
    }

    /** Compares dotted paths segment by segment, numeric segments numerically (h.2 before h.10). */
    static final Comparator<String> NATURAL = (x, y) -> {
        String[] a = x.split("\\."), b = y.split("\\.");
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            boolean na = a[i].matches("\\d+"), nb = b[i].matches("\\d+");
            int c = na && nb ? Long.compare(Long.parseLong(a[i]), Long.parseLong(b[i])) : a[i].compareTo(b[i]);
            if (c != 0) return c;
        }
        return Integer.compare(a.length, b.length);
    };

    public LoraConfig config() {
        return config;
    }

    public List<LoraLinear> adapters() {
        return adapters;
    }

    /** Adapter by HF module path, or null. */
    public LoraLinear adapter(String modulePath) {
        for (LoraLinear l : adapters) if (l.base().name().equals(modulePath)) return l;
        return null;
    }

    /** Trainable tensors by PEFT saved name: every lora_A, lora_B (model order), then the modules to save. */
    public Map<String, Tensor> namedTrainable() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (LoraLinear l : adapters) {
            m.put(PEFT_PREFIX + l.base().name() + ".lora_A.weight", l.loraA());
            m.put(PEFT_PREFIX + l.base().name() + ".lora_B.weight", l.loraB());
        }
        for (var e : modulesToSave.entrySet()) m.put(PEFT_PREFIX + e.getKey(), e.getValue());
        return m;
    }

    public List<Tensor> trainableParameters() {
        return List.copyOf(namedTrainable().values());
    }

    /** Modules to save by HF parameter name (e.g. {@code score.weight}). */
    public Map<String, Tensor> modulesToSave() {
        return modulesToSave;
    }

    public long trainableParamCount() {
        long n = 0;
        for (Tensor t : namedTrainable().values()) n += t.data().length();
        return n;
    }

    /** Base parameters (score head included once) plus the LoRA matrices. */
    public long allParamCount() {
        long n = baseParamCount;
        for (LoraLinear l : adapters)
            n += l.loraA().data().length() + l.loraB().data().length();
        return n;
    }

    /**
     * PEFT's {@code print_trainable_parameters()} line: {@code trainable params: 4,640 || all params: 1,664,000 ||
     * trainable%: 0.2788}. Unlike PEFT, a module to save is counted once in "all params" (PEFT also counts the frozen
     * original copy it keeps beside the trainable one; we keep no copy).
     */
    public String trainableSummary() {
        long t = trainableParamCount(), all = allParamCount();
        return String.format(
                Locale.ROOT, "trainable params: %,d || all params: %,d || trainable%%: %.4f", t, all, 100.0 * t / all);
    }

    /** Folds every adapter into its weight (W += B·A·scaling); forward then runs on W alone. */
    public void merge() {
        for (LoraLinear l : adapters) l.merge();
    }

    /** Undoes {@link #merge()} (W −= B·A·scaling). */
    public void unmerge() {
        for (LoraLinear l : adapters) l.unmerge();
    }

    public boolean isMerged() {
        return !adapters.isEmpty() && adapters.get(0).isMerged();
    }

    /** Seed for this step's dropout masks; each adapter mixes it with its own index. Set it once per forward. */
    public void setStepSeed(long seed) {
        for (LoraLinear l : adapters) l.setStepSeed(seed);
    }

    /** Training enables LoRA dropout; evaluation disables it. */
    public void setTraining(boolean on) {
        for (LoraLinear l : adapters) l.setTraining(on);
    }

    /** Removes every adapter from its Linear (unmerging first), restoring the base model. */
    public void eject() {
        for (LoraLinear l : adapters) {
            l.unmerge();
            l.base().setAdapter(null);
        }
    }
}
