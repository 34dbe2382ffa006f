package io.gptneo.tensor;

/**
 * A LoRA side path {@code s · (dropout(x) Aᵀ) Bᵀ} as the data a fused product needs: A {@code [r, in]}, B
 * {@code [out, r]}, scaling s, dropout p (0: none) and the seed its mask is drawn from ({@link DropoutMask}, as
 * {@link Ops#dropout} draws it).
 *
 * @param maskRows null: the mask is drawn over the product's own input rows. Else the input is those rows of a larger
 *     one, and each row takes that row's part of the mask drawn over the larger input ({@link #atRows})
 */
public record LowRank(Tensor a, Tensor b, double scaling, double dropout, long seed, int[] maskRows) {

    public LowRank(Tensor a, Tensor b, double scaling, double dropout, long seed) {
        this(a, b, scaling, dropout, seed, null);
    }

    /**
     * This side path on rows {@code rows} of the input it was made for: the same dropout, element for element, as it
     * draws over the whole input, so that a product over the gathered rows equals those rows of the whole product.
     */
    public LowRank atRows(int[] rows) {
        if (maskRows != null) throw new IllegalStateException("LowRank.atRows: already at selected rows");
        return new LowRank(a, b, scaling, dropout, seed, rows.clone());
    }
}
