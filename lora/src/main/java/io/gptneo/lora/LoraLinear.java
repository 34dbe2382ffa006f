package io.gptneo.lora;

import io.gptneo.model.Linear;
import io.gptneo.model.LinearAdapter;
import io.gptneo.tensor.LowRank;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Seeds;
import io.gptneo.tensor.Tensor;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * LoRA side path of one frozen {@link Linear}: {@code delta(x) = (dropout(x) Aᵀ) Bᵀ · scaling} with A [r, in] and
 * B [out, r] (PEFT {@code lora_A.weight} / {@code lora_B.weight}). Dropout is active only in training and draws its
 * mask from {@code mix(stepSeed, index)}, so a checkpointed block recomputed in backward sees the same mask.
 */
public final class LoraLinear implements LinearAdapter {
    private final Linear base;
    private final int index; // position among the model's adapters: part of the dropout seed
    private final Tensor a; // [r, in]
    private final Tensor b; // [out, r]
    private final double scaling;
    private final double dropout;
    private boolean training = true;
    private long stepSeed;
    private boolean merged;

    /** Wraps {@code base} (and installs itself as its adapter); A drawn from {@code seed} per {@code cfg.init()}, B = 0. */
    public LoraLinear(Linear base, int index, LoraConfig cfg, long seed) {
        this.base = base;
        this.index = index;
        DataType dt = base.weight().dtype() == DataType.BFLOAT16
                ? DataType.FLOAT
                : base.weight().dtype(); // bf16 base: fp32 adapters
        long in = base.inFeatures(), out = base.outFeatures();
        int r = cfg.r();
        INDArray a0 =
                switch (cfg.init()) {
                    case KAIMING_UNIFORM -> {
                        double bound = 1.0 / Math.sqrt(in); // kaiming_uniform_(a=√5): √3·√(1/3)/√fan_in, fan_in = in
                        yield Rand.uniform(dt, seed, -bound, bound, r, in);
                    }
                    case GAUSSIAN -> Rand.normal(dt, seed, 1.0 / r, r, in);
                };
        this.a = Tensor.parameter(a0).named(base.name() + ".lora_A.weight");
        this.b = Tensor.parameter(Nd4j.zeros(dt, out, r)).named(base.name() + ".lora_B.weight");
        this.scaling = cfg.scaling();
        this.dropout = cfg.dropout();
        base.setAdapter(this);
    }

    @Override
    public Tensor delta(Tensor x) {
        if (merged) throw new IllegalStateException(base.name() + ": adapter is merged into the weight; unmerge first");
        Tensor in = training && dropout > 0 ? Ops.dropout(x, dropout, dropoutSeed()) : x;
        Tensor h = Ops.linear(in, a, null); // [..., r]
        return Ops.scale(Ops.linear(h, b, null), scaling); // [..., out]
    }

    /** The base layer plus this side path as one fused operation ({@link Ops#loraLinear}), same values as the composition. */
    @Override
    public Tensor forward(Tensor x, Tensor weight, Tensor bias) {
        if (merged) throw new IllegalStateException(base.name() + ": adapter is merged into the weight; unmerge first");
        return Ops.loraLinear(x, weight, bias, a, b, scaling, training ? dropout : 0, dropoutSeed());
    }

    /** The side path for a fused product ({@link Ops#linearSplit}): same values and mask as {@link #forward}. */
    @Override
    public LowRank lowRank() {
        if (merged) throw new IllegalStateException(base.name() + ": adapter is merged into the weight; unmerge first");
        return new LowRank(a, b, scaling, training ? dropout : 0, dropoutSeed());
    }

    /** Dropout in training: the mask is drawn over the whole input, so a subset of rows alone gives other masks. */
    @Override
    public boolean stochastic() {
        return training && dropout > 0;
    }

    /** Seed of this adapter's dropout mask: a pure function of (step seed, adapter index), never of a call count. */
    long dropoutSeed() {
        return Seeds.mix(stepSeed, index + 1, 0);
    }

    @Override
    public List<Tensor> parameters() {
        return List.of(a, b);
    }

    public Linear base() {
        return base;
    }

    /** lora_A.weight [r, in]. */
    public Tensor loraA() {
        return a;
    }

    /** lora_B.weight [out, r]. */
    public Tensor loraB() {
        return b;
    }

    public double scaling() {
        return scaling;
    }

    public double dropout() {
        return dropout;
    }

    public int index() {
        return index;
    }

    public boolean isMerged() {
        return merged;
    }

    public void setTraining(boolean on) {
        training = on;
    }

    public boolean isTraining() {
        return training;
    }

    public void setStepSeed(long seed) {
        stepSeed = seed;
    }

    /** ΔW = B·A·scaling [out, in], in the weight's dtype. */
    public INDArray deltaWeight() {
        return b.data().mmul(a.data()).muli(scaling);
    }

    /** W ← W + B·A·scaling and detach from the forward (the delta now lives in W). Idempotent. */
    public void merge() {
        if (merged) return;
        Tensor w = base.weight();
        if (w.dtype() == DataType.BFLOAT16)
            throw new IllegalStateException(
                    base.name() + ": cannot merge into bf16 base weights (load the base in fp32 to merge)");
        w.setData(w.data().add(deltaWeight())); // new array: the base buffer may be shared or memory-mapped
        base.setAdapter(null);
        merged = true;
    }

    /** W ← W − B·A·scaling and reattach. Idempotent. */
    public void unmerge() {
        if (!merged) return;
        Tensor w = base.weight();
        w.setData(w.data().sub(deltaWeight()));
        base.setAdapter(this);
        merged = false;
    }
}
