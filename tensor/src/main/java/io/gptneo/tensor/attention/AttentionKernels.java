package io.gptneo.tensor.attention;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Factory: {@code -Dgptneo.attention=reference|fused|nd4j} picks the default kernel (fused when unset). */
public final class AttentionKernels {
    public static final String PROPERTY = "gptneo.attention";
    private static final Logger LOG = LoggerFactory.getLogger(AttentionKernels.class);
    private static volatile boolean warned;

    private AttentionKernels() {}

    /** "reference", "fused" or "nd4j" (case-insensitive). */
    public static AttentionKernel byName(String name) {
        switch (name.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "reference": return new ReferenceAttention();
            case "fused":
                if (!vectorApiAvailable())
                    throw new IllegalStateException("fused attention needs the JVM flag --add-modules jdk.incubator.vector");
                return new FusedAttention();
            case "nd4j": return new Nd4jDotProductAttention();
            default: throw new IllegalArgumentException("unknown attention kernel '" + name + "' (reference|fused|nd4j)");
        }
    }

    /**
     * The kernel named by the system property, else fused; falls back to reference (with one warning) when the JVM
     * was started without {@code --add-modules jdk.incubator.vector}.
     */
    public static AttentionKernel defaultKernel() {
        String p = System.getProperty(PROPERTY);
        if (p != null && !p.isBlank()) return byName(p);
        if (vectorApiAvailable()) return new FusedAttention();
        if (!warned) {
            warned = true;
            LOG.warn("jdk.incubator.vector not in the boot layer (add --add-modules jdk.incubator.vector): using reference attention");
        }
        return new ReferenceAttention();
    }

    static boolean vectorApiAvailable() {
        return io.gptneo.tensor.VectorApi.PRESENT;
    }
}
