package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import java.util.Map;

/** {@code nn.LayerNorm(H, eps)} over the last dim: weight and bias [H]. */
final class LayerNorm {
    private final String name;
    private Tensor weight;
    private Tensor bias;
    private final double eps;

    LayerNorm(String name, Tensor weight, Tensor bias, double eps) {
        this.name = name;
        this.weight = weight.named(name + ".weight");
        this.bias = bias.named(name + ".bias");
        this.eps = eps;
    }

    /** {@code x [..., H] -> [..., H]}. */
    Tensor forward(Tensor x) {
        return Ops.layerNorm(x, weight, bias, eps);
    }

    void collect(Map<String, Tensor> out) {
        out.put(name + ".weight", weight);
        out.put(name + ".bias", bias);
    }

    void setTrainable(boolean on) {
        weight = Params.leaf(weight, on);
        bias = Params.leaf(bias, on);
    }
}
