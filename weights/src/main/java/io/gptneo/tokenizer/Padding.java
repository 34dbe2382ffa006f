package io.gptneo.tokenizer;

/** Side on which {@link Gpt2Tokenizer#encodeBatch} pads shorter sequences. */
public enum Padding {
    /** Pads after the text (training, scoring: the last real token is at {@code length - 1}). */
    RIGHT,
    /** Pads before the text (batched generation: every row ends at the last column). */
    LEFT
}
