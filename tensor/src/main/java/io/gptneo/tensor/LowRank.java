package io.gptneo.tensor;

/**
 * A LoRA side path {@code s · (dropout(x) Aᵀ) Bᵀ} as the data a fused product needs: A {@code [r, in]}, B
 * {@code [out, r]}, scaling s, dropout p (0: none) and the seed its mask is drawn from ({@link DropoutMask}, as
 * {@link Ops#dropout} draws it).
 */
public record LowRank(Tensor a, Tensor b, double scaling, double dropout, long seed) {}
