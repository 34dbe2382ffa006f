package io.gptneo.tensor;

import java.lang.management.ManagementFactory;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.bytedeco.javacpp.Pointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

/**
 * Products with a frozen weight, {@code a [M, K] · op(W) + bias}, on oneDNN's matmul with W copied once into the blocked
 * layout its kernel reads. With W in its plain layout the kernel copies the part of W it works on into that layout
 * again on every call; at the model's shapes (M = 512) that was 2-11% of a bf16 product and up to 1.3x an fp32 one
 * (bench/RESULTS.md, session 10).
 *
 * <p>A weight gets one packed copy per orientation it is used in: {@code a · Wᵀ} (the forward of a Linear) and
 * {@code g · W} (its input gradient). They are kept on the weight's {@link Tensor} and dropped when its array is
 * replaced ({@link Tensor#setData}); a frozen weight's array must not be written in place (nothing here does: LoRA's
 * merge, the optimizer and loading all replace arrays or train other tensors). They cost the weight's memory again per
 * orientation. By default ({@code -Dgptneo.packWeights=auto}) every frozen weight is packed for products under
 * {@link GradMode} (training steps, where the input gradient is needed too), and float32 weights in inference as well
 * (one orientation: 1.04-1.07x a float32 cost-model forward for the block weights' memory again, bench/RESULTS.md);
 * bf16 weights keep the plain path in inference, bf16 being the mode chosen for memory, and so do weights marked
 * {@link Tensor#plainInInference} (the LM head). {@code train} packs only in training steps (inference keeps its
 * memory), {@code always} bf16 weights in inference too, {@code off} never.
 *
 * <p>A copy is made only if it leaves the process a reserve of memory ({@value #RESERVE_PROPERTY}, see
 * {@link #roomFor}); one that would not is never made for that weight and orientation, whose products then take the
 * plain path: a large model loses the packing's speed rather than going into swap or the kernel's OOM killer.
 *
 * <p>Same operands, same kernel family as the plain path ({@code brg:avx512_core_bf16} for bf16 weights; for float32
 * the plain path is oneDNN's sgemm or its matmul, so results agree to summation order), checked by
 * {@code PackedWeightsTest} against {@link Reference}.
 */
final class PackedWeights {
    /** System property: {@code auto} (default), {@code train}, {@code always} or {@code off}. */
    static final String PROPERTY = "gptneo.packWeights";

    /**
     * System property: memory in MB that making a packed copy must leave available. Default: the larger of 1024 MB and
     * an eighth of the machine's memory (of the container's, where it has a limit).
     */
    static final String RESERVE_PROPERTY = "gptneo.packReserveMb";

    /** Copies not made for lack of memory, in this process. */
    private static final AtomicInteger DECLINED = new AtomicInteger();

    /** Fewer rows than this: the plain path (a pack would not pay off on few products; e.g. last-token rows). */
    static final int MIN_ROWS = 64;

    private enum Policy {
        AUTO,
        TRAIN,
        ALWAYS,
        OFF
    }

    private static final Policy POLICY = policy();

    private static Policy policy() {
        String v = System.getProperty(PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> Policy.AUTO;
            case "train" -> Policy.TRAIN;
            case "always" -> Policy.ALWAYS;
            case "off" -> Policy.OFF;
            default -> throw new IllegalArgumentException(
                    "-D" + PROPERTY + "=" + v + ": expected auto, train, always or off");
        };
    }

    /** The packed copies of one weight array: [0] for {@code a · Wᵀ}, [1] for {@code a · W}. */
    static final class Copies {
        final INDArray source;
        private final Packed[] byOrientation = new Packed[2];

        Copies(INDArray source) {
            this.source = source;
        }
    }

    /** One packed copy and the primitive whose layout it is in; {@link #NONE} where it was not made for memory. */
    private record Packed(OneDnnMatmul.Prim layoutOf, Pointer data) {}

    /** The mark of a copy declined by {@link #roomFor}: that weight's products in that orientation stay plain. */
    private static final Packed NONE = new Packed(null, null);

    private PackedWeights() {}

    /** Rows of {@code a [..., K]}: the product of its leading dimensions. */
    private static long rows(INDArray a) {
        long k = a.size(a.rank() - 1);
        return k == 0 ? 0 : a.length() / k;
    }

    /** Whether the policy packs a frozen weight of this type for products outside {@link GradMode}. */
    private static boolean packedInInference(DataType weightType) {
        return switch (POLICY) {
            case ALWAYS -> true;
            case AUTO -> weightType == DataType.FLOAT;
            case TRAIN, OFF -> false;
        };
    }

    /** Whether {@link #mm} serves {@code a · op(w.data())} (else the caller takes {@link Gemm#mm}). */
    static boolean applies(INDArray a, Tensor w, INDArray wd) {
        if (POLICY == Policy.OFF) return false;
        if (!GradMode.isEnabled() && (w.plainInInference || !packedInInference(wd.dataType()))) return false;
        if (w.requiresGrad() || wd != w.data() || a.rank() < 2 || wd.rank() != 2) return false;
        if (rows(a) < MIN_ROWS || a.dataType() != DataType.FLOAT || !JavaArrays.exactCOrder(wd)) return false;
        if (a.length() > Integer.MAX_VALUE || wd.length() > Integer.MAX_VALUE) return false;
        if (!Kernels.get().fast() || !OneDnnMatmul.available()) return false;
        return switch (wd.dataType()) {
            case BFLOAT16 -> OneDnnBf16.available();
            case FLOAT -> Gemm.backend() == Gemm.Backend.ONEDNN;
            default -> false;
        };
    }

    /**
     * {@code a [..., K] · op(wd) + bias -> [..., N]} (a's leading dimensions kept: M rows in all; op = transpose when
     * {@code transW}; {@code wd} is w's array, as
     * {@link #applies} found it) with w's packed copy for that orientation, made on first use; null when this M needs
     * another layout than the copy already made (the caller takes the plain path).
     */
    static INDArray mm(INDArray a, Tensor w, INDArray wd, boolean transW, INDArray bias) {
        return mm(a, w, wd, transW, bias, null);
    }

    /**
     * As above, plus {@code addend} (FLOAT, c's shape, exact c-order, or null) added to the result in the same pass
     * (a oneDNN post-op); null also when the addend is not such an array.
     */
    static INDArray mm(INDArray a, Tensor w, INDArray wd, boolean transW, INDArray bias, INDArray addend) {
        boolean bf16 = wd.dataType() == DataType.BFLOAT16;
        long n = transW ? wd.size(0) : wd.size(1);
        long[] cShape = a.shape().clone(); // [..., N]: a's leading dimensions, one row of c per row of a
        cShape[cShape.length - 1] = n;
        if (addend != null
                && (addend.dataType() != DataType.FLOAT
                        || !java.util.Arrays.equals(addend.shape(), cShape)
                        || !JavaArrays.exactCOrder(addend))) return null;
        INDArray ac = JavaArrays.exactCOrder(a) ? a : a.dup('c');
        long m = rows(ac), k = ac.size(ac.rank() - 1);
        if ((transW ? wd.size(1) : wd.size(0)) != k)
            throw new IllegalArgumentException(
                    "gemm: op(A) [" + m + ", " + k + "] · op(W) of " + java.util.Arrays.toString(wd.shape())
                            + (transW ? "ᵀ" : "") + (w.name() == null ? "" : " (" + w.name() + ")"));
        INDArray biasc = bias == null ? null : JavaArrays.biasRow(bias, n);
        var opA = new OneDnnMatmul.Operand(new long[] {m, k}, new long[] {k, 1}, bf16);
        var opW = new OneDnnMatmul.Operand(new long[] {k, n}, null, bf16);
        var opBias = biasc == null ? null : OneDnnMatmul.Operand.f32(new long[] {1, n}, n, 1);
        var opC = OneDnnMatmul.Operand.f32(new long[] {m, n}, n, 1);
        OneDnnMatmul.Prim p = OneDnnMatmul.primitive(opA, opW, opBias, opC, addend == null ? null : opC);
        Pointer packed = copy(w, wd, transW, k, n, bf16, p);
        if (packed == null) return null;
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, cShape, 'c');
        Pointer biasPtr = biasc == null ? null : Gemm.floatPointer(biasc); // a contiguous view may sit at an offset
        Pointer addPtr = addend == null ? null : Gemm.floatPointer(addend);
        if (bf16) {
            OneDnnBf16.execute(p, ac, packed, biasPtr, c, addPtr);
        } else {
            OneDnnMatmul.execute(
                    p, Gemm.floatPointer(ac), packed, biasPtr, c.data().addressPointer(), addPtr);
        }
        java.lang.ref.Reference.reachabilityFence(ac);
        java.lang.ref.Reference.reachabilityFence(addend);
        java.lang.ref.Reference.reachabilityFence(biasc);
        java.lang.ref.Reference.reachabilityFence(packed);
        return c;
    }

    /** w's packed copy for this orientation in p's layout (made now if w has none), or null if it has another. */
    private static Pointer copy(
            Tensor w, INDArray wd, boolean transW, long k, long n, boolean bf16, OneDnnMatmul.Prim p) {
        Copies copies = w.packed;
        if (copies == null || copies.source != wd) {
            synchronized (w) {
                copies = w.packed;
                if (copies == null || copies.source != wd) w.packed = copies = new Copies(wd);
            }
        }
        int o = transW ? 0 : 1;
        synchronized (copies) {
            Packed have = copies.byOrientation[o];
            if (have == null && !roomFor(OneDnnMatmul.packedBytes(p), w)) copies.byOrientation[o] = have = NONE;
            if (have == NONE) return null;
            if (have == null) {
                // W [out, in] row-major read as op(W) [k, n]: Wᵀ has strides (1, in), W itself (in, 1)
                long in = wd.size(1);
                var plain = new OneDnnMatmul.Operand(
                        new long[] {k, n}, transW ? new long[] {1, in} : new long[] {in, 1}, bf16);
                Pointer data = OneDnnMatmul.pack(plain, wd.data().addressPointer(), p);
                java.lang.ref.Reference.reachabilityFence(wd);
                copies.byOrientation[o] = have = new Packed(p, data);
                LoggerFactory.getLogger(PackedWeights.class)
                        .debug("packed {} {} for {}", w.name(), java.util.Arrays.toString(wd.shape()), p.impl());
            }
            return OneDnnMatmul.sameWeightsLayout(have.layoutOf(), p) ? have.data() : null;
        }
    }

    /**
     * Whether a packed copy of {@code bytes} may be made. Two limits: it must leave at least the reserve
     * ({@value #RESERVE_PROPERTY}) of the memory the kernel reports available ({@code MemAvailable}; in a container with
     * a memory limit, no more than the limit minus its use), and it must fit in the seven eighths of JavaCPP's own
     * allowance ({@code maxbytes}, enforced on every native allocation with an OutOfMemoryError) not yet taken. The
     * first refusal is logged.
     */
    static boolean roomFor(long bytes, Tensor w) {
        long avail = Pointer.availablePhysicalBytes(), total = Pointer.totalPhysicalBytes();
        if (avail <= 0) avail = Long.MAX_VALUE; // not known on this platform: JavaCPP's allowance alone decides
        if (total <= 0) total = Long.MAX_VALUE;
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                && os.getTotalMemorySize() > 0
                && os.getTotalMemorySize() < total) { // a container's limit: the JDK reads its cgroup
            total = os.getTotalMemorySize();
            avail = Math.min(avail, os.getFreeMemorySize());
        }
        long reserve = reserveBytes(total), max = Pointer.maxBytes(), tracked = Pointer.totalBytes();
        boolean physical = avail - bytes >= reserve;
        boolean javacpp = max <= 0 || tracked + bytes <= max - max / 8;
        if (physical && javacpp) return true;
        if (DECLINED.getAndIncrement() == 0) {
            String why = !physical
                    ? String.format(
                            "would leave %d MB of memory available, under the %d MB reserve (-D%s)",
                            Math.max(0, avail - bytes) >> 20, reserve >> 20, RESERVE_PROPERTY)
                    : String.format(
                            "would bring JavaCPP's native memory to %d MB of its %d MB limit"
                                    + " (-Dorg.bytedeco.javacpp.maxbytes; GPTNEO_OFFHEAP in ./gptneo)",
                            (tracked + bytes) >> 20, max >> 20);
            LoggerFactory.getLogger(PackedWeights.class)
                    .warn(
                            "not packing {} for oneDNN: its {} MB copy {}; such weights' products take the plain"
                                    + " path, which is slower (logged once)",
                            w.name() == null ? "a weight" : w.name(),
                            bytes >> 20,
                            why);
        }
        return false;
    }

    /** The reserve in bytes: {@value #RESERVE_PROPERTY} if set, else max(1024 MB, total / 8). */
    private static long reserveBytes(long total) {
        String v = System.getProperty(RESERVE_PROPERTY);
        if (v == null) return Math.max(1024L << 20, total == Long.MAX_VALUE ? 0 : total / 8);
        try {
            long mb = Long.parseLong(v.trim());
            if (mb < 0) throw new NumberFormatException("negative");
            return mb > Long.MAX_VALUE >> 20 ? Long.MAX_VALUE : mb << 20;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "-D" + RESERVE_PROPERTY + "=" + v + ": expected a whole number of MB (0 or more)");
        }
    }

    /** The policy in words, for benchmark records (with the copies not made for memory, if any). */
    static String describe() {
        String policy =
                switch (POLICY) {
                    case AUTO -> "packed for oneDNN in training steps, float32 ones in inference too (auto)";
                    case TRAIN -> "packed for oneDNN in training steps (train)";
                    case ALWAYS -> "packed for oneDNN (always)";
                    case OFF -> "plain (off)";
                };
        int declined = DECLINED.get();
        return declined == 0 ? policy : policy + "; " + declined + " copies not made for lack of memory";
    }

    /** For tests: how many copies {@link #roomFor} has declined in this process. */
    static int declined() {
        return DECLINED.get();
    }

    /** For tests: whether w holds a packed copy for this orientation. */
    static boolean hasCopy(Tensor w, boolean transW) {
        Copies c = w.packed;
        Packed p = c == null || c.source != w.data() ? null : c.byOrientation[transW ? 0 : 1];
        return p != null && p != NONE;
    }
}
