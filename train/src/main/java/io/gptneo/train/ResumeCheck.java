package io.gptneo.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@code --resume} compares: the configuration saved in the checkpoint against the one given now. A change to
 * any setting that alters the trajectory (data, model, adapter shape, optimizer, schedule, batches, seed, lengths, ...)
 * is refused unless {@code --resume-override} names it; settings that only change what is written or how often
 * (checkpoint cadence, validation cadence and batch size, progress, paths) may change freely.
 */
public final class ResumeCheck {
    /** Kebab-case keys that never alter the trajectory. */
    static final Set<String> FREE = Set.of(
            "out",
            "resume",
            "resume-override",
            "progress",
            "save-every",
            "keep-checkpoints",
            "eval-every",
            "eval-batch-size");

    /**
     * What a checkpoint written before a key existed implies for it: the behaviour of that older version. Such a key
     * is compared against this value instead of being skipped (bucketed batches came with {@code length-buckets}).
     */
    static final Map<String, JsonNode> IMPLIED_WHEN_MISSING =
            Map.of("length-buckets", com.fasterxml.jackson.databind.node.BooleanNode.FALSE);

    private ResumeCheck() {}

    /**
     * The keys whose value differs, with the saved and the new value ({@code {"was": x, "now": y}}). Keys missing
     * from the saved configuration (checkpoints of older versions) are not compared, except those whose old behaviour
     * is known ({@link #IMPLIED_WHEN_MISSING}).
     */
    public static Map<String, JsonNode[]> differences(JsonNode saved, ObjectNode now) {
        Map<String, JsonNode[]> d = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = now.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            JsonNode was = saved.has(e.getKey()) ? saved.get(e.getKey()) : IMPLIED_WHEN_MISSING.get(e.getKey());
            if (FREE.contains(e.getKey()) || was == null) continue;
            if (!same(was, e.getValue())) d.put(e.getKey(), new JsonNode[] {was, e.getValue()});
        }
        return d;
    }

    private static boolean same(JsonNode a, JsonNode b) {
        if (a.isNumber() && b.isNumber()) return a.asDouble() == b.asDouble();
        return a.equals(b);
    }

    /**
     * Throws when a difference is not overridden; returns the overridden ones (to be recorded).
     *
     * @throws IllegalArgumentException listing every refused key with both values and the flag that allows it
     */
    public static Map<String, JsonNode[]> check(
            JsonNode saved, ObjectNode now, List<String> overrides, String checkpoint) {
        Map<String, JsonNode[]> diff = differences(saved, now);
        List<String> refused = new ArrayList<>();
        Map<String, JsonNode[]> allowed = new LinkedHashMap<>();
        diff.forEach((k, v) -> {
            if (overrides.contains(k)) allowed.put(k, v);
            else refused.add(k + ": " + v[0] + " in the checkpoint, " + v[1] + " now");
        });
        for (String o : overrides) {
            if (!now.has(o))
                throw new IllegalArgumentException("--resume-override " + o + ": no such setting; known: "
                        + now.properties().stream().map(Map.Entry::getKey).toList());
        }
        if (!refused.isEmpty()) {
            throw new IllegalArgumentException("--resume " + checkpoint
                    + ": the settings differ from the run being resumed, which would change its trajectory:\n  "
                    + String.join("\n  ", refused) + "\nGive the same settings, or --resume-override "
                    + String.join(
                            ",",
                            diff.keySet().stream()
                                    .filter(k -> !overrides.contains(k))
                                    .toList()) + " to change them on purpose.");
        }
        return allowed;
    }
}
