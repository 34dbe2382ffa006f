package io.gptneo.cli;

import io.gptneo.weights.Checkpoints;
import io.gptneo.weights.Dtype;
import io.gptneo.weights.GptNeoConfig;
import io.gptneo.weights.GptNeoWeights;
import io.gptneo.weights.ShardedCheckpoint;
import io.gptneo.weights.TensorInfo;
import io.gptneo.weights.TensorSource;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * {@code ./gptneo inspect --model DIR|HUB_ID}: config summary, per-layer attention kinds, parameter count and the
 * checkpoint's tensors grouped by dtype. Reads only headers (no tensor data); names and shapes are checked against
 * the config, so a mismatched checkpoint fails here with every offending tensor named.
 */
@Command(
        name = "inspect",
        mixinStandardHelpOptions = true,
        description = {
            "Prints a GPT-Neo model's config, attention layout, parameter count and dtypes/bytes.",
            "--model is a local directory (config.json + model.safetensors or model.safetensors.index.json) or a Hub id "
                    + "(HF cache: HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub; env GPTNEO_CACHE, GPTNEO_HUB_URL, HF_TOKEN, HF_HUB_OFFLINE)."
        })
public final class InspectCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOption model;

    @Override
    public Integer call() throws Exception {
        Path dir = model.resolve();
        GptNeoConfig c = GptNeoConfig.load(dir.resolve("config.json"));
        PrintWriter out = spec.commandLine().getOut();
        out.printf("model: %s%n", dir.toAbsolutePath().normalize());
        out.printf(
                "config: vocab %d, positions %d, hidden %d, layers %d, heads %d (head dim %d), intermediate %d, window %d%n",
                c.vocabSize(),
                c.maxPositionEmbeddings(),
                c.hiddenSize(),
                c.numLayers(),
                c.numHeads(),
                c.headDim(),
                c.intermediateSize(),
                c.windowSize());
        out.printf(
                "        layer-norm eps %s, activation %s, bos %d, eos %d%n",
                c.layerNormEpsilon(), c.activationFunction(), c.bosTokenId(), c.eosTokenId());
        StringBuilder layers = new StringBuilder("attention:");
        for (int i = 0; i < c.numLayers(); i++)
            layers.append(' ').append(i).append('=').append(c.attentionType(i).jsonName());
        out.println(layers);
        try (TensorSource src = Checkpoints.open(dir)) {
            Map<String, String> plan = GptNeoWeights.plan(src, c, dir.toString());
            out.printf(
                    "checkpoint: %s%n",
                    src instanceof ShardedCheckpoint s
                            ? s.path().getFileName() + " with " + s.shards().size() + " shards"
                            : src.path().getFileName());
            long params = 0;
            for (String sourceName : plan.values())
                params += src.info(sourceName).numel();
            int buffers = src.names().size() - plan.size();
            out.printf(
                    "parameters: %,d in %d tensors (lm_head: %s%s)%s%n",
                    params,
                    plan.size(),
                    plan.containsKey(GptNeoWeights.LM_HEAD) ? "explicit" : "tied to wte",
                    plan.containsKey(GptNeoWeights.SCORE)
                            ? ", score head "
                                    + src.info(plan.get(GptNeoWeights.SCORE)).shape()[0] + " x " + c.hiddenSize()
                            : "",
                    buffers > 0 ? "; " + buffers + " ignored buffers (attn.attention.bias/masked_bias)" : "");
            Map<Dtype, long[]> byType = new EnumMap<>(Dtype.class); // dtype -> {tensors, elements, bytes}
            for (String n : src.names()) {
                TensorInfo t = src.info(n);
                long[] acc = byType.computeIfAbsent(t.dtype(), k -> new long[3]);
                acc[0]++;
                acc[1] += t.numel();
                acc[2] += t.byteSize();
            }
            out.printf("%-6s %8s %16s %16s%n", "dtype", "tensors", "elements", "bytes");
            long total = 0;
            for (var e : byType.entrySet()) {
                out.printf(
                        "%-6s %8d %,16d %,16d%n",
                        e.getKey().safetensorsName(), e.getValue()[0], e.getValue()[1], e.getValue()[2]);
                total += e.getValue()[2];
            }
            out.printf("%-6s %8d %16s %,16d (%.1f MiB)%n", "total", src.names().size(), "", total, total / 1048576.0);
        }
        out.flush();
        return 0;
    }
}
