package io.gptneo.tensor;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;
import static org.bytedeco.dnnl.global.dnnl.dnnl_ab;
import static org.bytedeco.dnnl.global.dnnl.dnnl_ba;
import static org.bytedeco.dnnl.global.dnnl.dnnl_bf16;
import static org.bytedeco.dnnl.global.dnnl.dnnl_cpu;
import static org.bytedeco.dnnl.global.dnnl.dnnl_engine_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_f32;
import static org.bytedeco.dnnl.global.dnnl.dnnl_matmul_desc_init;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_desc_init_by_tag;
import static org.bytedeco.dnnl.global.dnnl.dnnl_memory_destroy;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_desc_query;
import static org.bytedeco.dnnl.global.dnnl.dnnl_primitive_execute;
import static org.bytedeco.dnnl.global.dnnl.dnnl_query_impl_info_str;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_create;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_default_flags;
import static org.bytedeco.dnnl.global.dnnl.dnnl_stream_wait;
import static org.bytedeco.dnnl.global.dnnl.dnnl_success;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.bytedeco.dnnl.const_dnnl_op_desc_t;
import org.bytedeco.dnnl.dnnl_engine;
import org.bytedeco.dnnl.dnnl_exec_arg_t;
import org.bytedeco.dnnl.dnnl_matmul_desc_t;
import org.bytedeco.dnnl.dnnl_memory;
import org.bytedeco.dnnl.dnnl_memory_desc_t;
import org.bytedeco.dnnl.dnnl_primitive;
import org.bytedeco.dnnl.dnnl_primitive_desc;
import org.bytedeco.dnnl.dnnl_stream;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.ShortPointer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.LoggerFactory;

/**
 * Fast bf16 product: oneDNN's matmul primitive with bf16 source and weights and an f32 destination (its
 * {@code brg:avx512_core_bf16} implementation where the CPU has AVX512_BF16). {@code a [M, K]} FLOAT is rounded to bf16
 * into a staging buffer; {@code b} is a BFLOAT16 array used in place. Reference: {@link Reference#bf16mm}; agreement:
 * {@code Bf16Test}. Primitives are made once per shape and kept.
 */
final class OneDnnBf16 {
    private OneDnnBf16() {}

    private static final dnnl_engine ENGINE;
    private static final dnnl_stream STREAM;
    /** The implementation oneDNN picks for a bf16 matmul here (e.g. brg:avx512_core_bf16), or null when unavailable. */
    static final String IMPLEMENTATION;

    static {
        dnnl_engine eng = null;
        dnnl_stream st = null;
        String impl = null;
        try {
            Loader.load(org.bytedeco.dnnl.global.dnnl.class);
            eng = new dnnl_engine();
            ok(dnnl_engine_create(eng, dnnl_cpu, 0), "engine");
            st = new dnnl_stream();
            ok(dnnl_stream_create(st, eng, dnnl_stream_default_flags), "stream");
            impl = primitive(64, 64, 64, false, eng).implementation;
        } catch (Throwable t) {
            LoggerFactory.getLogger(OneDnnBf16.class)
                    .info("oneDNN bf16 matmul unavailable ({}); bf16 products use the reference", t.toString());
            eng = null;
            st = null;
            impl = null;
        }
        ENGINE = eng;
        STREAM = st;
        IMPLEMENTATION = impl;
    }

    /** Whether oneDNN loaded and makes bf16 matmuls. */
    static boolean available() {
        return IMPLEMENTATION != null;
    }

    /** Whether the bf16 matmul runs on native bf16 instructions (oneDNN's avx512_core_bf16 or amx kernels). */
    static boolean nativeBf16() {
        return IMPLEMENTATION != null && (IMPLEMENTATION.contains("bf16") || IMPLEMENTATION.contains("amx"));
    }

    private record Key(long m, long k, long n, boolean transB) {}

    private record Prim(
            dnnl_primitive primitive,
            dnnl_memory_desc_t a,
            dnnl_memory_desc_t b,
            dnnl_memory_desc_t c,
            String implementation) {}

    private static final Map<Key, Prim> PRIMITIVES = new ConcurrentHashMap<>();

    private static Prim primitive(long m, long k, long n, boolean transB, dnnl_engine eng) {
        dnnl_memory_desc_t ad = new dnnl_memory_desc_t(), bd = new dnnl_memory_desc_t(), cd = new dnnl_memory_desc_t();
        ok(dnnl_memory_desc_init_by_tag(ad, 2, new long[] {m, k}, dnnl_bf16, dnnl_ab), "src desc");
        // weights as [K, N]: b is [N, K] row-major when transposed (tag ba), [K, N] row-major otherwise (tag ab)
        ok(
                dnnl_memory_desc_init_by_tag(bd, 2, new long[] {k, n}, dnnl_bf16, transB ? dnnl_ba : dnnl_ab),
                "weights desc");
        ok(dnnl_memory_desc_init_by_tag(cd, 2, new long[] {m, n}, dnnl_f32, dnnl_ab), "dst desc");
        dnnl_matmul_desc_t md = new dnnl_matmul_desc_t();
        ok(dnnl_matmul_desc_init(md, ad, bd, null, cd), "matmul desc");
        dnnl_primitive_desc pd = new dnnl_primitive_desc();
        ok(dnnl_primitive_desc_create(pd, new const_dnnl_op_desc_t(md), null, eng, null), "matmul primitive desc");
        PointerPointer<BytePointer> impl = new PointerPointer<>(1);
        ok(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl), "implementation query");
        dnnl_primitive prim = new dnnl_primitive();
        ok(dnnl_primitive_create(prim, pd), "matmul primitive");
        return new Prim(prim, ad, bd, cd, impl.getString(0));
    }

    /** {@code a [M, K] (FLOAT, or its transpose) · op(b) (BFLOAT16) + bias -> [M, N]} FLOAT, c-order. */
    static INDArray mm(INDArray a, INDArray b, boolean transA, boolean transB, INDArray bias) {
        INDArray ac = transA ? a.transpose().dup('c') : a;
        long m = ac.size(0), k = ac.size(1), n = transB ? b.size(0) : b.size(1);
        INDArray bc = JavaArrays.exactCOrder(b) ? b : b.dup('c');
        Prim p = PRIMITIVES.computeIfAbsent(new Key(m, k, n, transB), key -> primitive(m, k, n, transB, ENGINE));
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, new long[] {m, n}, 'c');
        try (ShortPointer a16 = new ShortPointer(m * k);
                FloatView av = FloatView.read(ac)) {
            Bf16.roundInto(av, a16);
            execute(p, a16, bc.data().addressPointer(), c.data().addressPointer());
        }
        java.lang.ref.Reference.reachabilityFence(bc);
        return bias == null ? c : c.addiRowVector(bias.reshape(n));
    }

    private static synchronized void execute(Prim p, Pointer a, Pointer b, Pointer c) {
        dnnl_memory am = new dnnl_memory(), bm = new dnnl_memory(), cm = new dnnl_memory();
        ok(dnnl_memory_create(am, p.a(), ENGINE, a), "src memory");
        ok(dnnl_memory_create(bm, p.b(), ENGINE, b), "weights memory");
        ok(dnnl_memory_create(cm, p.c(), ENGINE, c), "dst memory");
        try (dnnl_exec_arg_t args = new dnnl_exec_arg_t(3)) {
            args.position(0).arg(DNNL_ARG_SRC).memory(am);
            args.position(1).arg(DNNL_ARG_WEIGHTS).memory(bm);
            args.position(2).arg(DNNL_ARG_DST).memory(cm);
            ok(dnnl_primitive_execute(p.primitive(), STREAM, 3, args.position(0)), "matmul");
            ok(dnnl_stream_wait(STREAM), "stream wait");
        } finally {
            dnnl_memory_destroy(am);
            dnnl_memory_destroy(bm);
            dnnl_memory_destroy(cm);
        }
    }

    private static void ok(int status, String what) {
        if (status != dnnl_success) throw new IllegalStateException("oneDNN " + what + " failed with status " + status);
    }

    static String describe() {
        return available() ? "oneDNN " + IMPLEMENTATION : "reference (oneDNN unavailable)";
    }
}
