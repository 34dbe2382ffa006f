package io.gptneo.tensor;

/**
 * Whether the JDK's incubating Vector API ({@code jdk.incubator.vector}) is in the boot layer, i.e. the JVM was
 * started with {@code --add-modules jdk.incubator.vector}. The Java kernels check this before touching any class that
 * uses the API (those sit in separate classes, so nothing loads it when it is absent) and otherwise take their
 * scalar or ND4J paths.
 */
public final class VectorApi {
    /** The module is present. */
    public static final boolean PRESENT =
            ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    private VectorApi() {}
}
