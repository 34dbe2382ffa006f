package io.gptneo.weights;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/** A named collection of tensors read lazily: a single safetensors file or a sharded checkpoint. */
public interface TensorSource extends AutoCloseable {
    /** The file this was opened from (a weights file or an index). */
    Path path();

    /** Tensor names, sorted. */
    Set<String> names();

    /** Header entry of one tensor; throws IllegalArgumentException naming the tensor and source when absent. */
    TensorInfo info(String name);

    /**
     * Reads one tensor into a new array of the given type (FLOAT/DOUBLE for float data; integer types for
     * integer data; null = the dtype's natural type, see {@link Dtype#naturalDataType()}).
     */
    INDArray load(String name, DataType dtype) throws IOException;

    /** Reads one tensor as FLOAT (float data) or its natural type (integer data). */
    default INDArray load(String name) throws IOException {
        return load(name, null);
    }

    /** Whether a tensor of that name exists. */
    default boolean contains(String name) {
        return names().contains(name);
    }

    @Override
    void close() throws IOException;
}
