package io.gptneo.train;

import io.gptneo.tokenizer.Gpt2Tokenizer;
import java.util.Arrays;
import java.util.List;

/**
 * Cost-model input as Safe-RLHF builds it: {@code BEGINNING OF CONVERSATION: USER: {prompt} ASSISTANT:{response}}
 * (no space after {@code ASSISTANT:}), tokenized, EOS appended. Batches are right-padded with the EOS id and
 * attention mask 0.
 *
 * <p>A sequence longer than {@code maxLen} is cut so that what is judged stays in the window
 * ({@link Truncation#KEEP_RESPONSE}, the default): the conversation header {@code BEGINNING OF CONVERSATION: USER:}
 * is kept, then the last {@code maxLen − header} ids of the rest, so the prompt loses its start first and the
 * response (with its EOS) is kept whole, or its end when it alone is longer. A stuffed prompt therefore cannot push
 * the response out of the window. {@link Truncation#FIRST_TOKENS} keeps the first {@code maxLen} ids instead (the
 * Safe-RLHF/HF tokenizer's cut, which the lora-tiny fixture was made with; only for reproducing it).
 */
public final class CostInputs {
    public static final int EOS = 50256;
    public static final String PROMPT_TEMPLATE = "BEGINNING OF CONVERSATION: USER: %s ASSISTANT:";

    static final String HEADER = "BEGINNING OF CONVERSATION: USER:";

    /** How a sequence longer than the window is cut. */
    public enum Truncation {
        /** Header + the end of the rest: the prompt loses its start, the response is kept (default). */
        KEEP_RESPONSE,
        /** The first {@code maxLen} ids (the response, then the prompt's end, fall off): fixture parity only. */
        FIRST_TOKENS;

        /** {@code keep-response} or {@code first-tokens}. */
        public static Truncation parse(String s) {
            return switch (s) {
                case "keep-response" -> KEEP_RESPONSE;
                case "first-tokens" -> FIRST_TOKENS;
                default -> throw new IllegalArgumentException(
                        "--truncation must be keep-response or first-tokens, got " + s);
            };
        }
    }

    /** The ids of one pair and whether they had to be cut to fit. */
    public record Encoded(int[] ids, boolean truncated) {}

    private final Gpt2Tokenizer tokenizer;
    private final int maxLen;
    private final Truncation truncation;
    private final int[] header;

    public CostInputs(Gpt2Tokenizer tokenizer, int maxLen) {
        this(tokenizer, maxLen, Truncation.KEEP_RESPONSE);
    }

    public CostInputs(Gpt2Tokenizer tokenizer, int maxLen, Truncation truncation) {
        if (maxLen < 1) throw new IllegalArgumentException("max_len must be >= 1, got " + maxLen);
        this.tokenizer = tokenizer;
        this.maxLen = maxLen;
        this.truncation = truncation;
        this.header = tokenizer.encode(HEADER);
    }

    public int maxLen() {
        return maxLen;
    }

    /** How over-long pairs are cut. */
    public Truncation truncation() {
        return truncation;
    }

    /** The tokenizer the texts go through. */
    public Gpt2Tokenizer tokenizer() {
        return tokenizer;
    }

    /** The conversation text of one (prompt, response). */
    public static String text(String prompt, String response) {
        return String.format(PROMPT_TEMPLATE, prompt) + response;
    }

    /** Ids of one (prompt, response): tokens + EOS, cut to {@code maxLen} (see the class comment). Special-token text is encoded as text. */
    public int[] encode(String prompt, String response) {
        return encodeChecked(prompt, response).ids();
    }

    /** As {@link #encode}, and whether the pair had to be cut. */
    public Encoded encodeChecked(String prompt, String response) {
        int[] t = tokenizer.encode(text(prompt, response));
        int[] ids = Arrays.copyOf(t, t.length + 1);
        ids[t.length] = EOS;
        if (ids.length <= maxLen) return new Encoded(ids, false);
        if (truncation == Truncation.FIRST_TOKENS) return new Encoded(Arrays.copyOf(ids, maxLen), true);
        // The header is a prefix of every conversation's ids (the pre-tokenizer splits at the space after "USER:").
        int h = startsWith(ids, header) && maxLen > 2 * header.length ? header.length : 0;
        int[] cut = new int[maxLen];
        System.arraycopy(ids, 0, cut, 0, h);
        System.arraycopy(ids, ids.length - (maxLen - h), cut, h, maxLen - h);
        return new Encoded(cut, true);
    }

    private static boolean startsWith(int[] a, int[] prefix) {
        return a.length >= prefix.length && Arrays.equals(a, 0, prefix.length, prefix, 0, prefix.length);
    }

    /**
     * Right-padded batch.
     *
     * @param ids  [B, T] token ids, pads = EOS
     * @param mask [B, T] 1 on real tokens, 0 on pads
     */
    public record Batch(int[][] ids, int[][] mask) {
        public int size() {
            return ids.length;
        }

        /** Index of each row's last real token (where the cost is read). */
        public int[] lastIndex() {
            int[] last = new int[ids.length];
            for (int i = 0; i < mask.length; i++) {
                int l = -1;
                for (int t = 0; t < mask[i].length; t++) if (mask[i][t] != 0) l = t;
                last[i] = l;
            }
            return last;
        }
    }

    /** Pads sequences on the right with EOS to the longest, mask 0 on the padding. */
    public static Batch pad(List<int[]> seqs) {
        if (seqs.isEmpty()) throw new IllegalArgumentException("empty batch");
        int width = 0;
        for (int[] s : seqs) {
            if (s.length == 0) throw new IllegalArgumentException("empty sequence in batch");
            width = Math.max(width, s.length);
        }
        int[][] ids = new int[seqs.size()][width];
        int[][] mask = new int[seqs.size()][width];
        for (int i = 0; i < seqs.size(); i++) {
            int[] s = seqs.get(i);
            Arrays.fill(ids[i], EOS);
            System.arraycopy(s, 0, ids[i], 0, s.length);
            Arrays.fill(mask[i], 0, s.length, 1);
        }
        return new Batch(ids, mask);
    }

    /** Position ids 0..T−1 for every row (right padding). */
    public static int[][] positions(Batch b) {
        int[][] p = new int[b.size()][];
        for (int i = 0; i < p.length; i++) {
            p[i] = new int[b.ids()[i].length];
            for (int t = 0; t < p[i].length; t++) p[i][t] = t;
        }
        return p;
    }
}
