package io.gptneo.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Tensor;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.GptNeoWeights;
import io.gptneo.weights.SharedData;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Training through the model in float64: finite-difference gradients, checkpointing, parameter bookkeeping. */
class GptNeoTrainingTest {
    /** 4 layers global/local, window 3, small vocab: every code path, fast in float64. */
    static final GptNeoConfig TINY = GptNeoConfig.of(61, 32, 16, 4, 2, 3);

    static final int[][] IDS = {{3, 17, 42, 8, 59, 1, 23, 5, 11}, {7, 7, 30, 2, 60, 60, 60, 60, 60}};
    static final int[][] MASK = {{1, 1, 1, 1, 1, 1, 1, 1, 1}, {1, 1, 1, 1, 1, 0, 0, 0, 0}};

    static GptNeoModel trainableTiny() {
        GptNeoModel m = GptNeoModel.random(TINY, 1, DataType.DOUBLE);
        // Perturb LayerNorm and bias parameters away from 1/0, and widen weights to std 0.2 so attention is far from
        // uniform: gradients then are generic and large enough for finite differences.
        SplittableRandom r = new SplittableRandom(5);
        for (var e : m.parameters().entrySet()) {
            if (!e.getKey().contains("ln_") && !e.getKey().endsWith(".bias"))
                e.getValue().data().muli(10);
            else {
                INDArray a = e.getValue().data();
                for (long i = 0; i < a.length(); i++) a.putScalar(i, a.getDouble(i) + 0.1 * (r.nextDouble() - 0.5));
            }
        }
        m.setTrainable(true);
        return m;
    }

    static Map<String, INDArray> grads(GptNeoModel m) {
        for (Tensor p : m.parameters().values()) p.zeroGrad();
        m.lmLoss(IDS, MASK).backward();
        Map<String, INDArray> g = new LinkedHashMap<>();
        for (var e : m.parameters().entrySet()) {
            assertNotNull(e.getValue().grad(), "no gradient for " + e.getKey());
            g.put(e.getKey(), e.getValue().grad().dup());
        }
        return g;
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        GptNeoModel m = trainableTiny();
        Map<String, INDArray> g = grads(m);
        SplittableRandom r = new SplittableRandom(11);
        double h = 1e-6, worst = 0, largest = 0, worstAbs = 0;
        for (String name : List.of(
                "transformer.wte.weight",
                "transformer.wpe.weight",
                "transformer.h.0.ln_1.weight",
                "transformer.h.1.attn.attention.q_proj.weight",
                "transformer.h.1.attn.attention.k_proj.weight",
                "transformer.h.2.attn.attention.v_proj.weight",
                "transformer.h.3.attn.attention.out_proj.bias",
                "transformer.h.2.mlp.c_fc.bias",
                "transformer.h.3.mlp.c_proj.weight",
                "transformer.ln_f.bias")) {
            INDArray x = m.parameters().get(name).data();
            for (int k = 0; k < 6; k++) {
                // wte: probe rows of tokens that occur, so both the embedding and the tied head contribute
                long i = name.equals("transformer.wte.weight") ? 42L * 16 + r.nextInt(16) : r.nextLong(x.length());
                double orig = x.getDouble(i);
                x.putScalar(i, orig + h);
                double up = loss(m);
                x.putScalar(i, orig - h);
                double down = loss(m);
                x.putScalar(i, orig);
                double numeric = (up - down) / (2 * h), analytic = g.get(name).getDouble(i);
                // central differences of a loss ~4 carry ~1e-9 of round-off: below that, no evidence either way
                double abs = Math.abs(numeric - analytic);
                double err = abs < 2e-9 ? 0 : abs / (Math.abs(numeric) + Math.abs(analytic));
                assertTrue(err < 1e-5, name + "[" + i + "]: analytic " + analytic + " vs numeric " + numeric);
                worst = Math.max(worst, err);
                largest = Math.max(largest, Math.abs(analytic));
                worstAbs = Math.max(worstAbs, abs);
            }
        }
        System.out.println("finite differences: max relative error " + worst + ", max absolute " + worstAbs
                + " (largest |gradient| probed " + largest + ")");
        assertTrue(largest > 1e-3, "probes should hit non-trivial gradients");
    }

    private static double loss(GptNeoModel m) {
        try (var off = GradMode.off()) {
            return m.lmLoss(IDS, MASK).item();
        }
    }

    @Test
    void checkpointingGivesIdenticalGradientsAndKeepsLess() {
        GptNeoModel m = trainableTiny();
        Map<String, INDArray> plain = grads(m);
        long plainBytes = m.lmLoss(IDS, MASK).graphSavedBytes();
        m.setGradientCheckpointing(true);
        Map<String, INDArray> ckpt = grads(m);
        long ckptBytes = m.lmLoss(IDS, MASK).graphSavedBytes();
        for (String n : plain.keySet()) {
            double diff = plain.get(n).sub(ckpt.get(n)).norm1Number().doubleValue();
            assertEquals(0.0, diff, 1e-13, "gradient of " + n + " differs with checkpointing");
        }
        System.out.println("graph saved bytes: plain " + plainBytes + ", checkpointed " + ckptBytes);
        assertTrue(
                ckptBytes < plainBytes / 2, "checkpointing should keep far less: " + ckptBytes + " vs " + plainBytes);
    }

    @Test
    void dropoutIsSeededRecomputeSafeAndOffOutsideTraining() {
        GptNeoModel m = trainableTiny();
        double clean = loss(m);
        m.setDropout(0.2, 0.3);
        assertEquals(clean, loss(m), 0.0, "dropout set but not training: no effect");
        m.setTraining(true);
        m.setStepSeed(7);
        double a = loss(m), again = loss(m);
        m.setStepSeed(8);
        double other = loss(m);
        assertEquals(a, again, 0.0, "same step seed, same masks");
        assertTrue(
                a != clean && other != a,
                "training dropout changes the loss, and the step seed the masks: " + clean + " " + a + " " + other);

        // gradients with dropout: checkpointed recompute draws the same masks as the forward did
        m.setStepSeed(7);
        Map<String, INDArray> plain = grads(m);
        m.setGradientCheckpointing(true);
        Map<String, INDArray> ckpt = grads(m);
        for (String n : plain.keySet()) {
            double diff = plain.get(n).sub(ckpt.get(n)).norm1Number().doubleValue();
            assertEquals(0.0, diff, 1e-13, "gradient of " + n + " differs with checkpointing under dropout");
        }
        // and they are the gradients of the dropped-out loss: a finite-difference probe on one weight
        INDArray w = m.parameters().get("transformer.h.2.mlp.c_fc.weight").data();
        long i = 37;
        double orig = w.getDouble(i), h = 1e-6;
        w.putScalar(i, orig + h);
        double up = loss(m);
        w.putScalar(i, orig - h);
        double down = loss(m);
        w.putScalar(i, orig);
        double numeric = (up - down) / (2 * h),
                analytic = plain.get("transformer.h.2.mlp.c_fc.weight").getDouble(i);
        assertEquals(numeric, analytic, 1e-6 * Math.max(1, Math.abs(numeric)), "dropout gradient vs finite difference");
        assertTrue(Math.abs(analytic) > 1e-4, "probe hit a non-trivial gradient: " + analytic);

        m.setTraining(false);
        assertEquals(clean, loss(m), 0.0, "evaluation mode: no dropout");
        assertThrows(IllegalArgumentException.class, () -> m.setDropout(1.0, 0));
    }

    @Test
    void inferenceRecordsNoTape() {
        GptNeoModel m = trainableTiny();
        try (var off = GradMode.off()) {
            Tensor h = m.forward(IDS, MASK, null);
            assertFalse(h.requiresGrad());
            assertEquals(0, h.graphSize());
        }
        Tensor h = m.forward(IDS, MASK, null);
        assertTrue(h.requiresGrad() && h.graphSize() > 0, "grad mode on + trainable weights record a tape");
    }

    @Test
    void parametersLinearsAndSingleCopyOfWeights() throws Exception {
        GptNeoWeights w = GptNeoWeights.load(SharedData.resolve("fixtures/gptneo-tiny"), DataType.FLOAT);
        GptNeoModel m = GptNeoModel.fromWeights(w);
        Map<String, Tensor> p = m.parameters();
        assertEquals(GptNeoWeights.expectedShapes(w.config()).size(), p.size(), "tied head: no lm_head.weight entry");
        for (String canon : GptNeoWeights.expectedShapes(w.config()).keySet()) {
            assertSame(
                    w.get(canon),
                    p.get("transformer." + canon).data(),
                    "model must hold the loaded array itself: " + canon);
        }
        assertEquals(
                List.of("transformer.wte.weight", "transformer.wpe.weight", "transformer.h.0.ln_1.weight"),
                List.copyOf(p.keySet()).subList(0, 3));
        assertEquals(w.parameterCount(), m.parameterCount());
        Map<String, Linear> lin = m.linears();
        assertEquals(24, lin.size());
        assertEquals(32, lin.get("transformer.h.0.attn.attention.q_proj").inFeatures());
        assertEquals(null, lin.get("transformer.h.0.attn.attention.k_proj").bias(), "q/k/v have no bias");
        assertEquals(128, lin.get("transformer.h.3.mlp.c_fc").outFeatures());
        assertSame(p.get("transformer.wte.weight"), m.lmHeadWeight(), "LM head tied to wte");

        GptNeoModel legacy = GptNeoModel.load(SharedData.resolve("fixtures/gptneo-tiny-legacy"), DataType.FLOAT);
        assertFalse(legacy.tiedLmHead());
        assertTrue(legacy.parameters().containsKey("lm_head.weight"));

        m.setTrainable(true);
        assertTrue(m.parameters().values().stream().allMatch(Tensor::requiresGrad));
        assertSame(
                w.get("wte.weight"),
                m.parameters().get("transformer.wte.weight").data(),
                "trainable leaves share the data");
        m.setTrainable(false);
        assertTrue(m.parameters().values().stream().noneMatch(Tensor::requiresGrad));
    }

    @Test
    void randomInitFollowsHf() {
        GptNeoModel m = GptNeoModel.random(GptNeoConfig.of(500, 64, 64, 2, 4, 8), 3, DataType.FLOAT);
        Map<String, Tensor> p = m.parameters();
        INDArray wte = p.get("transformer.wte.weight").data();
        assertEquals(0.02, wte.stdNumber().doubleValue(), 0.001);
        assertEquals(0.0, wte.meanNumber().doubleValue(), 0.001);
        assertEquals(
                0.02,
                p.get("transformer.h.1.mlp.c_fc.weight").data().stdNumber().doubleValue(),
                0.001);
        assertEquals(
                0.0, p.get("transformer.h.1.mlp.c_fc.bias").data().norm1Number().doubleValue());
        assertEquals(
                64.0, p.get("transformer.h.0.ln_2.weight").data().sumNumber().doubleValue());
        assertEquals(0.0, p.get("transformer.ln_f.bias").data().norm1Number().doubleValue());
        GptNeoModel again = GptNeoModel.random(GptNeoConfig.of(500, 64, 64, 2, 4, 8), 3, DataType.FLOAT);
        assertEquals(wte, again.parameters().get("transformer.wte.weight").data(), "same seed, same weights");
    }
}
