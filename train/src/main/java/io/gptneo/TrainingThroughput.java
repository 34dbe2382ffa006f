package io.gptneo;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Token throughput of the training steps a run did in this process (after a resume: the steps since the resume):
 * real tokens, all token positions computed (real + padding), and the time of the steps themselves (forward, backward,
 * optimizer; not validation or checkpoints). The padding of one epoch's batches with and without length buckets is
 * computed from the data's lengths, so every run shows what bucketing saves, whichever way it ran.
 *
 * @param lengthBuckets                  whether the batches were length-bucketed
 * @param usefulTokens                   real (non-pad) tokens fed
 * @param tokenSlots                     token positions computed: real tokens + padding
 * @param seconds                        time of the steps
 * @param epochPaddingFractionBucketed   pad / all tokens of the first epoch's batches with length buckets
 * @param epochPaddingFractionUnbucketed the same for plain shuffled batches (file order when not shuffling)
 */
public record TrainingThroughput(
        boolean lengthBuckets,
        long usefulTokens,
        long tokenSlots,
        double seconds,
        double epochPaddingFractionBucketed,
        double epochPaddingFractionUnbucketed) {

    /** Pad tokens / all token positions of the steps run. */
    public double paddingFraction() {
        return tokenSlots == 0 ? 0 : 1 - (double) usefulTokens / tokenSlots;
    }

    /** Real (non-pad) tokens per second of step time. */
    public double usefulTokensPerSecond() {
        return seconds > 0 ? usefulTokens / seconds : 0;
    }

    /** The figures by name, for reports (summary.json). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("length_buckets", lengthBuckets);
        m.put("useful_tokens", usefulTokens);
        m.put("token_slots", tokenSlots);
        m.put("step_seconds", seconds);
        m.put("useful_tokens_per_second", usefulTokensPerSecond());
        m.put("padding_fraction", paddingFraction());
        m.put("epoch_padding_fraction_bucketed", epochPaddingFractionBucketed);
        m.put("epoch_padding_fraction_unbucketed", epochPaddingFractionUnbucketed);
        return m;
    }

    /** One line for the log. */
    public String describe() {
        return String.format(
                Locale.ROOT,
                "%d useful tokens in %.1f s of steps = %.1f useful tokens/s; padding %.1f%% of positions "
                        + "(length buckets %s; an epoch pads %.1f%% bucketed, %.1f%% unbucketed)",
                usefulTokens,
                seconds,
                usefulTokensPerSecond(),
                100 * paddingFraction(),
                lengthBuckets ? "on" : "off",
                100 * epochPaddingFractionBucketed,
                100 * epochPaddingFractionUnbucketed);
    }
}
