package io.gptneo.bench;

import io.gptneo.weights.AttentionType;
import io.gptneo.weights.GptNeoConfig;

/**
 * Model FLOPs of the LoRA cost-model step (multiply-add = 2 FLOPs; elementwise ops, softmax, LayerNorm, embedding
 * gathers and the optimizer are not counted). See {@link #CONVENTION}.
 */
final class TrainStepFlops {
    static final String CONVENTION =
            "model FLOPs, multiply-add = 2. Forward: 2*N_mm*tokens with N_mm = per layer 4C^2 (q,k,v,out) + 2*C*I (mlp), "
                    + "plus LoRA 2*(r*C + C*r) per adapted projection per token, plus attention 4*C*T_eff per token per layer (QK^T and PV), "
                    + "T_eff = mean keys a query may attend causally (global: (T+1)/2; local: mean of min(i+1, window)), plus the score head "
                    + "at the last token; no LM head (cost model). Train step = forward + backward with backward = 1x forward base matmuls "
                    + "(dX only: base frozen, no dW) + 2x attention (dQ,dK from dS; dP,dV) + 2x LoRA (dX and dA/dB). Gradient-checkpoint "
                    + "recompute is not counted (MFU, not HFU). mfu_3x_forward_convention uses 3x forward instead. The last block is counted "
                    + "at every position for both sides, although ours computes its query, attention output and MLP at the last token only "
                    + "(GptNeoModel.forwardLast; cases with -full run it everywhere).";

    private TrainStepFlops() {}

    /** Mean number of keys a query attends to over positions 0..t-1 (window 0 = global causal). */
    static double meanKeys(int t, int window) {
        double s = 0;
        for (int i = 0; i < t; i++) s += window > 0 ? Math.min(i + 1, window) : i + 1;
        return s / t;
    }

    static double[] parts(GptNeoConfig cfg, int b, int t, int r) {
        double c = cfg.hiddenSize(), inter = cfg.intermediateSize(), tokens = (double) b * t;
        double mm = 0, attn = 0, lora = 0;
        for (int l = 0; l < cfg.numLayers(); l++) {
            mm += 2 * tokens * (4 * c * c + 2 * c * inter);
            lora += 2 * tokens * 2 * (2 * r * c); // q and v: x A^T (r*C) then (.) B^T (C*r)
            int window = cfg.attentionType(l) == AttentionType.LOCAL ? cfg.windowSize() : 0;
            attn += 4 * tokens * c * meanKeys(t, window);
        }
        double head = 2 * b * c;
        return new double[] {mm, attn, lora, head};
    }

    static double forward(GptNeoConfig cfg, int b, int t, int r) {
        double[] p = parts(cfg, b, t, r);
        return p[0] + p[1] + p[2] + p[3];
    }

    static double train(GptNeoConfig cfg, int b, int t, int r) {
        double[] p = parts(cfg, b, t, r);
        return forward(cfg, b, t, r) + p[0] + 2 * p[1] + 2 * p[2] + 2 * p[3];
    }
}
