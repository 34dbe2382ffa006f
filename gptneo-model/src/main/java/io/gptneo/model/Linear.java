package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import java.util.Arrays;

/**
 * A HuggingFace {@code nn.Linear}: weight {@code [out, in]}, optional bias {@code [out]}, {@code y = x W^T + b},
 * plus an optional {@link LinearAdapter} (LoRA) whose output is added.
 */
public final class Linear {
    private final String name;
    private Tensor weight;
    private Tensor bias;
    private LinearAdapter adapter;

    public Linear(String name, Tensor weight, Tensor bias) {
        if (weight.rank() != 2)
            throw new IllegalArgumentException(
                    name + ": weight must be [out, in], got " + Arrays.toString(weight.shape()));
        this.name = name;
        this.weight = weight.named(name + ".weight");
        this.bias = bias == null ? null : bias.named(name + ".bias");
    }

    /** {@code x [..., in] -> [..., out]}. */
    public Tensor forward(Tensor x) {
        return adapter == null ? Ops.linear(x, weight, bias) : adapter.forward(x, weight, bias);
    }

    /**
     * {@code r + forward(x)}, r of the output's shape (a residual stream): without an adapter the sum is part of the
     * product where it can be ({@link Ops#linearAdd}).
     */
    public Tensor forwardAdd(Tensor x, Tensor r) {
        return adapter == null ? Ops.linearAdd(x, weight, bias, r) : Ops.add(r, adapter.forward(x, weight, bias));
    }

    /** HF module path, e.g. {@code transformer.h.0.attn.attention.q_proj}. */
    public String name() {
        return name;
    }

    public Tensor weight() {
        return weight;
    }

    public Tensor bias() {
        return bias;
    }

    public long inFeatures() {
        return weight.size(1);
    }

    public long outFeatures() {
        return weight.size(0);
    }

    public LinearAdapter adapter() {
        return adapter;
    }

    public void setAdapter(LinearAdapter adapter) {
        this.adapter = adapter;
    }

    /** Replaces the weight tensor (e.g. to make it trainable for full fine-tuning); shape must match. */
    public void setWeight(Tensor w) {
        if (!Arrays.equals(w.shape(), weight.shape())) {
            throw new IllegalArgumentException(
                    name + ": weight shape " + Arrays.toString(w.shape()) + " != " + Arrays.toString(weight.shape()));
        }
        this.weight = w.named(name + ".weight");
    }

    /** Replaces the bias tensor (full fine-tuning makes it trainable); shape must match, and a bias-free Linear stays so. */
    public void setBias(Tensor b) {
        if (bias == null || b == null) {
            if (bias != b) throw new IllegalArgumentException(name + ": cannot add or remove a bias");
            return;
        }
        if (!Arrays.equals(b.shape(), bias.shape())) {
            throw new IllegalArgumentException(
                    name + ": bias shape " + Arrays.toString(b.shape()) + " != " + Arrays.toString(bias.shape()));
        }
        this.bias = b.named(name + ".bias");
    }
}
