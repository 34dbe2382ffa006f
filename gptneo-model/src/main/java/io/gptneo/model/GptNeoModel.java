package io.gptneo.model;

import io.gptneo.tensor.Bf16;
import io.gptneo.tensor.Checkpoint;
import io.gptneo.tensor.GradMode;
import io.gptneo.tensor.Kernels;
import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Rand;
import io.gptneo.tensor.Seeds;
import io.gptneo.tensor.Tensor;
import io.gptneo.tensor.Workspaces;
import io.gptneo.tensor.attention.AttentionKernel;
import io.gptneo.weights.AttentionType;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.GptNeoWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * GPT-Neo causal language model with HuggingFace {@code GPTNeoForCausalLM} semantics:
 * <pre>
 *   x = wte[ids] + wpe[positions]                     [B, T, H]
 *   for each block: x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))
 *   hidden = ln_f(x);  logits = hidden · lm_headᵀ      [B, T, V]  (lm_head tied to wte unless the checkpoint has one)
 * </pre>
 * Weights are the loaded arrays themselves (no second copy). Parameters are frozen constants until
 * {@link #setTrainable(boolean)}; LoRA attaches to {@link #linears()}. Embedding and residual dropout are modelled
 * ({@link #setDropout}, off by default as in GPT-Neo's released configs); attention-probability dropout is not.
 */
public final class GptNeoModel {
    public static final int IGNORE_INDEX = -100;

    private final GptNeoConfig config;
    private final DataType dtype;
    private final Embedding embedding;
    private final List<Block> blocks;
    private final LayerNorm lnF;
    private Tensor lmHead; // [V, H], or null when tied to wte
    private AttentionKernel kernel;
    private boolean checkpointing;
    private Dropout dropout = Dropout.NONE;

    private GptNeoModel(GptNeoConfig config, DataType dtype, Map<String, INDArray> w, AttentionKernel kernel) {
        this.config = config;
        this.dtype = dtype;
        this.kernel = kernel;
        this.embedding = new Embedding(
                Params.frozen(w.get(GptNeoWeights.WTE), null), Params.frozen(w.get(GptNeoWeights.WPE), null));
        double eps = config.layerNormEpsilon();
        List<Block> bs = new ArrayList<>();
        for (int i = 0; i < config.numLayers(); i++) {
            String hf = "transformer.h." + i + ".";
            String c = "h." + i + ".";
            LayerNorm ln1 = new LayerNorm(
                    hf + "ln_1",
                    Params.frozen(w.get(c + "ln_1.weight"), null),
                    Params.frozen(w.get(c + "ln_1.bias"), null),
                    eps);
            LayerNorm ln2 = new LayerNorm(
                    hf + "ln_2",
                    Params.frozen(w.get(c + "ln_2.weight"), null),
                    Params.frozen(w.get(c + "ln_2.bias"), null),
                    eps);
            String a = "attn.attention.";
            int window = config.attentionType(i) == AttentionType.LOCAL ? config.windowSize() : 0;
            Attention attn = new Attention(
                    linear(w, hf + a + "q_proj", c + a + "q_proj", false),
                    linear(w, hf + a + "k_proj", c + a + "k_proj", false),
                    linear(w, hf + a + "v_proj", c + a + "v_proj", false),
                    linear(w, hf + a + "out_proj", c + a + "out_proj", true),
                    config.numHeads(),
                    window,
                    kernel);
            Mlp mlp = new Mlp(
                    linear(w, hf + "mlp.c_fc", c + "mlp.c_fc", true),
                    linear(w, hf + "mlp.c_proj", c + "mlp.c_proj", true));
            bs.add(new Block(i, ln1, attn, ln2, mlp));
        }
        this.blocks = Collections.unmodifiableList(bs);
        this.lnF = new LayerNorm(
                "transformer.ln_f",
                Params.frozen(w.get(GptNeoWeights.LN_F_W), null),
                Params.frozen(w.get(GptNeoWeights.LN_F_B), null),
                eps);
        INDArray head = w.get(GptNeoWeights.LM_HEAD);
        this.lmHead = head == null ? null : Params.frozen(head, "lm_head.weight");
    }

    private static Linear linear(Map<String, INDArray> w, String hfName, String canon, boolean bias) {
        INDArray weight = w.get(canon + ".weight");
        if (weight == null) throw new IllegalArgumentException("missing weight " + canon + ".weight");
        return new Linear(hfName, Tensor.constant(weight), bias ? Tensor.constant(w.get(canon + ".bias")) : null);
    }

    // ---- construction ------------------------------------------------------------------------------------------

    /** Loads {@code config.json} and the safetensors weights of a model directory as FLOAT or DOUBLE. */
    public static GptNeoModel load(Path dir, DataType dtype) throws IOException {
        return fromWeights(GptNeoWeights.load(dir, dtype));
    }

    /**
     * As {@link #load(Path, DataType)} with {@code --precision bf16}'s layout from the start: the block linear weights
     * are read from the file straight into BFLOAT16 ({@link GptNeoWeights#load(Path, DataType, boolean)}), so the
     * peak memory never holds their float32 copy. Same model as {@code load(dir, FLOAT)} then {@link #holdBaseInBf16}.
     */
    public static GptNeoModel loadBf16Base(Path dir) throws IOException {
        return fromWeights(GptNeoWeights.load(dir, DataType.FLOAT, true));
    }

    /** Wraps already loaded weights (the arrays are used as they are, not copied). */
    public static GptNeoModel fromWeights(GptNeoWeights weights) {
        INDArray wte = weights.get(GptNeoWeights.WTE);
        return new GptNeoModel(
                weights.config(),
                wte.dataType(),
                weights.tensors(),
                Kernels.get().attention());
    }

    /**
     * Random weights with HF's init: linear and embedding weights ~ normal(0, 0.02), biases 0, LayerNorm 1 / 0;
     * tied LM head. Deterministic in {@code seed} (each tensor draws from its own stream).
     */
    public static GptNeoModel random(GptNeoConfig cfg, long seed, DataType dtype) {
        Map<String, INDArray> w = new LinkedHashMap<>();
        long stream = 0;
        for (Map.Entry<String, long[]> e : GptNeoWeights.expectedShapes(cfg).entrySet()) {
            String n = e.getKey();
            long[] shape = e.getValue();
            INDArray a;
            if (n.contains("ln_")) a = n.endsWith(".weight") ? Nd4j.ones(dtype, shape) : Nd4j.zeros(dtype, shape);
            else if (n.endsWith(".bias")) a = Nd4j.zeros(dtype, shape);
            else a = Rand.normal(dtype, seed * Seeds.GOLDEN + (++stream), 0.02, shape);
            w.put(n, a);
        }
        return new GptNeoModel(cfg, dtype, w, Kernels.get().attention());
    }

    // ---- forward -----------------------------------------------------------------------------------------------

    public GptNeoConfig config() {
        return config;
    }

    public DataType dtype() {
        return dtype;
    }

    /**
     * Final hidden states after {@code ln_f}.
     *
     * @param ids           [B][T] token ids
     * @param attentionMask [B][T] 1 real / 0 pad, or null (all real)
     * @param positionIds   [B][T], or null for 0..T-1
     * @return [B, T, H]; records a tape when grad mode is on and some parameter or adapter requires grad
     */
    public Tensor forward(int[][] ids, int[][] attentionMask, int[][] positionIds) {
        return forward(ids, attentionMask, positionIds, null);
    }

    /**
     * Forward over new tokens with a KV cache (inference). {@code attentionMask} covers the cached positions plus the
     * new ones ([B][past + T]); default positions continue at {@code past}. An empty cache is filled by this call
     * (prefill, through the attention kernel); a filled one makes this a decode step. The cache advances by T.
     */
    public Tensor forward(int[][] ids, int[][] attentionMask, int[][] positionIds, KvCache cache) {
        int b = ids.length;
        if (b == 0 || ids[0].length == 0) throw new IllegalArgumentException("forward: empty input ids");
        int t = ids[0].length;
        int past = cache == null ? 0 : cache.length();
        checkRect("input ids", ids, b, t);
        if (attentionMask != null) checkRect("attention mask", attentionMask, b, past + t);
        else if (past > 0)
            throw new IllegalArgumentException(
                    "forward with a filled KV cache needs the attention mask of past + new tokens");
        if (cache != null && cache.batch() != b)
            throw new IllegalArgumentException("KV cache batch " + cache.batch() + " != " + b);
        int[][] pos = positionIds;
        if (pos == null) {
            pos = new int[b][t];
            for (int[] row : pos) for (int i = 0; i < t; i++) row[i] = past + i;
        } else {
            checkRect("position ids", pos, b, t);
        }
        INDArray keyMask = maskArray(attentionMask);

        Dropout drop = dropout; // one mask set per forward
        boolean recompute = checkpointing && cache == null && GradMode.isEnabled();
        boolean inference = !GradMode.isEnabled();
        try (BlockCarry carry = inference ? new BlockCarry() : null) {
            Tensor x = embed(ids, pos, drop, carry); // [B, T, H]
            for (Block block : blocks) {
                if (recompute) x = Checkpoint.apply(a -> block.forward(a[0], keyMask, null, drop), x);
                else if (inference) x = inWorkspace(x, a -> block.forward(a, keyMask, cache, drop), carry);
                else x = block.forward(x, keyMask, cache, drop);
            }
            if (cache != null) cache.advance(t);
            return lnF.forward(x); // a new array, not a carry buffer
        }
    }

    /**
     * Final hidden states (after {@code ln_f}) at each row's last real token only, {@code [B, H]}: what a score head
     * reads. Equal (to float32 rounding), forward and backward, to gathering those rows from {@link #forward}, but
     * the last block computes its query, attention output and MLP only there (keys and values at every position).
     * Residual dropout or LoRA dropout after attention (training) draws masks over every position, so then the last
     * block runs in full.
     *
     * @param last index of each row's last real token ({@link ScoreHead#lastRealIndex})
     */
    public Tensor forwardLast(int[][] ids, int[][] attentionMask, int[][] positionIds, int[] last) {
        int b = ids.length;
        if (b == 0 || ids[0].length == 0) throw new IllegalArgumentException("forwardLast: empty input ids");
        int t = ids[0].length;
        checkRect("input ids", ids, b, t);
        if (attentionMask != null) checkRect("attention mask", attentionMask, b, t);
        if (last.length != b)
            throw new IllegalArgumentException("forwardLast: " + last.length + " last indices for " + b + " rows");
        int[] rows = new int[b];
        for (int i = 0; i < b; i++) {
            if (last[i] < 0 || last[i] >= t)
                throw new IllegalArgumentException(
                        "forwardLast: row " + i + " last index " + last[i] + " outside [0, " + t + ")");
            rows[i] = i * t + last[i];
        }
        Dropout drop = dropout;
        if (!blocks.get(blocks.size() - 1).rowwiseAfterAttention(drop)) {
            Tensor hidden = forward(ids, attentionMask, positionIds);
            return Ops.gatherRows(Ops.reshape(hidden, (long) b * t, config.hiddenSize()), rows);
        }
        int[][] pos = positionIds;
        if (pos == null) {
            pos = new int[b][t];
            for (int[] row : pos) for (int i = 0; i < t; i++) row[i] = i;
        } else {
            checkRect("position ids", pos, b, t);
        }
        INDArray keyMask = maskArray(attentionMask);
        boolean recompute = checkpointing && GradMode.isEnabled();
        boolean inference = !GradMode.isEnabled();
        try (BlockCarry carry = inference ? new BlockCarry() : null) {
            Tensor x = embed(ids, pos, drop, carry); // [B, T, H]
            for (int l = 0; l < blocks.size(); l++) {
                Block block = blocks.get(l);
                boolean top = l == blocks.size() - 1;
                Function<Tensor, Tensor> f =
                        in -> top ? block.forwardLast(in, keyMask, rows, last) : block.forward(in, keyMask, null, drop);
                if (recompute) x = Checkpoint.apply(a -> f.apply(a[0]), x);
                else if (inference) x = inWorkspace(x, f, carry);
                else x = f.apply(x);
            }
            return lnF.forward(x); // [B, H], a new array, not a carry buffer
        }
    }

    /** {@code dropout(wte[ids] + wpe[pos])}; in inference ({@code carry} not null) in a workspace, into the carry. */
    private Tensor embed(int[][] ids, int[][] pos, Dropout drop, BlockCarry carry) {
        Function<Tensor, Tensor> f = none -> drop.apply(embedding.forward(ids, pos), -1, 0);
        return carry == null ? f.apply(null) : inWorkspace(null, f, carry);
    }

    /**
     * Inference only: runs a block (or the embeddings, {@code in} null) inside a reusable ND4J workspace, so its ~20
     * intermediates reuse one buffer instead of waiting for the garbage collector to free them (at T=1024 that is the
     * difference between ~1 GB and ~0.1 GB of transient native memory). Only the block output leaves the workspace,
     * copied into the next of {@code carry}'s two buffers, which the thread keeps from one forward to the next: no
     * block output is fresh memory (a 125M B=2,T=256 cost-model forward whose outputs were left to the garbage
     * collector peaked at 1.25 GB instead of 1.01 GB and ran 15-25% slower, and one whose outputs were fresh arrays
     * freed at once still paid 1.5 ms per [8, 128, 768] output to touch their pages). Anything else allocated in the
     * block (adapters included) must not be kept past the call.
     */
    private static Tensor inWorkspace(Tensor in, Function<Tensor, Tensor> block, BlockCarry carry) {
        try (var ws = Workspaces.open(Workspaces.INFERENCE_BLOCK)) {
            return Tensor.constant(carry.copyOut(block.apply(in).data()));
        }
    }

    /** LM logits {@code hidden [B, T, H] -> [B, T, V]} (any leading dims). */
    public Tensor logits(Tensor hidden) {
        // [V, H]: kept plain in inference (a packed copy would cost the embedding table's memory again)
        return Ops.linear(hidden, lmHeadWeight().plainInInference(), null);
    }

    /** Logits of the last position of every row: {@code hidden [B, T, H] -> [B, V]}. */
    public Tensor lastLogits(Tensor hidden) {
        long b = hidden.size(0), t = hidden.size(1), h = hidden.size(2);
        return logits(Ops.reshape(Ops.slice(hidden, 1, t - 1, t), b, h));
    }

    /**
     * Mean next-token cross-entropy: position t predicts {@code ids[t+1]}; targets whose mask is 0 are ignored
     * (HF labels with -100 on pads). Positions 0..T-1.
     */
    public Tensor lmLoss(int[][] ids, int[][] mask) {
        int b = ids.length, t = ids[0].length;
        if (t < 2) throw new IllegalArgumentException("lmLoss needs at least 2 tokens per row, got " + t);
        Tensor hidden = forward(ids, mask, null);
        int h = config.hiddenSize();
        Tensor logits = logits(Ops.reshape(Ops.slice(hidden, 1, 0, t - 1), (long) b * (t - 1), h)); // [B*(T-1), V]
        int[] targets = new int[b * (t - 1)];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < t - 1; j++) {
                targets[i * (t - 1) + j] = mask != null && mask[i][j + 1] == 0 ? IGNORE_INDEX : ids[i][j + 1];
            }
        }
        return Ops.crossEntropy(logits, targets, IGNORE_INDEX);
    }

    /** Generates after each prompt (left-padded with the config's pad id); see {@link Generator}. */
    public Generator.Result generate(int[][] prompts, GenerationConfig cfg) {
        return new Generator(this).generate(prompts, cfg);
    }

    /** A KV cache for {@code batch} rows and up to {@code capacity} positions. */
    public KvCache newCache(int batch, int capacity) {
        return new KvCache(config.numLayers(), batch, config.numHeads(), config.headDim(), capacity, dtype);
    }

    // ---- parameters and modes ----------------------------------------------------------------------------------

    /** [V, H]: the explicit {@code lm_head.weight} if the checkpoint had one, else {@code wte}. */
    public Tensor lmHeadWeight() {
        return lmHead != null ? lmHead : embedding.wte();
    }

    /** Whether the LM head is tied to the token embedding. */
    public boolean tiedLmHead() {
        return lmHead == null;
    }

    /** Every Linear by HF module path ({@code transformer.h.0.attn.attention.q_proj}, ..., {@code transformer.h.3.mlp.c_proj}). */
    public Map<String, Linear> linears() {
        Map<String, Linear> m = new LinkedHashMap<>();
        for (Block blk : blocks) blk.collectLinears(m);
        return m;
    }

    /** All parameters by HF name, in model order ({@code transformer.wte.weight}, ..., {@code lm_head.weight} if untied). */
    public Map<String, Tensor> parameters() {
        Map<String, Tensor> m = new LinkedHashMap<>();
        embedding.collect(m);
        for (Block blk : blocks) blk.collect(m);
        lnF.collect(m);
        if (lmHead != null) m.put("lm_head.weight", lmHead);
        return m;
    }

    /** Number of parameter elements (the tied head counted once). */
    public long parameterCount() {
        long n = 0;
        for (Tensor p : parameters().values()) n += p.data().length();
        return n;
    }

    /**
     * {@code --precision bf16}: every block's linear weight (q, k, v, out_proj, c_fc, c_proj) is replaced by a frozen
     * BFLOAT16 copy (half their memory), so their products run in bf16 with float32 accumulation ({@link Bf16}).
     * Embeddings, the LM head, layer norms, biases, attention and everything after stay float32; so do LoRA adapters
     * and the score head. Needs a FLOAT model whose base weights are frozen (full training stays fp32).
     */
    public void holdBaseInBf16() {
        if (dtype != DataType.FLOAT)
            throw new IllegalStateException("bf16 base weights need a FLOAT model, this one is " + dtype);
        for (Linear l : linears().values()) {
            if (l.weight().requiresGrad())
                throw new IllegalStateException(
                        l.name() + ": trainable base weights stay fp32 (bf16 holds frozen weights only)");
            if (l.weight().dtype() != DataType.BFLOAT16)
                l.setWeight(Tensor.constant(Bf16.of(l.weight().data())));
        }
    }

    /** Whether {@link #holdBaseInBf16} is in effect. */
    public boolean bf16Base() {
        return blocks.get(0).attn.qProj.weight().dtype() == DataType.BFLOAT16;
    }

    /** Full-parameter training: every base tensor becomes a trainable leaf over the same data (or frozen again). */
    public void setTrainable(boolean trainable) {
        embedding.setTrainable(trainable);
        for (Block blk : blocks) blk.setTrainable(trainable);
        lnF.setTrainable(trainable);
        lmHead = Params.leaf(lmHead, trainable);
    }

    /**
     * Training dropout on the embeddings and the residual branches (see {@link Dropout}); 0 and 0 (the default, and
     * what EleutherAI's configs use) disable it. Active only between {@code setTraining(true)} and {@code setTraining(false)}.
     */
    public void setDropout(double embed, double resid) {
        dropout = new Dropout(embed, resid, dropout.training(), dropout.stepSeed());
    }

    /** Training mode switches the dropout of {@link #setDropout} on; evaluation and generation run with it off. */
    public void setTraining(boolean on) {
        dropout = new Dropout(dropout.embed(), dropout.resid(), on, dropout.stepSeed());
    }

    /** Seed of the next forward passes' dropout masks (one per micro-batch keeps a run reproducible). */
    public void setStepSeed(long seed) {
        dropout = new Dropout(dropout.embed(), dropout.resid(), dropout.training(), seed);
    }

    /** Per-block recomputation in backward ({@link Checkpoint}): less memory, one extra forward per block. */
    public void setGradientCheckpointing(boolean on) {
        this.checkpointing = on;
    }

    public boolean gradientCheckpointing() {
        return checkpointing;
    }

    public void setAttentionKernel(AttentionKernel k) {
        this.kernel = k;
        for (Block blk : blocks) blk.attn.setKernel(k);
    }

    /**
     * Whether each layer's q, k and v run as one product with their frozen weights stacked (the default; see
     * {@code Attention.project}) or as three products (for comparisons). Either way the named weights are unchanged.
     */
    public void setFusedQkv(boolean on) {
        for (Block blk : blocks) blk.attn.setFuseQkv(on);
    }

    public AttentionKernel attentionKernel() {
        return kernel;
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    private static void checkRect(String what, int[][] a, int rows, int cols) {
        if (a.length != rows) throw new IllegalArgumentException(what + ": " + a.length + " rows, expected " + rows);
        for (int i = 0; i < rows; i++) {
            if (a[i].length != cols)
                throw new IllegalArgumentException(
                        what + ": row " + i + " has " + a[i].length + " entries, expected " + cols);
        }
    }

    /** mask [B][L] -> INDArray [B, L] in the model dtype, or null when there is no mask or every entry is 1. */
    private INDArray maskArray(int[][] mask) {
        if (mask == null) return null;
        boolean all = true;
        int b = mask.length, l = mask[0].length;
        double[] flat = new double[b * l];
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < l; j++) {
                int m = mask[i][j];
                if (m != 0 && m != 1)
                    throw new IllegalArgumentException(
                            "attention mask must be 0/1, got " + m + " at [" + i + "][" + j + "]");
                flat[i * l + j] = m;
                all &= m == 1;
            }
        }
        return all ? null : Nd4j.create(flat, new long[] {b, l}, 'c').castTo(dtype);
    }

    /** Position ids for a padded batch: cumsum(mask) − 1 on real tokens, 1 on pads (as HF batched generation). */
    public static int[][] positionsFromMask(int[][] mask) {
        int[][] pos = new int[mask.length][];
        for (int i = 0; i < mask.length; i++) {
            pos[i] = new int[mask[i].length];
            int c = 0;
            for (int j = 0; j < mask[i].length; j++) {
                c += mask[i][j];
                pos[i][j] = mask[i][j] == 0 ? 1 : c - 1;
            }
        }
        return pos;
    }

    @Override
    public String toString() {
        return "GptNeoModel[hidden " + config.hiddenSize() + ", layers " + config.numLayers() + ", heads "
                + config.numHeads() + ", vocab " + config.vocabSize() + ", " + dtype + ", attention " + kernel.name()
                + "]";
    }
}
