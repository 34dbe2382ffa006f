package io.gptneo.model;

import io.gptneo.tensor.LowRank;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import java.util.List;

/**
 * A trainable side path added to a frozen {@link Linear}: {@code y = W x + b + delta(x)}. LoRA implements it
 * (module lora); the model knows nothing else about adapters.
 */
public interface LinearAdapter {
    /** The additive term for input {@code x [..., in]}; returns {@code [..., out]}. */
    Tensor delta(Tensor x);

    /**
     * The adapted layer's whole output {@code x Wᵀ + b + delta(x)}. This default composes the two; an adapter may
     * compute it as one fused operation with the same values and gradients.
     */
    default Tensor forward(Tensor x, Tensor weight, Tensor bias) {
        return Ops.add(Ops.linear(x, weight, bias), delta(x));
    }

    /**
     * Whether the output at a position depends on more than that position's input (LoRA dropout in training draws
     * its mask over the whole input), so it cannot be computed on a subset of rows alone.
     */
    default boolean stochastic() {
        return false;
    }

    /**
     * This adapter as a LoRA side path that a fused product can take ({@link Ops#linearSplit}: q, k and v of
     * {@link Attention} in one product), or null when it is not one (the layer then runs on its own).
     */
    default LowRank lowRank() {
        return null;
    }

    /** The adapter's trainable tensors. */
    List<Tensor> parameters();
}
