package io.gptneo.lora;

import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * LoRA hyperparameters with PEFT meanings.
 *
 * @param r             rank (A is [r, in], B is [out, r])
 * @param alpha         {@code lora_alpha}; scaling = alpha/r, or alpha/√r with {@code useRsLora}
 * @param dropout       dropout on the adapter input x (training only), in [0, 1)
 * @param targetModules module names matched as PEFT does: one entry that is a regex (see {@link #regexTarget}) must
 *                      fully match the module path; otherwise each entry matches a path equal to it or ending in
 *                      {@code "." + entry} (e.g. {@code q_proj})
 * @param useRsLora     rank-stabilised scaling alpha/√r
 * @param init          initialisation of A (B is always zeros)
 * @param modulesToSave extra modules trained and saved in full (PEFT {@code modules_to_save}), e.g. {@code score}
 */
public record LoraConfig(
        int r,
        double alpha,
        double dropout,
        List<String> targetModules,
        boolean useRsLora,
        Init init,
        List<String> modulesToSave) {

    /** How lora_A is initialised; lora_B starts at zero in both, so an injected model equals its base. */
    public enum Init {
        /** PEFT default: kaiming_uniform_(a=√5) on A [r, in], i.e. uniform(±1/√in) (gain √(2/(1+a²)) = √(1/3)). */
        KAIMING_UNIFORM,
        /** PEFT {@code init_lora_weights="gaussian"}: A ~ normal(0, 1/r). */
        GAUSSIAN
    }

    /** Any of the GPT-Neo linear layers LoRA may target. */
    public static final List<String> GPT_NEO_LINEARS =
            List.of("q_proj", "k_proj", "v_proj", "out_proj", "c_fc", "c_proj");

    public LoraConfig {
        if (r <= 0) throw new IllegalArgumentException("LoRA r must be > 0, got " + r);
        if (!(alpha > 0) || Double.isInfinite(alpha))
            throw new IllegalArgumentException("LoRA alpha must be > 0, got " + alpha);
        if (!(dropout >= 0 && dropout < 1))
            throw new IllegalArgumentException("LoRA dropout must be in [0, 1), got " + dropout);
        Objects.requireNonNull(targetModules, "targetModules");
        if (targetModules.isEmpty()) throw new IllegalArgumentException("LoRA targetModules is empty");
        targetModules = List.copyOf(targetModules);
        init = init == null ? Init.KAIMING_UNIFORM : init;
        modulesToSave = modulesToSave == null ? List.of() : List.copyOf(modulesToSave);
        if (regexTarget(targetModules) != null) Pattern.compile(targetModules.get(0)); // fail early on a bad regex
    }

    /** PEFT defaults for this project: r=8, alpha=16, dropout 0.05 on q_proj and v_proj, score head saved. */
    public static LoraConfig defaults() {
        return new LoraConfig(8, 16, 0.05, List.of("q_proj", "v_proj"), false, Init.KAIMING_UNIFORM, List.of("score"));
    }

    /** Shorthand: given rank/alpha/dropout/targets, alpha/r scaling, kaiming init, score head saved. */
    public static LoraConfig of(int r, double alpha, double dropout, List<String> targets) {
        return new LoraConfig(r, alpha, dropout, targets, false, Init.KAIMING_UNIFORM, List.of("score"));
    }

    public LoraConfig withRsLora(boolean on) {
        return new LoraConfig(r, alpha, dropout, targetModules, on, init, modulesToSave);
    }

    public LoraConfig withInit(Init i) {
        return new LoraConfig(r, alpha, dropout, targetModules, useRsLora, i, modulesToSave);
    }

    public LoraConfig withDropout(double p) {
        return new LoraConfig(r, alpha, p, targetModules, useRsLora, init, modulesToSave);
    }

    /** alpha/r, or alpha/√r with rsLoRA. */
    public double scaling() {
        return useRsLora ? alpha / Math.sqrt(r) : alpha / r;
    }

    /** Whether the module at HF path {@code name} (e.g. {@code transformer.h.0.attn.attention.q_proj}) is targeted. */
    public boolean targets(String name) {
        String regex = regexTarget(targetModules);
        if (regex != null) return Pattern.compile(regex).matcher(name).matches();
        for (String t : targetModules) if (name.equals(t) || name.endsWith("." + t)) return true;
        return false;
    }

    /**
     * The regex when {@code targets} is a single pattern (PEFT stores a regex as a plain string, a list otherwise);
     * a single entry counts as a regex only if it holds a regex metacharacter, so {@code ["q_proj"]} stays a name.
     */
    static String regexTarget(List<String> targets) {
        if (targets.size() != 1) return null;
        String t = targets.get(0);
        for (char c : t.toCharArray()) if ("\\^$.|?*+()[]{}".indexOf(c) >= 0) return t;
        return null;
    }

    /** Whether targetModules is a regex (saved as a JSON string rather than a list). */
    public boolean targetIsRegex() {
        return regexTarget(targetModules) != null;
    }
}
