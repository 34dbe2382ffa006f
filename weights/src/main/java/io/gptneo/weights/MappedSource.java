package io.gptneo.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;

/** A tensor source whose tensors are byte ranges {@link TensorDecoder} can map window by window. */
interface MappedSource {
    /** The file, for messages. */
    Path path();

    /** {@code len} bytes of tensor {@code t} starting {@code off} bytes into it, in C order, in the file's byte order. */
    ByteBuffer map(TensorInfo t, long off, long len) throws IOException;
}
