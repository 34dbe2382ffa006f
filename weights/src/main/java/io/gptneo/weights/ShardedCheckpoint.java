package io.gptneo.weights;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * A checkpoint split over several safetensors files ({@code model.safetensors.index.json}) or PyTorch files
 * ({@code pytorch_model.bin.index.json}, shards ending in {@code .bin}), described by an index:
 * {@code {"metadata": {...}, "weight_map": {"tensor name": "shard file name", ...}}}.
 * Opening reads the index and every shard's header and checks that each shard exists and holds the tensors the index
 * assigns to it.
 */
public final class ShardedCheckpoint implements TensorSource {
    private final Path index;
    private final Map<String, TensorSource> byTensor; // sorted by tensor name
    private final List<TensorSource> shards;
    private final Map<String, String> metadata;

    private ShardedCheckpoint(
            Path index, Map<String, TensorSource> byTensor, List<TensorSource> shards, Map<String, String> metadata) {
        this.index = index;
        this.byTensor = byTensor;
        this.shards = shards;
        this.metadata = metadata;
    }

    /** Opens an index file; shard file names are resolved against its directory. */
    public static ShardedCheckpoint open(Path indexJson) throws IOException {
        JsonNode root;
        try {
            root = SafeTensorsFile.JSON.readTree(Files.readString(indexJson));
        } catch (NoSuchFileException e) {
            throw new SafeTensorsException(indexJson + ": index file not found");
        } catch (JsonProcessingException e) {
            throw new SafeTensorsException(indexJson + ": index is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject())
            throw new SafeTensorsException(indexJson + ": index is not a JSON object");
        JsonNode wm = root.get("weight_map");
        if (wm == null || !wm.isObject()) throw new SafeTensorsException(indexJson + ": missing 'weight_map' object");
        Map<String, String> meta = new LinkedHashMap<>();
        JsonNode md = root.get("metadata");
        if (md != null && md.isObject())
            for (Iterator<Map.Entry<String, JsonNode>> it = md.fields(); it.hasNext(); ) {
                var e = it.next();
                meta.put(
                        e.getKey(),
                        e.getValue().isTextual()
                                ? e.getValue().textValue()
                                : e.getValue().toString());
            }
        Map<String, String> shardOf = new TreeMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = wm.fields(); it.hasNext(); ) {
            var e = it.next();
            JsonNode v = e.getValue();
            if (!v.isTextual())
                throw new SafeTensorsException(
                        indexJson + ": weight_map entry of '" + e.getKey() + "' is not a file name");
            String shard = v.textValue();
            if (shard.isEmpty()
                    || shard.contains("/")
                    || shard.contains("\\")
                    || shard.equals(".")
                    || shard.equals(".."))
                throw new SafeTensorsException(indexJson + ": weight_map entry of '" + e.getKey() + "' names '" + shard
                        + "', not a file beside the index");
            shardOf.put(e.getKey(), shard);
        }
        Path dir = indexJson.toAbsolutePath().getParent();
        Map<String, TensorSource> files = new LinkedHashMap<>();
        Map<String, TensorSource> byTensor = new TreeMap<>();
        try {
            for (String shard : new TreeSet<>(shardOf.values())) {
                Path p = dir.resolve(shard);
                if (!Files.isRegularFile(p))
                    throw new SafeTensorsException(
                            indexJson + ": shard '" + shard + "' is missing (expected at " + p + ")");
                files.put(shard, shard.endsWith(".bin") ? TorchCheckpoint.open(p) : SafeTensorsFile.open(p));
            }
            List<String> absent = new ArrayList<>();
            for (var e : shardOf.entrySet()) {
                TensorSource f = files.get(e.getValue());
                if (!f.names().contains(e.getKey())) absent.add("'" + e.getKey() + "' (in " + e.getValue() + ")");
                byTensor.put(e.getKey(), f);
            }
            if (!absent.isEmpty())
                throw new SafeTensorsException(
                        indexJson + ": the index names tensors their shard lacks: " + String.join(", ", absent));
        } catch (IOException | RuntimeException e) {
            for (TensorSource f : files.values()) {
                try {
                    f.close();
                } catch (IOException ignored) {
                    /* already failing */
                }
            }
            throw e;
        }
        return new ShardedCheckpoint(
                indexJson,
                Collections.unmodifiableMap(byTensor),
                List.copyOf(files.values()),
                Collections.unmodifiableMap(meta));
    }

    /** The index file. */
    @Override
    public Path path() {
        return index;
    }

    /** The shards, in file-name order. */
    public List<TensorSource> shards() {
        return shards;
    }

    /** The index's {@code metadata} (e.g. {@code total_size}), values as strings. */
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public Set<String> names() {
        return byTensor.keySet();
    }

    @Override
    public TensorInfo info(String name) {
        return shard(name).info(name);
    }

    @Override
    public INDArray load(String name, DataType dtype) throws IOException {
        return shard(name).load(name, dtype);
    }

    /** The shard holding a tensor. */
    public TensorSource shard(String name) {
        TensorSource f = byTensor.get(name);
        if (f == null) throw new IllegalArgumentException(index + ": no tensor named '" + name + "'");
        return f;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (TensorSource f : shards) {
            try {
                f.close();
            } catch (IOException e) {
                if (first == null) first = e;
            }
        }
        if (first != null) throw first;
    }

    @Override
    public String toString() {
        return "ShardedCheckpoint[" + index + ", " + shards.size() + " shards, " + byTensor.size() + " tensors]";
    }
}
