package io.gptneo.train.optim;

import static org.junit.jupiter.api.Assertions.*;

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

class AdamWTest {
    static final double B1 = 0.9, B2 = 0.999, EPS = 1e-8;

    /** Scalar reference of both variants, straight from the published update rules, in double. */
    static final class Ref {
        double p, m, v;
        int t;

        Ref(double p) {
            this.p = p;
        }

        void torch(double g, double lr, double wd) {
            t++;
            p *= 1 - lr * wd;
            m = B1 * m + (1 - B1) * g;
            v = B2 * v + (1 - B2) * g * g;
            double mHat = m / (1 - Math.pow(B1, t)), vHat = v / (1 - Math.pow(B2, t));
            p -= lr * mHat / (Math.sqrt(vHat) + EPS);
        }

        void hf(double g, double lr, double wd) {
            t++;
            m = B1 * m + (1 - B1) * g;
            v = B2 * v + (1 - B2) * g * g;
            double stepSize = lr * Math.sqrt(1 - Math.pow(B2, t)) / (1 - Math.pow(B1, t));
            p -= stepSize * m / (Math.sqrt(v) + EPS);
            p -= lr * wd * p;
        }
    }

    static final double[] P0 = {0.5, -1.25, 2.0, 1e-3};
    static final double[][] GRADS = {{0.1, -0.2, 3.0, 1e-9}, {-0.3, 0.05, 2.0, 2e-9}, {0.2, 0.2, -1.0, -1e-9}};
    static final double[] LRS = {0.01, 0.02, 0.005};

    private static Tensor param() {
        return Tensor.parameter(Nd4j.createFromArray(P0.clone()));
    }

    private static void setGrad(Tensor p, double[] g) {
        p.zeroGrad();
        // backward of sum(p ⊙ g) leaves exactly g in p.grad
        Ops.sum(Ops.mul(p, Tensor.constant(Nd4j.createFromArray(g.clone())))).backward();
    }

    @Test
    void torchVariantMatchesReferenceOverThreeSteps() {
        runAgainstReference(AdamW.Variant.TORCH, 0.1);
    }

    @Test
    void hfVariantMatchesReferenceOverThreeSteps() {
        runAgainstReference(AdamW.Variant.HF, 0.1);
    }

    private void runAgainstReference(AdamW.Variant variant, double wd) {
        Tensor p = param();
        AdamW opt = new AdamW(ParamGroup.single(Map.of("w", p), wd), B1, B2, EPS, variant);
        Ref[] ref = new Ref[P0.length];
        for (int i = 0; i < ref.length; i++) ref[i] = new Ref(P0[i]);
        for (int s = 0; s < GRADS.length; s++) {
            setGrad(p, GRADS[s]);
            opt.step(LRS[s]);
            for (int i = 0; i < ref.length; i++) {
                if (variant == AdamW.Variant.TORCH) ref[i].torch(GRADS[s][i], LRS[s], wd);
                else ref[i].hf(GRADS[s][i], LRS[s], wd);
                assertEquals(ref[i].p, p.data().getDouble(i), 1e-15, variant + " step " + (s + 1) + " element " + i);
            }
        }
        assertEquals(3, opt.stepCount());
    }

    /** Small parameters take the Java loop, large ones the ND4J operations: both give the same trajectory. */
    @Test
    void javaLoopAndNd4jOperationsAgree() {
        for (AdamW.Variant variant : AdamW.Variant.values()) {
            for (DataType dt : new DataType[] {DataType.FLOAT, DataType.DOUBLE}) {
                double[][] results = new double[2][];
                for (int path = 0; path < 2; path++) {
                    int javaMax = path == 0 ? AdamW.JAVA_MAX : 0; // 0: every parameter through ND4J
                    Tensor p = Tensor.parameter(Rand.normal(dt, 5, 1.0, 7, 3));
                    AdamW opt = new AdamW(ParamGroup.single(Map.of("w", p), 0.05), B1, B2, EPS, variant, javaMax);
                    for (int s = 0; s < 4; s++) {
                        p.zeroGrad();
                        Ops.sum(Ops.mul(p, Tensor.constant(Rand.normal(dt, 10 + s, 1.0, 7, 3))))
                                .backward();
                        opt.step(0.01 * (s + 1));
                    }
                    results[path] =
                            p.data().dup().castTo(DataType.DOUBLE).data().asDouble();
                }
                double tol = dt == DataType.FLOAT ? 2e-6 : 1e-14;
                for (int i = 0; i < results[0].length; i++) {
                    assertEquals(
                            results[1][i],
                            results[0][i],
                            tol * (1 + Math.abs(results[1][i])),
                            variant + " " + dt + " element " + i);
                }
            }
        }
    }

    @Test
    void firstTorchStepIsDecayThenSignStep() {
        // step 1: m̂ = g, v̂ = g², so p1 = p0(1 − lr·wd) − lr·g/(|g| + ε)
        Tensor p = param();
        AdamW opt = AdamW.torch(ParamGroup.single(Map.of("w", p), 0.1));
        setGrad(p, GRADS[0]);
        opt.step(0.01);
        assertEquals(0.5 * 0.999 - 0.01 * 0.1 / (0.1 + EPS), p.data().getDouble(0), 1e-15);
        assertEquals(-1.25 * 0.999 + 0.01 * 0.2 / (0.2 + EPS), p.data().getDouble(1), 1e-15);
        // a gradient far below ε moves less than lr: 1e-9/(1e-9 + 1e-8) = 1/11
        assertEquals(1e-3 * 0.999 - 0.01 / 11, p.data().getDouble(3), 1e-12);
    }

    @Test
    void variantsDifferWhereEpsAndDecayOrderMatter() {
        Tensor a = param(), b = param();
        AdamW ta = AdamW.torch(ParamGroup.single(Map.of("w", a), 0.1));
        AdamW hb = AdamW.hf(ParamGroup.single(Map.of("w", b), 0.1));
        setGrad(a, GRADS[0]);
        setGrad(b, GRADS[0]);
        ta.step(0.01);
        hb.step(0.01);
        // HF decays the updated p: p1 = (p0 − lr·ĝ)(1 − lr·wd) vs torch p0(1 − lr·wd) − lr·ĝ; difference lr²·wd·ĝ
        assertEquals(0.01 * 0.01 * 0.1, b.data().getDouble(0) - a.data().getDouble(0), 1e-7);
        // eps before bias correction: at t = 1 HF moves lr·g/(|g| + ε/√(1−β2)), torch lr·g/(|g| + ε)
        double g = 1e-9;
        assertEquals(
                (1e-3 - 0.01 * g / (g + EPS / Math.sqrt(1 - B2))) * (1 - 0.01 * 0.1),
                b.data().getDouble(3),
                1e-15);
        assertEquals(1e-3 * (1 - 0.01 * 0.1) - 0.01 * g / (g + EPS), a.data().getDouble(3), 1e-15);
    }

    @Test
    void parametersWithoutGradientAreSkippedAndKeepTheirOwnStep() {
        Tensor p = param(), q = param();
        Map<String, Tensor> named = new LinkedHashMap<>();
        named.put("p", p);
        named.put("q", q);
        AdamW opt = AdamW.torch(ParamGroup.single(named, 0.0));
        setGrad(p, GRADS[0]);
        opt.step(0.01); // q has no grad: untouched, no state
        assertEquals(Nd4j.createFromArray(P0), q.data());
        assertFalse(opt.state().containsKey("q.exp_avg"));
        setGrad(q, GRADS[0]);
        p.zeroGrad();
        opt.step(0.01); // q's first step: bias correction with t = 1
        Ref r = new Ref(P0[2]);
        r.torch(GRADS[0][2], 0.01, 0);
        assertEquals(r.p, q.data().getDouble(2), 1e-15);
        assertEquals(1L, opt.state().get("q.step").getLong(0));
        assertEquals(1L, opt.state().get("p.step").getLong(0));
        assertEquals(2L, opt.state().get("step").getLong(0));
    }

    @Test
    void stateRoundTripContinuesExactly() {
        Tensor a = param(), b = param();
        AdamW full = AdamW.torch(ParamGroup.single(Map.of("w", a), 0.05));
        for (int s = 0; s < 3; s++) {
            setGrad(a, GRADS[s]);
            full.step(LRS[s]);
        }

        AdamW first = AdamW.torch(ParamGroup.single(Map.of("w", b), 0.05));
        for (int s = 0; s < 2; s++) {
            setGrad(b, GRADS[s]);
            first.step(LRS[s]);
        }
        Map<String, INDArray> saved = first.state();
        assertEquals(List.of("step", "w.exp_avg", "w.exp_avg_sq", "w.step"), List.copyOf(saved.keySet()));
        Tensor c = Tensor.parameter(b.data().dup());
        AdamW resumed = AdamW.torch(ParamGroup.single(Map.of("w", c), 0.05));
        resumed.load(saved);
        assertEquals(2, resumed.stepCount());
        setGrad(c, GRADS[2]);
        resumed.step(LRS[2]);
        assertEquals(a.data(), c.data());
        assertThrows(
                IllegalArgumentException.class,
                () -> resumed.load(Map.of("step", Nd4j.scalar(DataType.LONG, 1), "other.exp_avg", Nd4j.zeros(4))));
        assertThrows(
                IllegalArgumentException.class,
                () -> resumed.load(Map.of(
                        "step",
                        Nd4j.scalar(DataType.LONG, 1),
                        "w.exp_avg",
                        Nd4j.zeros(3),
                        "w.exp_avg_sq",
                        Nd4j.zeros(3),
                        "w.step",
                        Nd4j.scalar(DataType.LONG, 1))));
    }

    @Test
    void groupsApplyTheirOwnDecayAndFullTrainingSplitsBiasAndLayerNorm() {
        Map<String, Tensor> named = new LinkedHashMap<>();
        for (String n : List.of(
                "transformer.wte.weight",
                "transformer.h.0.ln_1.weight",
                "transformer.h.0.ln_1.bias",
                "transformer.h.0.attn.attention.q_proj.weight",
                "transformer.h.0.attn.attention.out_proj.bias",
                "transformer.h.0.mlp.c_fc.weight",
                "transformer.ln_f.weight",
                "score.weight")) {
            named.put(n, param());
        }
        List<ParamGroup> groups = ParamGroup.decayAndNoDecay(named, 0.1);
        assertEquals(
                List.of(
                        "transformer.wte.weight",
                        "transformer.h.0.attn.attention.q_proj.weight",
                        "transformer.h.0.mlp.c_fc.weight",
                        "score.weight"),
                List.copyOf(groups.get(0).params().keySet()));
        assertEquals(
                List.of(
                        "transformer.h.0.ln_1.weight",
                        "transformer.h.0.ln_1.bias",
                        "transformer.h.0.attn.attention.out_proj.bias",
                        "transformer.ln_f.weight"),
                List.copyOf(groups.get(1).params().keySet()));
        assertEquals(0.0, groups.get(1).weightDecay());
        AdamW opt = AdamW.torch(groups);
        for (Tensor t : named.values()) setGrad(t, GRADS[0]);
        opt.step(0.01);
        Ref decayed = new Ref(P0[0]), plain = new Ref(P0[0]);
        decayed.torch(GRADS[0][0], 0.01, 0.1);
        plain.torch(GRADS[0][0], 0.01, 0.0);
        assertEquals(decayed.p, named.get("score.weight").data().getDouble(0), 1e-15);
        assertEquals(plain.p, named.get("transformer.ln_f.weight").data().getDouble(0), 1e-15);
        assertThrows(
                IllegalArgumentException.class,
                () -> AdamW.torch(List.of(
                        new ParamGroup("a", Map.of("x", named.get("score.weight")), 0),
                        new ParamGroup("b", Map.of("x", named.get("score.weight")), 0))));
    }
}
