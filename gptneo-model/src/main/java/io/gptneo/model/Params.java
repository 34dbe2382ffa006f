package io.gptneo.model;

import io.gptneo.tensor.Tensor;

/** Helpers for the model's parameter tensors. */
final class Params {
    private Params() {}

    /** A leaf over the same data (no copy) that is trainable or frozen; keeps the name. */
    static Tensor leaf(Tensor t, boolean trainable) {
        if (t == null) return null;
        return Tensor.of(t.data(), trainable).named(t.name());
    }

    static Tensor frozen(org.nd4j.linalg.api.ndarray.INDArray a, String name) {
        return Tensor.constant(a).named(name);
    }
}
