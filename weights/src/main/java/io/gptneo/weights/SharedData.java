package io.gptneo.weights;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the read-only {@code shared/} folder (data, tokenizer, fixtures) that sits beside the project.
 * Order: system property {@code gptneo.shared}, environment {@code GPTNEO_SHARED}, then {@code ../shared}.
 */
public final class SharedData {
    private SharedData() {}

    /** The shared folder; throws with the paths tried when it is missing. */
    public static Path root() {
        String prop = System.getProperty("gptneo.shared");
        String env = System.getenv("GPTNEO_SHARED");
        Path p = prop != null ? Path.of(prop) : env != null ? Path.of(env) : Path.of("..", "shared");
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException(
                    "shared data folder not found at " + p.toAbsolutePath().normalize()
                            + " (set -Dgptneo.shared=DIR or GPTNEO_SHARED=DIR; it holds data/, tokenizer/, fixtures/)");
        }
        return p.toAbsolutePath().normalize();
    }

    /** A path inside the shared folder that must exist. */
    public static Path resolve(String relative) {
        Path p = root().resolve(relative);
        if (!Files.exists(p)) throw new IllegalStateException("missing shared file: " + p);
        return p;
    }
}
