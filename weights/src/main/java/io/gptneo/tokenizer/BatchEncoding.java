package io.gptneo.tokenizer;

/**
 * A padded batch: {@code ids[b]} and {@code attentionMask[b]} have the same length for every row b (the longest
 * sequence after truncation); the mask is 1 on real tokens and 0 on pads. {@code lengths[b]} is the number of real
 * tokens of row b.
 */
public record BatchEncoding(int[][] ids, int[][] attentionMask, int[] lengths) {
    public int batchSize() {
        return ids.length;
    }

    /** Width of every row. */
    public int sequenceLength() {
        return ids.length == 0 ? 0 : ids[0].length;
    }
}
