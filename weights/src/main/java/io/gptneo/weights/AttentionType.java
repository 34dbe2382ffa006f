package io.gptneo.weights;

/** GPT-Neo attention kind of one layer: GLOBAL (full causal) or LOCAL (causal within {@code window_size}). */
public enum AttentionType {
    GLOBAL,
    LOCAL;

    /** The name used in config.json. */
    public String jsonName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** Parses "global"/"local" (case-insensitive); null when unknown. */
    public static AttentionType parse(String s) {
        if (s == null) return null;
        for (AttentionType t : values()) if (t.jsonName().equalsIgnoreCase(s)) return t;
        return null;
    }
}
