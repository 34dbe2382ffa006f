package io.gptneo.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Which OpenBLAS kernel set ({@code OPENBLAS_CORETYPE}) the launcher exports, from {@code GPTNEO_BLAS_CORE}:
 * <ul>
 *   <li>{@code env} (default): the environment's choice, untouched;</li>
 *   <li>{@code auto}: the fastest candidate ({@link #CANDIDATES}) the CPU supports and that passes
 *       {@link BlasCoreCheck} in a child JVM; the verdict is cached per CPU and OpenBLAS build, so the check runs
 *       once; a failed or crashed check falls back to the environment's choice and says so (once: the failure is
 *       cached too);</li>
 *   <li>a core name ({@code SkylakeX}, ...): that core, unchecked.</li>
 * </ul>
 * {@code main} prints the core to export (empty: leave the environment as it is); messages go to stderr. With
 * {@code gemm} it decides {@code GPTNEO_GEMM} instead ({@link #chooseGemm}): whether float32 products go to oneDNN.
 */
public final class BlasCore {
    /** Candidate cores, fastest first, with the CPU flags each needs (from /proc/cpuinfo). */
    static final List<Candidate> CANDIDATES = List.of(
            new Candidate(
                    "Cooperlake", Set.of("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd", "avx512_bf16")),
            new Candidate("SkylakeX", Set.of("avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd")));

    record Candidate(String core, Set<String> flags) {}

    /** A self-check's outcome for one core. */
    record Verdict(boolean ok, String detail) {}

    /** Runs the self-check for a core (a child JVM in production; injected in tests). */
    @FunctionalInterface
    interface Runner {
        Verdict check(String core);
    }

    /** The core to export (null: the environment's) and why. */
    record Choice(String core, String reason) {}

    private BlasCore() {}

    /**
     * @param mode     GPTNEO_BLAS_CORE: env (or null/empty), auto, or a core name
     * @param envCore  the environment's OPENBLAS_CORETYPE (null when unset)
     * @param key      CPU model + OpenBLAS build: the cache key
     * @param cpuFlags the CPU's flags
     * @param cache    the verdict file ({@code blas-core.properties})
     */
    static Choice choose(
            String mode, String envCore, String key, Set<String> cpuFlags, Path cache, Runner runner, PrintStream log)
            throws IOException {
        String env = envCore == null || envCore.isBlank() ? "(unset)" : envCore;
        if (mode == null || mode.isBlank() || mode.equals("env"))
            return new Choice(null, "environment: OPENBLAS_CORETYPE=" + env);
        if (!mode.equals("auto")) {
            if (!mode.matches("[A-Za-z][A-Za-z0-9_]*"))
                throw new IllegalArgumentException(
                        "GPTNEO_BLAS_CORE must be env, auto or an OpenBLAS core name, got '" + mode + "'");
            return new Choice(mode, "GPTNEO_BLAS_CORE=" + mode + " (not self-checked)");
        }
        List<String> candidates = CANDIDATES.stream()
                .filter(c -> cpuFlags.containsAll(c.flags()))
                .map(Candidate::core)
                .toList();
        return autoChoice(
                key,
                candidates,
                cache,
                runner,
                log,
                "BLAS core",
                "keeping the environment's OPENBLAS_CORETYPE=" + env,
                "no candidate core for this CPU");
    }

    /**
     * {@code GPTNEO_GEMM}: which library computes float32 products, as the {@code -Dgptneo.gemm} value to pass (null:
     * none, i.e. OpenBLAS): {@code openblas}; {@code onednn} (unchecked); or {@code auto} (the default): oneDNN's
     * sgemm after it passes {@link BlasCoreCheck} in a child JVM, cached per CPU and oneDNN build like the core.
     */
    static Choice chooseGemm(String mode, String key, Path cache, Runner runner, PrintStream log) throws IOException {
        String m = mode == null || mode.isBlank() ? "auto" : mode;
        return switch (m) {
            case "openblas" -> new Choice(null, "GPTNEO_GEMM=openblas");
            case "onednn" -> new Choice("onednn", "GPTNEO_GEMM=onednn (not self-checked)");
            case "auto" -> autoChoice(
                    key, List.of(ONEDNN), cache, runner, log, "float32 products", "keeping OpenBLAS", "no candidate");
            default -> throw new IllegalArgumentException(
                    "GPTNEO_GEMM must be auto, openblas or onednn, got '" + mode + "'");
        };
    }

    /** The float32-products candidate {@link #chooseGemm} checks. */
    static final String ONEDNN = "onednn";

    /**
     * The cached verdict for {@code key}, else the first candidate whose self-check passes (null when none), stored in
     * {@code cache} and said once on {@code log}.
     */
    private static Choice autoChoice(
            String key,
            List<String> candidates,
            Path cache,
            Runner runner,
            PrintStream log,
            String what,
            String fallback,
            String none)
            throws IOException {
        Properties verdicts = load(cache);
        String cached = verdicts.getProperty(key);
        if (cached != null) {
            String core = cached.substring(0, cached.indexOf('|'));
            return new Choice(
                    core.equals("env") ? null : core, "cached verdict: " + cached.substring(cached.indexOf('|') + 1));
        }
        List<String> failures = new ArrayList<>();
        Choice choice = null;
        for (String c : candidates) {
            Verdict v;
            try {
                v = runner.check(c);
            } catch (RuntimeException e) {
                v = new Verdict(false, "check crashed: " + e);
            }
            if (v.ok()) {
                String before = failures.isEmpty() ? "" : " (failed before it: " + String.join("; ", failures) + ")";
                choice = new Choice(c, c + " passed the self-check: " + v.detail() + before);
                break;
            }
            failures.add(c + ": " + v.detail());
        }
        if (choice == null) {
            choice = new Choice(
                    null,
                    (failures.isEmpty() ? none : "self-check failed (" + String.join("; ", failures) + ")") + ", "
                            + fallback);
            log.println("gptneo: " + what + ": " + choice.reason() + " (said once; verdict cached in " + cache + ")");
        } else {
            log.println("gptneo: " + what + ": " + choice.reason() + " (verdict cached in " + cache + ")");
        }
        verdicts.setProperty(key, (choice.core() == null ? "env" : choice.core()) + "|" + choice.reason());
        store(verdicts, cache);
        return choice;
    }

    /** The real runner: {@link BlasCoreCheck} in a child JVM with this classpath and {@code OPENBLAS_CORETYPE=core}. */
    static Verdict childCheck(String core) {
        String java = ProcessHandle.current()
                .info()
                .command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        boolean onednn = core.equals(ONEDNN);
        List<String> cmd = new ArrayList<>(List.of(java, "-Xmx1g"));
        // oneDNN's sgemm and matmul (the products' float32 kernels with -Dgptneo.gemm=onednn) under the environment's
        // OpenBLAS core (dgemm stays OpenBLAS)
        if (onednn) cmd.addAll(List.of("-Dgptneo.gemm=onednn", "--add-modules", "jdk.incubator.vector"));
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), BlasCoreCheck.class.getName()));
        if (onednn) cmd.add(ONEDNN);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (!onednn) {
            pb.environment().put("OPENBLAS_CORETYPE", core);
            pb.environment().put("OPENBLAS_VERBOSE", "2"); // OpenBLAS then names the core it loaded ("Core: ...")
        }
        try {
            Process p = pb.start();
            byte[] out;
            try (InputStream in = p.getInputStream()) {
                out = readAll(in, p);
            }
            int exit = p.waitFor();
            return verdict(
                    core,
                    exit,
                    new String(out, StandardCharsets.UTF_8) + (exit == 137 ? "\n(killed after 5 minutes)" : ""));
        } catch (IOException | InterruptedException e) {
            return new Verdict(false, "check could not run: " + e);
        }
    }

    /** Reads a child's output for at most 5 minutes, then kills it. */
    private static byte[] readAll(InputStream in, Process p) throws IOException {
        Thread killer = new Thread(() -> {
            try {
                if (!p.waitFor(5, TimeUnit.MINUTES)) p.destroyForcibly();
            } catch (InterruptedException ignored) {
                // done
            }
        });
        killer.setDaemon(true);
        killer.start();
        return in.readAllBytes();
    }

    /** The verdict from a child's exit code and output: ok only with exit 0, an ok line, and OpenBLAS reporting that core. */
    static Verdict verdict(String core, int exit, String output) {
        String line = null, loaded = null;
        for (String l : output.split("\n")) {
            if (l.startsWith(BlasCoreCheck.TAG))
                line = l.substring(BlasCoreCheck.TAG.length()).trim();
            int at = l.indexOf("Core: ");
            if (at >= 0) loaded = l.substring(at + 6).trim();
        }
        if (exit != 0 || line == null || !line.startsWith("ok")) {
            return new Verdict(false, line != null ? line : "exit " + exit + " without a result (crashed?)");
        }
        if (loaded != null && !loaded.equalsIgnoreCase(core))
            return new Verdict(false, "OpenBLAS loaded core " + loaded + ", not " + core);
        return new Verdict(true, line);
    }

    /** CPU model and OpenBLAS build (the openblas jar on the classpath): the cache key. */
    static String key(String cpuinfo, String classpath) {
        return key(cpuinfo, classpath, "openblas-");
    }

    /** CPU model and the build of the library whose jar names start with {@code jarPrefix}: a cache key. */
    static String key(String cpuinfo, String classpath, String jarPrefix) {
        String model = field(cpuinfo, "model name") + " family " + field(cpuinfo, "cpu family") + " model "
                + field(cpuinfo, "model") + " stepping " + field(cpuinfo, "stepping");
        List<String> builds = new ArrayList<>();
        for (String e : classpath.split(java.io.File.pathSeparator)) {
            String name = e.substring(e.lastIndexOf('/') + 1);
            if (name.startsWith(jarPrefix)) builds.add(name);
        }
        builds.sort(null);
        return (model + " | " + (builds.isEmpty() ? "no " + jarPrefix + " jar" : String.join(" ", builds)))
                .replaceAll("[=:\\s]+", "_");
    }

    static Set<String> flags(String cpuinfo) {
        return new HashSet<>(List.of(field(cpuinfo, "flags").split("\\s+")));
    }

    private static String field(String cpuinfo, String name) {
        for (String l : cpuinfo.split("\n")) {
            int colon = l.indexOf(':');
            if (colon > 0 && l.substring(0, colon).trim().equals(name))
                return l.substring(colon + 1).trim();
        }
        return "?";
    }

    private static Properties load(Path file) throws IOException {
        Properties p = new Properties();
        if (Files.isRegularFile(file))
            try (InputStream in = Files.newInputStream(file)) {
                p.load(in);
            }
        return p;
    }

    /** Atomic: a temporary file beside it, then a move. */
    private static void store(Properties p, Path file) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = Files.createTempFile(file.getParent(), "blas-core", ".tmp");
        try (OutputStream out = Files.newOutputStream(tmp)) {
            p.store(out, "gptneo BLAS core self-check verdicts: key = CPU | OpenBLAS build, value = core|reason");
        }
        Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** The verdict file: {@code $XDG_CACHE_HOME/gptneo-java/blas-core.properties} (default {@code ~/.cache}). */
    static Path cacheFile() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("gptneo-java").resolve("blas-core.properties");
    }

    /** {@code BlasCore MODE}: prints the core to export (an empty line: leave OPENBLAS_CORETYPE as it is). */
    public static void main(String[] args) throws IOException {
        String mode = args.length > 0 ? args[0] : System.getenv("GPTNEO_BLAS_CORE");
        String cpuinfo = Files.isReadable(Path.of("/proc/cpuinfo")) ? Files.readString(Path.of("/proc/cpuinfo")) : "";
        if ("gemm".equals(mode)) { // BlasCore gemm [MODE]: prints the -Dgptneo.gemm value (empty: OpenBLAS)
            String cp = System.getProperty("java.class.path");
            Choice c = chooseGemm(
                    args.length > 1 ? args[1] : System.getenv("GPTNEO_GEMM"),
                    // "packed": the check also covers the matmul on packed weights (a verdict cached before it did
                    // not, so it is not reused)
                    "gemm packed " + key(cpuinfo, cp, "dnnl-"),
                    cacheFile(),
                    BlasCore::childCheck,
                    System.err);
            System.out.println(c.core() == null ? "" : c.core());
            return;
        }
        Choice c = choose(
                mode,
                System.getenv("OPENBLAS_CORETYPE"),
                key(cpuinfo, System.getProperty("java.class.path")),
                flags(cpuinfo),
                cacheFile(),
                BlasCore::childCheck,
                System.err);
        System.out.println(c.core() == null ? "" : c.core());
    }
}
