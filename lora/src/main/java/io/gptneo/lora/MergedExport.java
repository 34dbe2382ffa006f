package io.gptneo.lora;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gptneo.model.CostModel;
import io.gptneo.weights.Checkpoints;
import io.gptneo.weights.Dtype;
import io.gptneo.weights.ModelResolver;
import io.gptneo.weights.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes a standalone HuggingFace model folder from a base model and a PEFT LoRA adapter: the LoRA deltas merged into
 * the base weights ({@code W + B·A·scaling}), the adapter's score head as {@code score.weight}, a {@code config.json}
 * for {@code GPTNeoForSequenceClassification} ({@code num_labels} 1, {@code pad_token_id}), {@code model.safetensors}
 * (or shards of at most {@code maxShardBytes} with {@code model.safetensors.index.json}) and the base's tokenizer files.
 * The folder is assembled beside {@code out} and renamed into place, so {@code out} is either absent or complete.
 * It loads with {@code AutoModelForSequenceClassification} and, ignoring {@code score.weight}, as a plain GPT-Neo.
 */
public final class MergedExport {
    /** HF's default shard limit for {@code save_pretrained} (5 GB). */
    public static final long DEFAULT_SHARD_BYTES = 5_000_000_000L;

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private MergedExport() {}

    /**
     * Exports base + adapter to {@code out} (which must not exist or be empty). {@code dtype}: F32, F16 or BF16 for the
     * floating-point tensors (null = F32). Returns the files written, by name.
     */
    public static List<String> export(Path base, Path adapter, Path out, Dtype dtype, long maxShardBytes)
            throws IOException {
        if (dtype == null) dtype = Dtype.F32;
        if (dtype != Dtype.F32 && dtype != Dtype.F16 && dtype != Dtype.BF16)
            throw new IllegalArgumentException("export dtype must be f32, f16 or bf16, not " + dtype);
        if (maxShardBytes <= 0)
            throw new IllegalArgumentException("maxShardBytes must be positive, got " + maxShardBytes);
        if (Files.isRegularFile(out))
            throw new IOException(out + ": --out is a file; give a folder that does not exist yet");
        if (Files.isDirectory(out))
            try (Stream<Path> s = Files.list(out)) {
                if (s.findAny().isPresent())
                    throw new IOException(out + ": --out exists and is not empty; give a new folder");
            }
        CostModel cm = CostModel.load(base, DataType.FLOAT);
        LoraModel lora = PeftAdapter.load(adapter, cm);
        lora.merge();
        Map<String, INDArray> tensors = new LinkedHashMap<>();
        for (var e : cm.model().parameters().entrySet())
            tensors.put(e.getKey(), e.getValue().data());
        tensors.put("score.weight", cm.head().weight().data());

        Path abs = out.toAbsolutePath().normalize();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempDirectory(abs.getParent(), "." + abs.getFileName() + ".");
        try {
            List<String> written = new ArrayList<>(writeWeights(tmp, tensors, dtype, maxShardBytes));
            for (String f : tokenizerAndGeneration()) {
                if (Files.isRegularFile(base.resolve(f))) {
                    Files.copy(base.resolve(f), tmp.resolve(f));
                    written.add(f);
                }
            }
            Files.write(tmp.resolve("config.json"), JSON.writeValueAsBytes(config(base, dtype, cm)));
            written.add("config.json");
            if (Files.isDirectory(abs)) Files.delete(abs); // empty, checked above
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, abs);
            }
            return written;
        } finally {
            if (Files.exists(tmp))
                try (Stream<Path> s = Files.walk(tmp)) {
                    for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
                }
        }
    }

    private static List<String> tokenizerAndGeneration() {
        List<String> l = new ArrayList<>(ModelResolver.TOKENIZER_FILES);
        l.add("generation_config.json");
        return l;
    }

    /** One file up to the limit, else {@code model-0000i-of-0000n.safetensors} shards in model order plus the index. */
    private static List<String> writeWeights(Path dir, Map<String, INDArray> tensors, Dtype dtype, long limit)
            throws IOException {
        List<Map<String, INDArray>> shards = new ArrayList<>();
        Map<String, INDArray> cur = new LinkedHashMap<>();
        long curBytes = 0, total = 0;
        for (var e : tensors.entrySet()) {
            long b = e.getValue().length() * dtype.size();
            if (!cur.isEmpty() && curBytes + b > limit) {
                shards.add(cur);
                cur = new LinkedHashMap<>();
                curBytes = 0;
            }
            cur.put(e.getKey(), e.getValue());
            curBytes += b;
            total += b;
        }
        shards.add(cur);
        Map<String, String> meta = Map.of("format", "pt");
        if (shards.size() == 1) {
            SafeTensorsWriter.write(dir.resolve(Checkpoints.SINGLE), tensors, meta, dtype);
            return List.of(Checkpoints.SINGLE);
        }
        List<String> names = new ArrayList<>();
        Map<String, String> weightMap = new TreeMap<>();
        for (int i = 0; i < shards.size(); i++) {
            String name = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
            SafeTensorsWriter.write(dir.resolve(name), shards.get(i), meta, dtype);
            for (String k : shards.get(i).keySet()) weightMap.put(k, name);
            names.add(name);
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", total);
        ObjectNode wm = index.putObject("weight_map");
        weightMap.forEach(wm::put);
        Files.write(dir.resolve(Checkpoints.INDEX), JSON.writeValueAsBytes(index));
        names.add(Checkpoints.INDEX);
        return names;
    }

    /** The base's config.json, made a one-label GPTNeoForSequenceClassification config. */
    private static ObjectNode config(Path base, Dtype dtype, CostModel cm) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(base.resolve("config.json").toFile());
        c.putArray("architectures").add("GPTNeoForSequenceClassification");
        c.put("num_labels", 1);
        c.putObject("id2label").put("0", "LABEL_0");
        c.putObject("label2id").put("LABEL_0", 0);
        if (!c.hasNonNull("pad_token_id"))
            c.put("pad_token_id", c.path("eos_token_id").asInt(50256));
        c.put(
                "torch_dtype",
                switch (dtype) {
                    case F16 -> "float16";
                    case BF16 -> "bfloat16";
                    default -> "float32";
                });
        c.put("tie_word_embeddings", cm.model().tiedLmHead());
        return c;
    }

    /** Parses {@code bf16}, {@code f16}/{@code fp16}, {@code f32}/{@code fp32} (any case). */
    public static Dtype parseDtype(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) {
            case "bf16", "bfloat16" -> Dtype.BF16;
            case "f16", "fp16", "float16" -> Dtype.F16;
            case "f32", "fp32", "float32" -> Dtype.F32;
            default -> throw new IllegalArgumentException("--dtype " + s + ": expected bf16, f16 or f32");
        };
    }
}
