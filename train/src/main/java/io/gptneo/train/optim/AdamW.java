package io.gptneo.train.optim;

import io.gptneo.tensor.JavaArrays;
import io.gptneo.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * AdamW with decoupled weight decay. Moments live in each parameter's dtype; each parameter has its own step count
 * (a parameter without a gradient is skipped and its count does not advance, as in torch).
 *
 * <p>With m ← β1·m + (1−β1)·g, v ← β2·v + (1−β2)·g², t the parameter's step:
 * <ul>
 *   <li>{@link Variant#TORCH} ({@code torch.optim.AdamW}): p ← p·(1 − lr·wd); then
 *       p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + ε).</li>
 *   <li>{@link Variant#HF} (the older {@code transformers.AdamW}, {@code adamw_hf}, correct_bias=True):
 *       p ← p − lr·√(1−β2^t)/(1−β1^t) · m / (√v + ε); then p ← p − lr·wd·p (decay after the update, on the
 *       updated p). ε thus enters before bias correction.</li>
 * </ul>
 */
public final class AdamW {
    public enum Variant {
        TORCH,
        HF
    }

    private final List<ParamGroup> groups;
    private final double beta1, beta2, eps;
    private final Variant variant;
    private final int javaMax;
    private final Map<String, Tensor> byName = new LinkedHashMap<>();
    private final Map<String, INDArray> expAvg = new HashMap<>();
    private final Map<String, INDArray> expAvgSq = new HashMap<>();
    private final Map<String, Long> paramSteps = new HashMap<>();
    private long steps;

    public AdamW(List<ParamGroup> groups, double beta1, double beta2, double eps, Variant variant) {
        this(groups, beta1, beta2, eps, variant, JAVA_MAX);
    }

    /** @param javaMax parameters up to this many elements take the Java loop, larger ones ND4J ({@link #JAVA_MAX} by default) */
    public AdamW(List<ParamGroup> groups, double beta1, double beta2, double eps, Variant variant, int javaMax) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
            throw new IllegalArgumentException("betas must be in [0, 1): " + beta1 + ", " + beta2);
        if (!(eps >= 0)) throw new IllegalArgumentException("eps must be >= 0, got " + eps);
        this.groups = List.copyOf(groups);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.variant = variant;
        this.javaMax = javaMax;
        for (ParamGroup g : groups) {
            g.params().forEach((k, v) -> {
                if (byName.put(k, v) != null)
                    throw new IllegalArgumentException("parameter " + k + " is in two groups");
            });
        }
    }

    /** torch defaults: betas (0.9, 0.999), eps 1e-8. */
    public static AdamW torch(List<ParamGroup> groups) {
        return new AdamW(groups, 0.9, 0.999, 1e-8, Variant.TORCH);
    }

    /** adamw_hf with HF Trainer defaults: betas (0.9, 0.999), eps 1e-8. */
    public static AdamW hf(List<ParamGroup> groups) {
        return new AdamW(groups, 0.9, 0.999, 1e-8, Variant.HF);
    }

    public List<ParamGroup> groups() {
        return groups;
    }

    public Variant variant() {
        return variant;
    }

    /** Every parameter, in group order. */
    public List<Tensor> parameters() {
        return new ArrayList<>(byName.values());
    }

    /** Optimizer steps taken (calls of {@link #step}). */
    public long stepCount() {
        return steps;
    }

    /** One update of every parameter that has a gradient, at rate {@code lr} (the schedule's value for this step). */
    public void step(double lr) {
        for (ParamGroup g : groups) {
            double wd = g.weightDecay();
            for (var e : g.params().entrySet()) {
                Tensor p = e.getValue();
                INDArray grad = p.grad();
                if (grad == null) continue;
                String name = e.getKey();
                INDArray w = p.data();
                DataType dt = w.dataType();
                INDArray gr = grad.dataType() == dt ? grad : grad.castTo(dt);
                INDArray m = expAvg.computeIfAbsent(name, k -> Nd4j.zeros(dt, w.shape()));
                INDArray v = expAvgSq.computeIfAbsent(name, k -> Nd4j.zeros(dt, w.shape()));
                long t = paramSteps.merge(name, 1L, Long::sum);
                if (w.length() <= javaMax) {
                    p.setData(stepInJava(name, w, gr, m, v, lr, wd, t));
                    continue;
                }
                m.muli(beta1).addi(gr.mul(1 - beta1));
                v.muli(beta2).addi(gr.mul(gr).muli(1 - beta2));
                double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t);
                INDArray next;
                if (variant == Variant.TORCH) {
                    INDArray denom =
                            Transforms.sqrt(v, true).divi(Math.sqrt(bc2)).addi(eps);
                    next = w.mul(1 - lr * wd).subi(m.div(denom).muli(lr / bc1));
                } else {
                    INDArray denom = Transforms.sqrt(v, true).addi(eps);
                    next = w.sub(m.div(denom).muli(lr * Math.sqrt(bc2) / bc1));
                    if (wd > 0) next.muli(1 - lr * wd);
                }
                p.setData(next); // a new array: the old one may be shared with a loaded checkpoint
            }
        }
        steps++;
    }

    /**
     * Parameters up to this many elements are updated by one Java loop instead of ~13 ND4J operations: a LoRA step
     * has dozens of small matrices, where the per-operation overhead, not the arithmetic, was the optimizer's cost.
     * Both paths compute the same formulas; the Java one in double per element (float parameters are rounded once at
     * the end), so results agree to float rounding. Larger tensors (full fine-tuning's embeddings) stay on ND4J.
     */
    public static final int JAVA_MAX = 1 << 20;

    /** One AdamW update of w (returned as a new array) with m, v updated in place; see the class formulas. */
    private INDArray stepInJava(
            String name, INDArray w, INDArray g, INDArray m, INDArray v, double lr, double wd, long t) {
        if (!JavaArrays.exactCOrder(m)) expAvg.put(name, m = m.dup('c'));
        if (!JavaArrays.exactCOrder(v)) expAvgSq.put(name, v = v.dup('c'));
        double bc1 = 1 - Math.pow(beta1, t), bc2 = 1 - Math.pow(beta2, t), sbc2 = Math.sqrt(bc2);
        boolean torch = variant == Variant.TORCH;
        int n = (int) w.length();
        if (w.dataType() == DataType.DOUBLE) {
            double[] wa = JavaArrays.doubles(w),
                    ga = JavaArrays.doubles(g),
                    ma = JavaArrays.doubles(m),
                    va = JavaArrays.doubles(v);
            for (int i = 0; i < n; i++) {
                ma[i] = beta1 * ma[i] + (1 - beta1) * ga[i];
                va[i] = beta2 * va[i] + (1 - beta2) * ga[i] * ga[i];
                wa[i] = updated(wa[i], ma[i], va[i], lr, wd, bc1, sbc2, torch);
            }
            JavaArrays.put(ma, m);
            JavaArrays.put(va, v);
            return JavaArrays.array(wa, w.shape());
        }
        float[] wa = JavaArrays.floats(w),
                ga = JavaArrays.floats(g),
                ma = JavaArrays.floats(m),
                va = JavaArrays.floats(v);
        for (int i = 0; i < n; i++) {
            double gi = ga[i];
            ma[i] = (float) (beta1 * ma[i] + (1 - beta1) * gi);
            va[i] = (float) (beta2 * va[i] + (1 - beta2) * gi * gi);
            wa[i] = (float) updated(wa[i], ma[i], va[i], lr, wd, bc1, sbc2, torch);
        }
        JavaArrays.put(ma, m);
        JavaArrays.put(va, v);
        return JavaArrays.array(wa, w.shape());
    }

    /** The new value of one weight (decoupled decay before the step for torch, after it for HF). */
    private double updated(double w, double m, double v, double lr, double wd, double bc1, double sbc2, boolean torch) {
        if (torch) return w * (1 - lr * wd) - (lr / bc1) * m / (Math.sqrt(v) / sbc2 + eps);
        double next = w - (lr * sbc2 / bc1) * m / (Math.sqrt(v) + eps);
        return wd > 0 ? next * (1 - lr * wd) : next;
    }

    /** Clears every parameter's gradient. */
    public void zeroGrad() {
        for (Tensor p : byName.values()) p.zeroGrad();
    }

    /**
     * The state for a checkpoint: {@code step} (I64 scalar), and per parameter {@code <name>.exp_avg},
     * {@code <name>.exp_avg_sq}, {@code <name>.step} (parameters that never had a gradient are absent).
     */
    public Map<String, INDArray> state() {
        Map<String, INDArray> s = new LinkedHashMap<>();
        s.put("step", Nd4j.scalar(DataType.LONG, steps));
        for (String name : byName.keySet()) {
            if (!expAvg.containsKey(name)) continue;
            s.put(name + ".exp_avg", expAvg.get(name).dup());
            s.put(name + ".exp_avg_sq", expAvgSq.get(name).dup());
            s.put(name + ".step", Nd4j.scalar(DataType.LONG, paramSteps.get(name)));
        }
        return s;
    }

    /** Restores {@link #state()} output; moments are cast to each parameter's dtype and shapes are checked. */
    public void load(Map<String, INDArray> state) {
        INDArray st = state.get("step");
        if (st == null) throw new IllegalArgumentException("optimizer state has no 'step' entry");
        Map<String, INDArray> m = new HashMap<>(), v = new HashMap<>();
        Map<String, Long> ps = new HashMap<>();
        for (var e : state.entrySet()) {
            String k = e.getKey();
            if (k.equals("step")) continue;
            int dot = k.lastIndexOf('.');
            String name = dot < 0 ? k : k.substring(0, dot), field = dot < 0 ? "" : k.substring(dot + 1);
            Tensor p = byName.get(name);
            if (p == null)
                throw new IllegalArgumentException(
                        "optimizer state entry " + k + " names no parameter of this optimizer");
            switch (field) {
                case "exp_avg", "exp_avg_sq" -> {
                    INDArray a = e.getValue();
                    if (!Arrays.equals(a.shape(), p.shape())) {
                        throw new IllegalArgumentException("optimizer state " + k + " has shape "
                                + Arrays.toString(a.shape()) + ", parameter is " + Arrays.toString(p.shape()));
                    }
                    (field.equals("exp_avg") ? m : v)
                            .put(name, a.castTo(p.dtype()).dup());
                }
                case "step" -> ps.put(name, e.getValue().getLong(0));
                default -> throw new IllegalArgumentException("unknown optimizer state entry " + k);
            }
        }
        for (String name : ps.keySet()) {
            if (!m.containsKey(name) || !v.containsKey(name))
                throw new IllegalArgumentException("optimizer state for " + name + " is incomplete");
        }
        if (m.size() != ps.size() || v.size() != ps.size())
            throw new IllegalArgumentException("optimizer state has moments without step counts");
        expAvg.clear();
        expAvg.putAll(m);
        expAvgSq.clear();
        expAvgSq.putAll(v);
        paramSteps.clear();
        paramSteps.putAll(ps);
        steps = st.getLong(0);
    }
}
