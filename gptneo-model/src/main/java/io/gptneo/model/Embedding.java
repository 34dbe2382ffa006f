package io.gptneo.model;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;
import java.util.Map;

/** Token plus learned absolute position embeddings: {@code wte[ids] + wpe[positionIds]}. */
final class Embedding {
    private Tensor wte; // [V, H]
    private Tensor wpe; // [P, H]

    Embedding(Tensor wte, Tensor wpe) {
        this.wte = wte.named("transformer.wte.weight");
        this.wpe = wpe.named("transformer.wpe.weight");
    }

    /** ids, positionIds [B][T] -> [B, T, H]. */
    Tensor forward(int[][] ids, int[][] positionIds) {
        check("input id", ids, wte.size(0));
        check("position id", positionIds, wpe.size(0));
        return Ops.add(Ops.embedding(wte, ids), Ops.embedding(wpe, positionIds));
    }

    private static void check(String what, int[][] ids, long limit) {
        for (int[] row : ids) {
            for (int id : row) {
                if (id < 0 || id >= limit) {
                    throw new IllegalArgumentException(what + " " + id + " out of range [0, " + limit + ")");
                }
            }
        }
    }

    Tensor wte() {
        return wte;
    }

    void collect(Map<String, Tensor> out) {
        out.put("transformer.wte.weight", wte);
        out.put("transformer.wpe.weight", wpe);
    }

    void setTrainable(boolean on) {
        wte = Params.leaf(wte, on);
        wpe = Params.leaf(wpe, on);
    }
}
