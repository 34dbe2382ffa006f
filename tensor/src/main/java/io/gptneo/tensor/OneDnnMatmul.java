package io.gptneo.tensor;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC_1;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.dnnl_bf16;
import static org.bytedeco.dnnl.global.dnnl.dnnl_binary_add;
import static org.bytedeco.dnnl.global.dnnl.dnnl_cpu;
import static org.bytedeco.dnnl.global.dnnl.dnnl_engine_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_f32;
import static org.bytedeco.dnnl.global.dnnl.dnnl_format_tag_any;
import static org.bytedeco.dnnl.global.dnnl.dnnl_matmul_desc_init;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_equal;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_get_size;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_init_by_strides;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_init_by_tag;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_set_data_handle;
import static org.bytedeco.dnnl.global.dnnl.dnnl_post_ops_append_binary;
import static org.bytedeco.dnnl.global.dnnl.dnnl_post_ops_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_post_ops_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_attr_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_attr_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_attr_set_post_ops;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_query;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_query_md;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_execute;
import static org.bytedeco.dnnl.global.dnnl.dnnl_query_impl_info_str;
import static org.bytedeco.dnnl.global.dnnl.dnnl_query_weights_md;
import static org.bytedeco.dnnl.global.dnnl.dnnl_reorder_primitive_desc_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_default_flags;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_wait;
import static org.bytedeco.dnnl.global.dnnl.dnnl_success;

import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.dnnl.const_dnnl_op_desc_t;
import org.bytedeco.dnnl.dnnl_engine;
import org.bytedeco.dnnl.dnnl_exec_arg_t;
import org.bytedeco.dnnl.dnnl_matmul_desc_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_post_ops;
import org.bytedeco.dnnl.dnnl_primitive;
import org.bytedeco.dnnl.dnnl_primitive_attr;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.slf4j.LoggerFactory;

/**
 * oneDNN's matmul primitive, {@code C = A · B} over operands described by their dimensions and element strides, so
 * that batched products ({@code [..., M, K] · [..., K, N]}) read strided views in place: a transpose is a swap of two
 * strides, a head of a packed {@code [B, T, H·D]} array is {@code [B, H, T, D]} with strides {@code (T·H·D, D, H·D, 1)}.
 * Used by {@link OneDnnBf16} (bf16 weights) and the attention's batched score products. Primitives are created once
 * per operand description and kept; execution is serialised on one stream.
 */
public final class OneDnnMatmul {
    private OneDnnMatmul() {}

    /**
     * One operand: dimensions, element strides (same rank) and whether its elements are bf16 (else float32). Null
     * strides: whatever layout oneDNN prefers (format {@code any}; for weights that {@link #pack} lays out).
     */
    public record Operand(long[] dims, long[] strides, boolean bf16) {
        public Operand {
            if (strides != null && dims.length != strides.length)
                throw new IllegalArgumentException("dims " + Arrays.toString(dims) + " and strides "
                        + Arrays.toString(strides) + " differ in rank");
        }

        /** A float32 operand. */
        public static Operand f32(long[] dims, long... strides) {
            return new Operand(dims, strides, false);
        }

        /** The same memory read as its transpose over the last two dimensions. */
        public Operand transposed() {
            int r = dims.length;
            long[] d = dims.clone(), s = strides.clone();
            d[r - 2] = dims[r - 1];
            d[r - 1] = dims[r - 2];
            s[r - 2] = strides[r - 1];
            s[r - 1] = strides[r - 2];
            return new Operand(d, s, bf16);
        }

        String key() {
            return Arrays.toString(dims) + Arrays.toString(strides) + bf16;
        }
    }

    private static final dnnl_engine ENGINE;
    private static final dnnl_stream STREAM;
    /** Why oneDNN is unavailable, or null when it loaded. */
    private static final String UNAVAILABLE;

    static {
        dnnl_engine eng = null;
        dnnl_stream st = null;
        String why = null;
        try {
            Loader.load(org.bytedeco.dnnl.global.dnnl.class);
            eng = new dnnl_engine();
            ok(dnnl_engine_create(eng, dnnl_cpu, 0), "engine");
            st = new dnnl_stream();
            ok(dnnl_stream_create(st, eng, dnnl_stream_default_flags), "stream");
        } catch (Throwable t) { // no dnnl jar or natives for this platform
            LoggerFactory.getLogger(OneDnnMatmul.class).info("oneDNN matmul unavailable ({})", t.toString());
            why = t.toString();
            eng = null;
            st = null;
        }
        ENGINE = eng;
        STREAM = st;
        UNAVAILABLE = why;
    }

    /** Whether oneDNN loaded. */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /**
     * A primitive for one operand description (bias, addend null: none), with the implementation oneDNN chose (e.g.
     * gemm:jit). {@code b} is the weights' layout the primitive reads: the operand's own, or the one oneDNN chose for
     * format any. An addend is a float32 array of c's shape added to the result in the same pass (a binary post-op).
     */
    record Prim(
            dnnl_primitive primitive,
            dnnl_memory_desc_t a,
            dnnl_memory_desc_t b,
            dnnl_memory_desc_t bias,
            dnnl_memory_desc_t c,
            dnnl_memory_desc_t addend,
            String impl,
            Bound bound) {}

    /**
     * A primitive's execution arguments, made once and re-pointed at each call's operands
     * ({@code dnnl_memory_set_data_handle}): creating and destroying three or four memory objects per call cost about
     * 1% of a bf16 training step in JavaCPP's bookkeeping. Used under {@link #execute}'s lock only.
     */
    static final class Bound {
        final dnnl_memory[] mem;
        final dnnl_exec_arg_t args;
        /** Index into {@link #mem} of operand a, b, c, bias, addend (in that order), -1 where there is none. */
        final int[] slot;

        /** {@code desc}: a, b, c, bias, addend, each null where the primitive has none. */
        Bound(dnnl_memory_desc_t[] desc) {
            int[] arg = {
                DNNL_ARG_SRC,
                DNNL_ARG_WEIGHTS,
                DNNL_ARG_DST,
                DNNL_ARG_BIAS,
                DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | DNNL_ARG_SRC_1 // the first post-op's second source
            };
            slot = new int[desc.length];
            int used = 0;
            for (int i = 0; i < desc.length; i++) slot[i] = desc[i] == null ? -1 : used++;
            mem = new dnnl_memory[used];
            args = new dnnl_exec_arg_t(used);
            for (int i = 0; i < desc.length; i++) {
                if (slot[i] < 0) continue;
                dnnl_memory m = mem[slot[i]] = new dnnl_memory();
                ok(dnnl_memory_create(m, desc[i], ENGINE, (Pointer) null), "matmul argument " + i + " memory");
                args.position(slot[i]).arg(arg[i]).memory(m);
            }
            args.position(0);
        }
    }

    private static final Map<String, Prim> PRIMITIVES = new ConcurrentHashMap<>();

    /** The (cached) primitive for {@code a · b -> c}. */
    static Prim primitive(Operand a, Operand b, Operand c) {
        return primitive(a, b, null, c);
    }

    /** The (cached) primitive for {@code a · b + bias -> c}; bias {@code [1, N]} (broadcast over rows) or null. */
    static Prim primitive(Operand a, Operand b, Operand bias, Operand c) {
        return primitive(a, b, bias, c, null);
    }

    /**
     * The (cached) primitive for {@code a · b + bias + addend -> c}: bias {@code [1, N]} or null; addend a float32
     * operand of c's dimensions (its own strides), added in the same pass as a binary post-op, or null.
     */
    static Prim primitive(Operand a, Operand b, Operand bias, Operand c, Operand addend) {
        if (!available()) throw new IllegalStateException("oneDNN matmul unavailable: " + UNAVAILABLE);
        if (addend != null && (addend.bf16() || !Arrays.equals(addend.dims(), c.dims())))
            throw new IllegalArgumentException("matmul: addend " + Arrays.toString(addend.dims())
                    + (addend.bf16() ? " bf16" : "") + " for a float32 result " + Arrays.toString(c.dims()));
        String key = a.key()
                + b.key()
                + (bias == null ? "-" : bias.key())
                + c.key()
                + (addend == null ? "" : "+" + addend.key());
        return PRIMITIVES.computeIfAbsent(key, k -> create(a, b, bias, c, addend));
    }

    private static Prim create(Operand a, Operand b, Operand bias, Operand c, Operand addend) {
        dnnl_memory_desc_t ad = desc(a, "src"), bd = desc(b, "weights"), cd = desc(c, "dst");
        dnnl_memory_desc_t biasd = bias == null ? null : desc(bias, "bias");
        dnnl_memory_desc_t addd = addend == null ? null : desc(addend, "addend");
        dnnl_matmul_desc_t md = new dnnl_matmul_desc_t();
        ok(dnnl_matmul_desc_init(md, ad, bd, biasd, cd), "matmul desc " + shapes(a, b, c));
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        dnnl_primitive_attr attr = null;
        dnnl_post_ops post = null;
        try {
            if (addd != null) {
                attr = new dnnl_primitive_attr();
                ok(dnnl_primitive_attr_create(attr), "primitive attributes");
                post = new dnnl_post_ops();
                ok(dnnl_post_ops_create(post), "post-ops");
                ok(dnnl_post_ops_append_binary(post, dnnl_binary_add, addd), "binary add post-op");
                ok(dnnl_primitive_attr_set_post_ops(attr, post), "post-op attribute");
            }
            ok(
                    dnnl_primitive_desc_create(pd, new const_dnnl_op_desc_t(md), attr, ENGINE, null),
                    "matmul " + shapes(a, b, c) + (addd == null ? "" : " + addend"));
        } finally { // the primitive descriptor keeps its own copy of the attributes
            if (post != null && !post.isNull()) dnnl_post_ops_destroy(post);
            if (attr != null && !attr.isNull()) dnnl_primitive_attr_destroy(attr);
        }
        PointerPointer<BytePointer> impl = new PointerPointer<>(1);
        ok(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl), "implementation query");
        if (b.strides() == null) { // the layout oneDNN chose, copied out of the primitive descriptor
            dnnl_memory_desc_t chosen = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
            if (chosen == null || chosen.isNull())
                throw new IllegalStateException("oneDNN matmul " + shapes(a, b, c) + ": no weights layout");
            bd = new dnnl_memory_desc_t();
            Pointer.memcpy(bd, chosen, chosen.sizeof());
        }
        dnnl_primitive prim = new dnnl_primitive();
        ok(dnnl_primitive_create(prim, pd), "matmul primitive " + shapes(a, b, c));
        Bound bound = new Bound(new dnnl_memory_desc_t[] {ad, bd, cd, biasd, addd});
        return new Prim(prim, ad, bd, biasd, cd, addd, impl.getString(0), bound);
    }

    private static dnnl_memory_desc_t desc(Operand o, String what) {
        dnnl_memory_desc_t d = new dnnl_memory_desc_t();
        int dt = o.bf16() ? dnnl_bf16 : dnnl_f32;
        ok(
                o.strides() == null
                        ? dnnl_memory_desc_init_by_tag(d, o.dims().length, o.dims(), dt, dnnl_format_tag_any)
                        : dnnl_memory_desc_init_by_strides(d, o.dims().length, o.dims(), dt, o.strides()),
                what + " desc " + Arrays.toString(o.dims()));
        return d;
    }

    /** Bytes of a copy of p's weights in the layout p reads them in ({@link #pack}). */
    static long packedBytes(Prim p) {
        return dnnl_memory_desc_get_size(p.b());
    }

    /**
     * {@code b} (at {@code pb}, in the operand's own strides) copied into the weights layout {@code p} reads (a
     * primitive made with {@link Operand#strides()} null): a new native buffer, freed when it is collected.
     */
    static Pointer pack(Operand b, Pointer pb, Prim p) {
        dnnl_memory_desc_t from = desc(b, "weights");
        BytePointer to = new BytePointer(dnnl_memory_desc_get_size(p.b()));
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        ok(dnnl_reorder_primitive_desc_create(pd, from, ENGINE, p.b(), ENGINE, null), "weights reorder descriptor");
        dnnl_primitive reorder = new dnnl_primitive();
        ok(dnnl_primitive_create(reorder, pd), "weights reorder");
        dnnl_memory src = new dnnl_memory(), dst = new dnnl_memory();
        synchronized (OneDnnMatmul.class) { // the stream is shared with execute
            try (dnnl_exec_arg_t args = new dnnl_exec_arg_t(2)) {
                ok(dnnl_memory_create(src, from, ENGINE, pb), "reorder source memory");
                ok(dnnl_memory_create(dst, p.b(), ENGINE, to), "reorder target memory");
                args.position(0).arg(DNNL_ARG_FROM).memory(src);
                args.position(1).arg(DNNL_ARG_TO).memory(dst);
                ok(dnnl_primitive_execute(reorder, STREAM, 2, args.position(0)), "weights reorder");
                ok(dnnl_stream_wait(STREAM), "stream wait");
            } finally {
                if (!src.isNull()) dnnl_memory_destroy(src);
                if (!dst.isNull()) dnnl_memory_destroy(dst);
                dnnl_primitive_destroy(reorder);
                dnnl_primitive_desc_destroy(pd);
            }
        }
        return to;
    }

    /** Whether two primitives read their weights in the same layout (so one packed copy serves both). */
    static boolean sameWeightsLayout(Prim x, Prim y) {
        return x == y || dnnl_memory_desc_equal(x.b(), y.b()) != 0;
    }

    private static String shapes(Operand a, Operand b, Operand c) {
        return Arrays.toString(a.dims()) + " · " + Arrays.toString(b.dims()) + " -> " + Arrays.toString(c.dims());
    }

    /** {@code c = a · b}, operands at the given addresses (first elements); c is overwritten. */
    public static void run(Operand a, Pointer pa, Operand b, Pointer pb, Operand c, Pointer pc) {
        execute(primitive(a, b, c), pa, pb, null, pc);
    }

    /** {@code c = a · b + bias}, bias {@code [1, N]} added to every row of c. */
    public static void run(
            Operand a, Pointer pa, Operand b, Pointer pb, Operand bias, Pointer pbias, Operand c, Pointer pc) {
        execute(primitive(a, b, bias, c), pa, pb, pbias, pc);
    }

    static void execute(Prim p, Pointer a, Pointer b, Pointer c) {
        execute(p, a, b, null, c, null);
    }

    /** {@link #execute(Prim, Pointer, Pointer, Pointer)} with the bias operand (null when the primitive has none). */
    static void execute(Prim p, Pointer a, Pointer b, Pointer bias, Pointer c) {
        execute(p, a, b, bias, c, null);
    }

    /** ... and the addend (null when the primitive has none). */
    static synchronized void execute(Prim p, Pointer a, Pointer b, Pointer bias, Pointer c, Pointer addend) {
        if ((p.bias() == null) != (bias == null))
            throw new IllegalArgumentException("matmul: bias pointer " + (bias == null ? "missing" : "given")
                    + " for a primitive " + (p.bias() == null ? "without" : "with") + " a bias");
        if ((p.addend() == null) != (addend == null))
            throw new IllegalArgumentException("matmul: addend pointer " + (addend == null ? "missing" : "given")
                    + " for a primitive " + (p.addend() == null ? "without" : "with") + " an addend");
        Bound bound = p.bound();
        Pointer[] ptr = {a, b, c, bias, addend};
        try {
            for (int i = 0; i < ptr.length; i++) {
                if (bound.slot[i] >= 0)
                    ok(
                            dnnl_memory_set_data_handle(bound.mem[bound.slot[i]], ptr[i]),
                            "matmul argument " + i + " handle");
            }
            ok(dnnl_primitive_execute(p.primitive(), STREAM, bound.mem.length, bound.args), "matmul");
            ok(dnnl_stream_wait(STREAM), "stream wait");
        } finally { // no dangling handles to memory a caller may free
            for (dnnl_memory m : bound.mem) dnnl_memory_set_data_handle(m, (Pointer) null);
        }
    }

    private static void ok(int status, String what) {
        if (status != dnnl_success) throw new IllegalStateException("oneDNN " + what + " failed with status " + status);
    }
}
