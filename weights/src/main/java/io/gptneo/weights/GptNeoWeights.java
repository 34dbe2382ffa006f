package io.gptneo.weights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The parameters of a GPT-Neo model under canonical names (HuggingFace names without the {@code transformer.}
 * prefix), checked against a {@link GptNeoConfig}. Linear weights keep HF's [out, in] layout.
 *
 * <pre>
 * wte.weight [V,H]   wpe.weight [P,H]   ln_f.weight/bias [H]
 * h.{i}.ln_1.weight/bias [H]            h.{i}.ln_2.weight/bias [H]
 * h.{i}.attn.attention.{q,k,v}_proj.weight [H,H] (no bias)
 * h.{i}.attn.attention.out_proj.weight [H,H], .bias [H]
 * h.{i}.mlp.c_fc.weight [I,H], .bias [I]  h.{i}.mlp.c_proj.weight [H,I], .bias [H]
 * optional: lm_head.weight [V,H] (absent = tied to wte), score.weight [L,H] (classification head)
 * </pre>
 * Accepted source names: {@code transformer.X} (GPTNeoForCausalLM), bare {@code X} (GPTNeoModel), and legacy files
 * whose {@code attn.attention.bias} / {@code attn.attention.masked_bias} buffers are ignored.
 */
public final class GptNeoWeights {
    public static final String WTE = "wte.weight",
            WPE = "wpe.weight",
            LN_F_W = "ln_f.weight",
            LN_F_B = "ln_f.bias",
            LM_HEAD = "lm_head.weight",
            SCORE = "score.weight";
    private static final Pattern BUFFER = Pattern.compile("h\\.\\d+\\.attn\\.attention\\.(bias|masked_bias)");
    private static final Pattern BLOCK_LINEAR =
            Pattern.compile("h\\.\\d+\\.(attn\\.attention\\.(q|k|v|out)_proj|mlp\\.c_(fc|proj))\\.weight");
    private static final Pattern LAYER = Pattern.compile("h\\.(\\d+)\\.(.+)");

    private final GptNeoConfig config;
    private final Map<String, INDArray> tensors;

    public GptNeoWeights(GptNeoConfig config, Map<String, INDArray> tensors) {
        this.config = config;
        this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    /** Name of a per-layer tensor, e.g. {@code layer(3, "mlp.c_fc.weight")} = {@code h.3.mlp.c_fc.weight}. */
    public static String layer(int i, String suffix) {
        return "h." + i + "." + suffix;
    }

    /** The required canonical names and shapes for a config, in model order. */
    public static Map<String, long[]> expectedShapes(GptNeoConfig c) {
        long v = c.vocabSize(), p = c.maxPositionEmbeddings(), h = c.hiddenSize(), in = c.intermediateSize();
        Map<String, long[]> m = new LinkedHashMap<>();
        m.put(WTE, new long[] {v, h});
        m.put(WPE, new long[] {p, h});
        for (int i = 0; i < c.numLayers(); i++) {
            m.put(layer(i, "ln_1.weight"), new long[] {h});
            m.put(layer(i, "ln_1.bias"), new long[] {h});
            for (String q : List.of("q_proj", "k_proj", "v_proj", "out_proj"))
                m.put(layer(i, "attn.attention." + q + ".weight"), new long[] {h, h});
            m.put(layer(i, "attn.attention.out_proj.bias"), new long[] {h});
            m.put(layer(i, "ln_2.weight"), new long[] {h});
            m.put(layer(i, "ln_2.bias"), new long[] {h});
            m.put(layer(i, "mlp.c_fc.weight"), new long[] {in, h});
            m.put(layer(i, "mlp.c_fc.bias"), new long[] {in});
            m.put(layer(i, "mlp.c_proj.weight"), new long[] {h, in});
            m.put(layer(i, "mlp.c_proj.bias"), new long[] {h});
        }
        m.put(LN_F_W, new long[] {h});
        m.put(LN_F_B, new long[] {h});
        return m;
    }

    /**
     * Maps canonical name → source name for every parameter of {@code src}, checking names and shapes against the
     * config without reading tensor data. All unknown, missing, duplicate and mis-shaped tensors are reported in one
     * {@link SafeTensorsException}.
     */
    public static Map<String, String> plan(TensorSource src, GptNeoConfig c, String sourceName)
            throws SafeTensorsException {
        Map<String, long[]> expected = expectedShapes(c);
        Map<String, String> canon = new TreeMap<>();
        List<String> unknown = new ArrayList<>(), duplicate = new ArrayList<>(), badShape = new ArrayList<>();
        for (String name : src.names()) {
            String n = name.startsWith("transformer.") ? name.substring("transformer.".length()) : name;
            if (BUFFER.matcher(n).matches()) continue; // legacy causal-mask buffers: not parameters
            long[] want = expected.get(n);
            if (want == null && n.equals(LM_HEAD) && name.equals(LM_HEAD))
                want = new long[] {c.vocabSize(), c.hiddenSize()};
            if (want == null && n.equals(SCORE) && name.equals(SCORE)) want = new long[] {-1, c.hiddenSize()};
            if (want == null) {
                Matcher lm = LAYER.matcher(n);
                unknown.add(
                        lm.matches()
                                        && Integer.parseInt(lm.group(1).length() > 9 ? "999999999" : lm.group(1))
                                                >= c.numLayers()
                                ? name + " (layer beyond num_layers " + c.numLayers() + ")"
                                : name);
                continue;
            }
            if (canon.containsKey(n)) {
                duplicate.add(canon.get(n) + " and " + name);
                continue;
            }
            long[] got = src.info(name).shape();
            if (!shapeMatches(want, got))
                badShape.add(name + " has shape " + Arrays.toString(got) + ", expected "
                        + Arrays.toString(want).replace("-1", "N"));
            canon.put(n, name);
        }
        List<String> missing = new ArrayList<>();
        for (String n : expected.keySet()) if (!canon.containsKey(n)) missing.add(n);
        if (unknown.isEmpty() && duplicate.isEmpty() && badShape.isEmpty() && missing.isEmpty()) return canon;
        StringBuilder sb = new StringBuilder(sourceName + ": checkpoint does not match the GPT-Neo config (hidden "
                + c.hiddenSize() + ", layers " + c.numLayers() + ", vocab " + c.vocabSize() + ")");
        if (!missing.isEmpty()) sb.append("; missing tensors: ").append(String.join(", ", missing));
        if (!unknown.isEmpty()) sb.append("; unknown tensors: ").append(String.join(", ", unknown));
        if (!duplicate.isEmpty())
            sb.append("; the same tensor under two names: ").append(String.join(", ", duplicate));
        if (!badShape.isEmpty()) sb.append("; wrong shapes: ").append(String.join(", ", badShape));
        throw new SafeTensorsException(sb.toString());
    }

    private static boolean shapeMatches(long[] want, long[] got) {
        if (want.length != got.length) return false;
        for (int i = 0; i < want.length; i++) if (want[i] >= 0 ? want[i] != got[i] : got[i] <= 0) return false;
        return true;
    }

    /** Loads and checks every parameter of {@code src} as {@code dtype} (FLOAT or DOUBLE). */
    public static GptNeoWeights load(TensorSource src, GptNeoConfig config, DataType dtype, String sourceName)
            throws IOException {
        return load(src, config, dtype, sourceName, false);
    }

    /**
     * As {@link #load(TensorSource, GptNeoConfig, DataType, String)}; with {@code bf16Blocks} (a FLOAT load only) the
     * block linear weights ({@link #isBlockLinearWeight}) are read straight into BFLOAT16 arrays, rounded to nearest
     * even from the file's bytes, so no float32 copy of them ever exists (what {@code --precision bf16} holds).
     */
    public static GptNeoWeights load(
            TensorSource src, GptNeoConfig config, DataType dtype, String sourceName, boolean bf16Blocks)
            throws IOException {
        if (dtype != DataType.FLOAT && dtype != DataType.DOUBLE)
            throw new IllegalArgumentException("weights load as FLOAT or DOUBLE, not " + dtype);
        if (bf16Blocks && dtype != DataType.FLOAT)
            throw new IllegalArgumentException("bf16 block weights need a FLOAT load, not " + dtype);
        Map<String, String> plan = plan(src, config, sourceName);
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (String n : expectedShapes(config).keySet())
            out.put(n, src.load(plan.get(n), bf16Blocks && isBlockLinearWeight(n) ? DataType.BFLOAT16 : dtype));
        for (String n : List.of(LM_HEAD, SCORE)) if (plan.containsKey(n)) out.put(n, src.load(plan.get(n), dtype));
        return new GptNeoWeights(config, out);
    }

    /** Loads {@code config.json} and the safetensors weights of a model directory as FLOAT. */
    public static GptNeoWeights load(Path modelDir) throws IOException {
        return load(modelDir, DataType.FLOAT);
    }

    /** Loads {@code config.json} and the safetensors weights of a model directory. */
    public static GptNeoWeights load(Path modelDir, DataType dtype) throws IOException {
        return load(modelDir, dtype, false);
    }

    /** As {@link #load(Path, DataType)}; {@code bf16Blocks}: block linear weights as BFLOAT16 (see above). */
    public static GptNeoWeights load(Path modelDir, DataType dtype, boolean bf16Blocks) throws IOException {
        GptNeoConfig config = GptNeoConfig.load(modelDir.resolve("config.json"));
        try (TensorSource src = Checkpoints.open(modelDir)) {
            return load(src, config, dtype, modelDir.toString(), bf16Blocks);
        }
    }

    /** Whether a canonical name is a block's linear weight (q/k/v/out_proj, c_fc, c_proj): what bf16 holds. */
    public static boolean isBlockLinearWeight(String canonical) {
        return BLOCK_LINEAR.matcher(canonical).matches();
    }

    public GptNeoConfig config() {
        return config;
    }

    /** All tensors by canonical name (unmodifiable). */
    public Map<String, INDArray> tensors() {
        return tensors;
    }

    /** One tensor; throws naming it when absent. */
    public INDArray get(String name) {
        INDArray a = tensors.get(name);
        if (a == null)
            throw new IllegalArgumentException("no weight named '" + name + "' (have " + tensors.size() + " tensors)");
        return a;
    }

    /** {@code h.{layer}.{suffix}}. */
    public INDArray layerWeight(int layer, String suffix) {
        return get(layer(layer, suffix));
    }

    /** Whether the checkpoint had its own {@code lm_head.weight}. */
    public boolean hasLmHead() {
        return tensors.containsKey(LM_HEAD);
    }

    /** Output projection [V,H]: {@code lm_head.weight} when present, else the tied {@code wte.weight}. */
    public INDArray lmHead() {
        return hasLmHead() ? tensors.get(LM_HEAD) : get(WTE);
    }

    /** Total number of parameters (a tied LM head counted once). */
    public long parameterCount() {
        long n = 0;
        for (INDArray a : tensors.values()) n += a.length();
        return n;
    }
}
