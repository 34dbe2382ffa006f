package io.gptneo.lora;

import static org.junit.jupiter.api.Assertions.*;

import io.gptneo.model.Linear;
import io.gptneo.tensor.GradCheck;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class LoraLinearTest {
    static final String Q = "transformer.h.0.attn.attention.q_proj";

    static Linear linear(String name, DataType dt, long out, long in, long seed) {
        return new Linear(
                name,
                Tensor.constant(Rand.uniform(dt, seed, -0.5, 0.5, out, in)),
                Tensor.constant(Rand.uniform(dt, seed + 1, -0.1, 0.1, out)));
    }

    static LoraConfig cfg(int r, double alpha, double dropout) {
        return LoraConfig.of(r, alpha, dropout, List.of("q_proj", "v_proj"));
    }

    @Test
    void kaimingInitBoundIsOneOverSqrtInAndBIsZero() {
        Linear lin = linear(Q, DataType.DOUBLE, 24, 64, 1);
        LoraLinear l = new LoraLinear(lin, 0, cfg(16, 32, 0), 7);
        INDArray a = l.loraA().data();
        assertArrayEquals(new long[] {16, 64}, a.shape());
        assertArrayEquals(new long[] {24, 16}, l.loraB().data().shape());
        double bound = 1 / Math.sqrt(64); // 0.125
        assertTrue(a.amaxNumber().doubleValue() <= bound);
        assertTrue(a.amaxNumber().doubleValue() > 0.95 * bound, "samples should fill the range");
        assertEquals(0, a.meanNumber().doubleValue(), 0.01);
        // variance of uniform(±b) is b²/3
        assertEquals(bound * bound / 3, a.varNumber().doubleValue(), 0.1 * bound * bound / 3);
        assertEquals(0, l.loraB().data().amaxNumber().doubleValue());
        assertEquals(2.0, l.scaling());
        // same seed, same A; another seed, another A
        assertEquals(
                a,
                new LoraLinear(linear(Q, DataType.DOUBLE, 24, 64, 1), 0, cfg(16, 32, 0), 7)
                        .loraA()
                        .data());
        assertNotEquals(
                a,
                new LoraLinear(linear(Q, DataType.DOUBLE, 24, 64, 1), 0, cfg(16, 32, 0), 8)
                        .loraA()
                        .data());
    }

    @Test
    void gaussianInitHasStdOneOverR() {
        LoraLinear l = new LoraLinear(
                linear(Q, DataType.DOUBLE, 8, 256, 1), 0, cfg(8, 16, 0).withInit(LoraConfig.Init.GAUSSIAN), 3);
        assertEquals(1.0 / 8, Math.sqrt(l.loraA().data().varNumber().doubleValue()), 0.01);
    }

    @Test
    void rsLoraScalingIsAlphaOverSqrtR() {
        assertEquals(8.0 / 4, cfg(4, 8, 0).scaling());
        assertEquals(8.0 / 2, cfg(4, 8, 0).withRsLora(true).scaling());
    }

    @Test
    void forwardAddsScaledLowRankProduct() {
        Linear lin = linear(Q, DataType.DOUBLE, 6, 5, 1);
        INDArray x = Rand.uniform(DataType.DOUBLE, 9, -1, 1, 2, 3, 5);
        INDArray base = lin.forward(Tensor.constant(x)).data().dup();
        LoraLinear l = new LoraLinear(lin, 0, cfg(2, 6, 0), 4);
        assertEquals(base, lin.forward(Tensor.constant(x)).data(), "B = 0: adapter starts as the identity");
        l.loraB().setData(Rand.uniform(DataType.DOUBLE, 10, -1, 1, 6, 2));
        INDArray y = lin.forward(Tensor.constant(x)).data();
        // by hand: y = base + x Aᵀ Bᵀ · 3
        INDArray x2 = x.reshape(6, 5);
        INDArray expect = base.reshape(6, 6)
                .add(x2.mmul(l.loraA().data().transpose())
                        .mmul(l.loraB().data().transpose())
                        .mul(3.0));
        assertTrue(expect.equalsWithEps(y.reshape(6, 6), 1e-12));
    }

    @Test
    void gradientsReachAAndBButNotTheFrozenWeight() {
        Linear lin = linear(Q, DataType.DOUBLE, 4, 3, 1);
        LoraLinear l = new LoraLinear(lin, 0, cfg(2, 4, 0), 4);
        l.loraB().setData(Rand.uniform(DataType.DOUBLE, 10, -1, 1, 4, 2));
        Tensor x = Tensor.parameter(Rand.uniform(DataType.DOUBLE, 11, -1, 1, 2, 3));
        double err =
                GradCheck.maxRelativeError(in -> lin.forward(in[0]), new Tensor[] {x, l.loraA(), l.loraB()}, 1e-6, 5);
        assertTrue(err < 1e-7, "relative error " + err);
        assertNull(lin.weight().grad());
        assertFalse(lin.weight().requiresGrad());
        assertNotNull(l.loraA().grad());
    }

    @Test
    void mergedOutputEqualsUnmergedAndUnmergeRestoresWeight() {
        Linear lin = linear(Q, DataType.FLOAT, 32, 32, 1);
        INDArray w0 = lin.weight().data().dup();
        LoraLinear l = new LoraLinear(lin, 0, cfg(4, 8, 0.1), 4);
        l.setTraining(false);
        l.loraB().setData(Rand.uniform(DataType.FLOAT, 10, -0.5, 0.5, 32, 4));
        Tensor x = Tensor.constant(Rand.uniform(DataType.FLOAT, 11, -1, 1, 2, 7, 32));
        INDArray unmerged = lin.forward(x).data().dup();
        l.merge();
        assertTrue(l.isMerged());
        assertNull(lin.adapter(), "merged: the forward uses W alone");
        INDArray merged = lin.forward(x).data();
        assertTrue(
                unmerged.equalsWithEps(merged, 1e-5),
                "max diff " + unmerged.sub(merged).amaxNumber());
        assertThrows(IllegalStateException.class, () -> l.delta(x));
        l.merge(); // idempotent
        l.unmerge();
        assertSame(l, lin.adapter());
        double diff = lin.weight().data().sub(w0).amaxNumber().doubleValue();
        assertTrue(diff < 1e-6, "unmerge error " + diff);
        assertTrue(unmerged.equalsWithEps(lin.forward(x).data(), 1e-5));
    }

    @Test
    void dropoutIsSeededByStepAndIndexAndOffInEval() {
        Linear lin = linear(Q, DataType.DOUBLE, 8, 16, 1);
        LoraLinear l = new LoraLinear(lin, 3, cfg(4, 8, 0.5), 4);
        l.loraB().setData(Rand.uniform(DataType.DOUBLE, 10, -1, 1, 8, 4));
        Tensor x = Tensor.constant(Rand.uniform(DataType.DOUBLE, 11, -1, 1, 4, 16));
        l.setStepSeed(100);
        INDArray d1 = l.delta(x).data().dup();
        INDArray d2 = l.delta(x).data().dup();
        assertEquals(d1, d2, "same step seed: same mask on every call (recompute-safe)");
        l.setStepSeed(101);
        assertNotEquals(d1, l.delta(x).data());
        l.setTraining(false);
        INDArray eval = l.delta(x).data();
        INDArray expect = x.data()
                .mmul(l.loraA().data().transpose())
                .mmul(l.loraB().data().transpose())
                .mul(2.0);
        assertTrue(expect.equalsWithEps(eval, 1e-12));
        // another adapter index gets another mask at the same step seed
        LoraLinear other = new LoraLinear(
                linear("transformer.h.1.attn.attention.q_proj", DataType.DOUBLE, 8, 16, 1), 4, cfg(4, 8, 0.5), 4);
        other.setStepSeed(100);
        assertNotEquals(l.dropoutSeed(), seedAt(other, 100));
        // dropout applied to x: with A = I-like probes, about half of the inputs vanish
        l.setTraining(true);
        l.setStepSeed(100);
        Tensor ones = Tensor.constant(Nd4j.ones(DataType.DOUBLE, 1, 16));
        Tensor dropped = Ops.dropout(ones, 0.5, l.dropoutSeed());
        long zeros = dropped.data().eq(0).castTo(DataType.INT32).sumNumber().longValue();
        assertTrue(zeros > 2 && zeros < 14, "zeros " + zeros);
    }

    private static long seedAt(LoraLinear l, long step) {
        l.setStepSeed(step);
        return l.dropoutSeed();
    }

    @Test
    void targetMatchingByNameAndRegex() {
        LoraConfig names = cfg(2, 4, 0);
        assertTrue(names.targets("transformer.h.3.attn.attention.q_proj"));
        assertTrue(names.targets("transformer.h.3.attn.attention.v_proj"));
        assertFalse(names.targets("transformer.h.3.attn.attention.k_proj"));
        assertFalse(names.targets("transformer.h.3.attn.attention.xq_proj"), "suffix match is by whole segment");
        LoraConfig regex = LoraConfig.of(2, 4, 0, List.of(".*\\.h\\.[01]\\..*(c_fc|out_proj)"));
        assertTrue(regex.targetIsRegex());
        assertTrue(regex.targets("transformer.h.1.mlp.c_fc"));
        assertTrue(regex.targets("transformer.h.0.attn.attention.out_proj"));
        assertFalse(regex.targets("transformer.h.2.mlp.c_fc"));
        assertFalse(regex.targets("transformer.h.1.mlp.c_proj"));
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(0, 4, 0, List.of("q_proj")));
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(2, 4, 1.0, List.of("q_proj")));
        assertThrows(IllegalArgumentException.class, () -> LoraConfig.of(2, 4, 0, List.of()));
    }

    /** A two-layer fake model: every GPT-Neo linear name, 4 hidden, so counts are checkable by hand. */
    static Map<String, Linear> fakeLinears(DataType dt) {
        Map<String, Linear> m = new LinkedHashMap<>();
        for (int layer : new int[] {10, 2}) { // out of order on purpose: injection sorts h.2 before h.10
            String p = "transformer.h." + layer + ".";
            for (String n : List.of(
                    "attn.attention.q_proj",
                    "attn.attention.k_proj",
                    "attn.attention.v_proj",
                    "attn.attention.out_proj")) {
                m.put(p + n, linear(p + n, dt, 4, 4, layer * 100L + n.length()));
            }
            m.put(p + "mlp.c_fc", linear(p + "mlp.c_fc", dt, 16, 4, layer));
            m.put(p + "mlp.c_proj", linear(p + "mlp.c_proj", dt, 4, 16, layer + 1));
        }
        return m;
    }

    @Test
    void injectionNamesAndSummary() {
        Map<String, Linear> lin = fakeLinears(DataType.FLOAT);
        Map<String, Tensor> params = new LinkedHashMap<>();
        lin.values().forEach(l -> {
            params.put(l.name() + ".weight", l.weight());
            params.put(l.name() + ".bias", l.bias());
        });
        Tensor score = Tensor.parameter(Nd4j.zeros(DataType.FLOAT, 1, 4)).named("score.weight");
        params.put("score.weight", score);
        LoraModel m = LoraModel.inject(lin, params, Map.of("score.weight", score), cfg(2, 4, 0), 1);
        assertEquals(
                List.of(
                        "base_model.model.transformer.h.2.attn.attention.q_proj.lora_A.weight",
                        "base_model.model.transformer.h.2.attn.attention.q_proj.lora_B.weight",
                        "base_model.model.transformer.h.2.attn.attention.v_proj.lora_A.weight",
                        "base_model.model.transformer.h.2.attn.attention.v_proj.lora_B.weight",
                        "base_model.model.transformer.h.10.attn.attention.q_proj.lora_A.weight",
                        "base_model.model.transformer.h.10.attn.attention.q_proj.lora_B.weight",
                        "base_model.model.transformer.h.10.attn.attention.v_proj.lora_A.weight",
                        "base_model.model.transformer.h.10.attn.attention.v_proj.lora_B.weight",
                        "base_model.model.score.weight"),
                List.copyOf(m.namedTrainable().keySet()));
        // base: per layer 4·(16+4) + (64+16) + (64+4) = 228, two layers 456, score 4 -> 460; LoRA 4 adapters · 16 = 64
        assertEquals(64 + 4, m.trainableParamCount());
        assertEquals(460 + 64, m.allParamCount());
        assertEquals("trainable params: 68 || all params: 524 || trainable%: 12.9771", m.trainableSummary());
        assertNotNull(lin.get("transformer.h.2.attn.attention.q_proj").adapter());
        assertNull(lin.get("transformer.h.2.attn.attention.k_proj").adapter());
        assertThrows(
                IllegalStateException.class,
                () -> LoraModel.inject(lin, params, Map.of(), cfg(2, 4, 0), 1),
                "already injected");
        m.eject();
        assertNull(lin.get("transformer.h.2.attn.attention.q_proj").adapter());
        assertThrows(
                IllegalArgumentException.class,
                () -> LoraModel.inject(lin, params, Map.of(), LoraConfig.of(2, 4, 0, List.of("query")), 1));
        // every target family by regex
        LoraModel all = LoraModel.inject(lin, params, Map.of(), LoraConfig.of(2, 4, 0, List.of(".*")), 1);
        assertEquals(12, all.adapters().size());
        assertEquals(
                List.of(0, 1),
                all.adapters().stream().limit(2).map(LoraLinear::index).toList());
    }
}
