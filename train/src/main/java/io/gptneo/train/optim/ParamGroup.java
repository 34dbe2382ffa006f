package io.gptneo.train.optim;

import io.gptneo.tensor.Tensor;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Parameters sharing one weight decay, by unique name (names key the optimizer state).
 *
 * @param name        group label (for logs)
 * @param params      trainable tensors by name, in a stable order
 * @param weightDecay decoupled weight-decay coefficient
 */
public record ParamGroup(String name, Map<String, Tensor> params, double weightDecay) {
    /** LayerNorm parameter names of GPT-Neo ({@code ln_1}, {@code ln_2}, {@code ln_f}) and common spellings. */
    private static final Pattern NORM = Pattern.compile(
            "(^|.*\\.)(ln_[^.]*|[^.]*layer_?norm[^.]*|[^.]*_norm|norm)\\.weight$", Pattern.CASE_INSENSITIVE);

    public ParamGroup {
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight decay must be >= 0, got " + weightDecay);
        for (var e : params.entrySet()) {
            if (!e.getValue().requiresGrad())
                throw new IllegalArgumentException("parameter " + e.getKey() + " does not require grad");
        }
        params = Collections.unmodifiableMap(new LinkedHashMap<>(params));
    }

    /** One group with every parameter decayed (e.g. all LoRA matrices and the score head, as PEFT training does). */
    public static List<ParamGroup> single(Map<String, Tensor> params, double weightDecay) {
        return List.of(new ParamGroup("all", params, weightDecay));
    }

    /**
     * HF Trainer grouping for full training: biases and LayerNorm weights get no decay, everything else
     * {@code weightDecay}. Empty groups are left out.
     */
    public static List<ParamGroup> decayAndNoDecay(Map<String, Tensor> params, double weightDecay) {
        Map<String, Tensor> decay = new LinkedHashMap<>(), none = new LinkedHashMap<>();
        params.forEach((k, v) -> (isNoDecay(k) ? none : decay).put(k, v));
        if (decay.isEmpty()) return List.of(new ParamGroup("no_decay", none, 0));
        if (none.isEmpty()) return List.of(new ParamGroup("decay", decay, weightDecay));
        return List.of(new ParamGroup("decay", decay, weightDecay), new ParamGroup("no_decay", none, 0));
    }

    /** True for biases ({@code *.bias}) and LayerNorm weights ({@code *.ln_1.weight}, {@code *.ln_f.weight}, ...). */
    public static boolean isNoDecay(String name) {
        return name.endsWith("bias") || NORM.matcher(name).matches();
    }
}
