package io.gptneo.tensor;

import io.gptneo.tensor.attention.AttentionKernel;
import io.gptneo.tensor.attention.FusedAttention;
import io.gptneo.tensor.attention.MatmulAttention;
import io.gptneo.tensor.attention.ReferenceAttention;
import java.util.Arrays;
import java.util.Locale;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.slf4j.LoggerFactory;

/**
 * The one place that decides which implementation serves each operation that has a fast kernel: the fast float32
 * kernel (Java, Vector API, on the arrays' own memory) or the reference (a composition of ND4J ops, float32 and
 * float64; {@link Reference}, {@link ReferenceAttention}). A float64 array always goes to the reference.
 *
 * <p>{@link #get()} is decided once at startup: fast where the JVM has {@code --add-modules jdk.incubator.vector} and
 * its Vector API loads from native memory ({@link VectorApi#NATIVE_LOADS}: JDK 17 and later), else reference;
 * {@code -Dgptneo.kernels=fast|reference} overrides it, and {@code -Dgptneo.attention=fused|reference} overrides
 * attention alone. It logs its choice once. Tests and benchmarks construct their own ({@link #Kernels(boolean,
 * boolean)}) instead of changing global state. See tensor/README.md for the map of operations.
 */
public final class Kernels {
    /** System property: {@code fast} or {@code reference} for every operation. */
    public static final String PROPERTY = "gptneo.kernels";
    /** System property for attention only: {@code fused} (the default with fast kernels), {@code matmul} or {@code reference}. */
    public static final String ATTENTION_PROPERTY = "gptneo.attention";

    private static final Kernels DEFAULT = fromProperties();

    private final boolean fast;
    private final AttentionKernel attention;

    /**
     * @param fast          fast float32 kernels for gelu, layer norm, add, dropout, scatter-add (else the reference)
     * @param fastAttention fused attention for float32 (else the reference)
     * @throws IllegalStateException when a fast kernel is asked for without the Vector API
     */
    public Kernels(boolean fast, boolean fastAttention) {
        requireVectorApi(fast, fastAttention);
        this.fast = fast;
        this.attention = fastAttention ? new FusedAttention() : new ReferenceAttention();
    }

    private Kernels(boolean fast, AttentionKernel attention) {
        this.fast = fast;
        this.attention = attention;
    }

    /** Every operation on the reference. */
    public static Kernels reference() {
        return new Kernels(false, false);
    }

    /** The startup choice. */
    public static Kernels get() {
        return DEFAULT;
    }

    private static Kernels fromProperties() {
        String all = System.getProperty(PROPERTY, VectorApi.NATIVE_LOADS ? "fast" : "reference")
                .trim()
                .toLowerCase(Locale.ROOT);
        if (!all.equals("fast") && !all.equals("reference")) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + all + ": expected fast or reference");
        }
        String att = System.getProperty(ATTENTION_PROPERTY, "");
        requireVectorApi(all.equals("fast"), false);
        // attention runs on Java arrays: fused wherever the module is present, unless every kernel was set to reference
        boolean fusedByDefault = (VectorApi.PRESENT && System.getProperty(PROPERTY) == null) || all.equals("fast");
        Kernels k = new Kernels(
                all.equals("fast"), attention(att.isBlank() ? (fusedByDefault ? "fused" : "reference") : att));
        // the JDK, not a choice, put the elementwise kernels on their references: a WARN (a step runs several times
        // slower), which the launcher's log level shows; otherwise INFO
        boolean slowedByJdk = VectorApi.PRESENT && !VectorApi.NATIVE_LOADS && System.getProperty(PROPERTY) == null;
        String msg = "kernels: {} for gelu, layerNorm, add, dropout, scatterAddRows; {} attention{}{}";
        Object[] args = {
            all,
            k.attention.name(),
            !VectorApi.PRESENT
                    ? " (no jdk.incubator.vector: add --add-modules jdk.incubator.vector)"
                    : VectorApi.NATIVE_LOADS
                            ? ""
                            : " (JDK " + Runtime.version().feature() + "'s Vector API loads neither from ByteBuffers"
                                    + " nor from MemorySegments, which the elementwise kernels and the bf16 rounding"
                                    + " use, and frozen weights are not packed: a training step runs several times"
                                    + " slower)",
            trapLimitAdvice()
        };
        var log = LoggerFactory.getLogger(Kernels.class);
        if (slowedByJdk) log.warn(msg, args);
        else log.info(msg, args);
        return k;
    }

    /** A hint when Java kernels run on a JVM whose trap limit can leave them 5-8x slower ({@link VectorApi#TRAP_LIMIT}). */
    static String trapLimitAdvice() {
        long limit = VectorApi.perMethodTrapLimit();
        if (!VectorApi.PRESENT || limit < 0 || limit >= VectorApi.TRAP_LIMIT) return "";
        return "; JVM flag -XX:PerMethodTrapLimit=" + VectorApi.TRAP_LIMIT + " advised (it is " + limit
                + "): without it the Java kernels may run several times slower in some runs";
    }

    /** Fails, saying what to do, when this JVM cannot run the fast elementwise kernels or fused attention asked for. */
    private static void requireVectorApi(boolean fast, boolean fastAttention) {
        if ((fast || fastAttention) && !VectorApi.PRESENT)
            throw new IllegalStateException("fast kernels need the JVM flag --add-modules jdk.incubator.vector");
        if (fast && !VectorApi.NATIVE_LOADS)
            throw new IllegalStateException("the fast elementwise kernels need the Vector API's loads from native "
                    + "memory (ByteBuffers on JDK 17-19, MemorySegments on 20+), which JDK "
                    + Runtime.version().feature() + " does not have: -D" + PROPERTY + "=reference (attention stays "
                    + "fused)");
    }

    /**
     * Attention by name (case-insensitive): {@code reference}, {@code fused} or {@code matmul} (needs oneDNN; opt-in:
     * on par with fused up to 256 positions inside a workspace, slower beyond and outside one; bench/RESULTS.md).
     */
    public static AttentionKernel attention(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        if (!n.equals("reference") && !VectorApi.PRESENT)
            throw new IllegalStateException(n + " attention needs the JVM flag --add-modules jdk.incubator.vector");
        switch (n) {
            case "reference":
                return new ReferenceAttention();
            case "fused":
                return new FusedAttention();
            case "matmul":
                if (!MatmulAttention.available())
                    throw new IllegalStateException(
                            "matmul attention needs oneDNN (org.bytedeco:dnnl), which did not load");
                return new MatmulAttention();
            default:
                throw new IllegalArgumentException("unknown attention kernel '" + name + "' (fused|matmul|reference)");
        }
    }

    /** Whether the fast kernels serve float32. */
    public boolean fast() {
        return fast;
    }

    /** The attention kernel for float32 (float64 always runs {@link #attentionFor}'s reference). */
    public AttentionKernel attention() {
        return attention;
    }

    /** {@code kernel} for float32 operands, the reference for any other dtype. */
    public static AttentionKernel attentionFor(AttentionKernel kernel, DataType dt) {
        return dt == DataType.FLOAT || kernel instanceof ReferenceAttention ? kernel : new ReferenceAttention();
    }

    private boolean fast(INDArray x) {
        return fast && FloatView.fits(x);
    }

    // ---- gelu: FastGelu | Reference.gelu --------------------------------------------------------------------------

    public INDArray gelu(INDArray x) {
        return fast(x) ? FastGelu.forward(x) : Reference.gelu(x);
    }

    public INDArray geluBackward(INDArray x, INDArray g) {
        return fast(x) ? FastGelu.backward(x, g.castTo(DataType.FLOAT)) : Reference.geluBackward(x, g);
    }

    // ---- layer norm: FastLayerNorm | Reference.layerNorm ----------------------------------------------------------

    /** y and the function that gives its gradients. */
    public record LayerNormForward(INDArray y, LayerNormBackward backward) {}

    /** Gradients of a layer norm from dL/dy {@code g} (x's shape); a slot is null when not asked for. */
    public interface LayerNormBackward {
        /** {@code addToDx} (x's shape, or null): added to dx as it is written, so dx is a new array holding the sum. */
        LayerNormGrads apply(INDArray g, boolean wantX, boolean wantGamma, boolean wantBeta, INDArray addToDx);

        default LayerNormGrads apply(INDArray g, boolean wantX, boolean wantGamma, boolean wantBeta) {
            return apply(g, wantX, wantGamma, wantBeta, null);
        }
    }

    public record LayerNormGrads(INDArray dx, INDArray dGamma, INDArray dBeta) {}

    /**
     * LayerNorm over the last dim of {@code x [..., C]}, gamma and beta [C]; y and dx in x's shape. The fast kernel
     * reads any rank as rows of C (no reshaped views: some 30 µs each, four per layer norm of a step); the reference
     * works on the [N, C] reshape.
     */
    public LayerNormForward layerNorm(INDArray x, INDArray gamma, INDArray beta, double eps) {
        if (fast(x)) return FastLayerNorm.forward(x, gamma, beta, eps);
        if (x.rank() == 2) return Reference.layerNorm(x, gamma, beta, eps);
        long[] xs = x.shape();
        long c = xs[xs.length - 1];
        LayerNormForward f = Reference.layerNorm(x.reshape('c', x.length() / c, c), gamma, beta, eps);
        return new LayerNormForward(f.y().reshape('c', xs), (g, wantX, wantGamma, wantBeta, addToDx) -> {
            LayerNormGrads r = f.backward()
                    .apply(
                            g.reshape('c', g.length() / c, c),
                            wantX,
                            wantGamma,
                            wantBeta,
                            addToDx == null ? null : addToDx.reshape('c', g.length() / c, c));
            return new LayerNormGrads(r.dx() == null ? null : r.dx().reshape('c', xs), r.dGamma(), r.dBeta());
        });
    }

    // ---- add: FastAdd | ND4J ------------------------------------------------------------------------------------

    /** a + b, same shape (broadcasting goes to ND4J). */
    /**
     * bf16 product {@code op(a) · op(b) + bias}: a FLOAT, b BFLOAT16 (a frozen weight), FLOAT result with float32
     * accumulation: {@link OneDnnBf16} (oneDNN's bf16 matmul) or {@link Reference#bf16mm}.
     */
    public INDArray bf16mm(INDArray a, INDArray b, boolean transA, boolean transB, INDArray bias) {
        return fast && OneDnn.OK
                ? OneDnnBf16.mm(a, b, transA, transB, bias)
                : Reference.bf16mm(a, b, transA, transB, bias);
    }

    /** Who serves bf16 products here (for logs and benchmark records). */
    public String bf16Products() {
        return fast && OneDnn.OK ? OneDnnBf16.describe() : "reference (fp32 product of bf16-rounded operands)";
    }

    /** Whether oneDNN's classes and natives are present and make bf16 matmuls: loaded on the first bf16 product only. */
    private static final class OneDnn {
        static final boolean OK = check();

        private static boolean check() {
            try {
                return OneDnnBf16.available();
            } catch (LinkageError e) { // the dnnl jar is not on the classpath
                LoggerFactory.getLogger(Kernels.class)
                        .info("oneDNN not on the classpath ({}); bf16 products use the reference", e.toString());
                return false;
            }
        }
    }

    public INDArray add(INDArray a, INDArray b) {
        return fastAdd(a, b) ? FastAdd.add(a, b) : a.add(b);
    }

    /** a += b in place. */
    public INDArray addi(INDArray a, INDArray b) {
        return fastAdd(a, b) && JavaArrays.exactCOrder(a) ? FastAdd.addi(a, b) : a.addi(b);
    }

    private boolean fastAdd(INDArray a, INDArray b) {
        return fast(a) && fast(b) && Arrays.equals(a.shape(), b.shape()) && a.length() >= 1024;
    }

    // ---- dropout masking: DropoutMask.apply | Reference.dropout ----------------------------------------------------

    /** {@code x} with dropped elements 0 and kept ones times keepScale, into {@code into} (may be x) or a new array. */
    public INDArray dropout(INDArray x, long[] keep, double keepScale, INDArray into) {
        return fast(x) && DropoutMask.FAST
                ? DropoutMask.apply(x, keep, (float) keepScale, into)
                : Reference.dropout(x, keep, keepScale, into);
    }

    // ---- LoRA side paths of a split product: FusedLowRank | dropout and products (SplitLinearOp) ------------------

    /** Whether {@link FusedLowRank} serves a side path over {@code x [N, in]} into a part {@code width} wide. */
    boolean fusedLowRank(INDArray x, long in, long width) {
        return fast(x) && FusedLowRank.FAST && FusedLowRank.fits(in, width);
    }

    // ---- gather backward: FastAdd.scatterAddRows | Reference.scatterAddRows ----------------------------------------

    /** Zeros of {@code tableShape [N, C]} with row {@code index[i]} += {@code g[i]}, duplicates summed in index order. */
    public INDArray scatterAddRows(long[] tableShape, int[] index, INDArray g) {
        return fast(g) ? FastAdd.scatterAddRows(tableShape, index, g) : Reference.scatterAddRows(tableShape, index, g);
    }
}
