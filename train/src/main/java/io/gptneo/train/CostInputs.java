package io.gptneo.train;

import java.util.Arrays;
import java.util.List;

import io.gptneo.tokenizer.Gpt2Tokenizer;

/**
 * Cost-model input as Safe-RLHF builds it: {@code BEGINNING OF CONVERSATION: USER: {prompt} ASSISTANT:{response}}
 * (no space after {@code ASSISTANT:}), tokenized, EOS appended, cut to the first {@code maxLen} ids (so a long
 * sequence loses its EOS). Batches are right-padded with the EOS id and attention mask 0.
 */
public final class CostInputs {
    public static final int EOS = 50256;
    public static final String PROMPT_TEMPLATE = "BEGINNING OF CONVERSATION: USER: %s ASSISTANT:";

    private final Gpt2Tokenizer tokenizer;
    private final int maxLen;

    public CostInputs(Gpt2Tokenizer tokenizer, int maxLen) {
        if (maxLen < 1) throw new IllegalArgumentException("max_len must be >= 1, got " + maxLen);
        this.tokenizer = tokenizer;
        this.maxLen = maxLen;
    }

    public int maxLen() { return maxLen; }

    /** The tokenizer the texts go through. */
    public Gpt2Tokenizer tokenizer() { return tokenizer; }

    /** The conversation text of one (prompt, response). */
    public static String text(String prompt, String response) {
        return String.format(PROMPT_TEMPLATE, prompt) + response;
    }

    /** Ids of one (prompt, response): tokens + EOS, first {@code maxLen}. Special-token text is encoded as text. */
    public int[] encode(String prompt, String response) {
        int[] t = tokenizer.encode(text(prompt, response));
        int[] ids = Arrays.copyOf(t, t.length + 1);
        ids[t.length] = EOS;
        return ids.length > maxLen ? Arrays.copyOf(ids, maxLen) : ids;
    }

    /**
     * Right-padded batch.
     *
     * @param ids  [B, T] token ids, pads = EOS
     * @param mask [B, T] 1 on real tokens, 0 on pads
     */
    public record Batch(int[][] ids, int[][] mask) {
        public int size() { return ids.length; }

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
