package io.gptneo.train.data;

/**
 * One PKU-SafeRLHF comparison: two responses to one prompt with safety labels.
 *
 * @param saferId  0 or 1: the safer response ({@code safer_response_id})
 * @param betterId 0, 1, or -1 when the file has no {@code better_response_id}
 * @param source   {@code file:line} for messages
 */
public record PairExample(
        String prompt,
        String response0,
        String response1,
        boolean safe0,
        boolean safe1,
        int saferId,
        int betterId,
        String source) {

    public String response(int i) {
        return i == 0 ? response0 : response1;
    }

    public boolean safe(int i) {
        return i == 0 ? safe0 : safe1;
    }

    /** The same comparison with the two responses exchanged (labels and ids follow their responses). */
    public PairExample swapped() {
        return new PairExample(
                prompt, response1, response0, safe1, safe0, 1 - saferId, betterId < 0 ? -1 : 1 - betterId, source);
    }
}
