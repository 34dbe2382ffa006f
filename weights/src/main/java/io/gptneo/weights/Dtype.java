package io.gptneo.weights;

import org.nd4j.linalg.api.buffer.DataType;

/** Element types of the safetensors format, with their byte sizes and header names. */
public enum Dtype {
    F64(8, DataType.DOUBLE, true),
    F32(4, DataType.FLOAT, true),
    F16(2, DataType.FLOAT, true),
    BF16(2, DataType.FLOAT, true),
    I64(8, DataType.LONG, false),
    I32(4, DataType.INT, false),
    I16(2, DataType.SHORT, false),
    I8(1, DataType.BYTE, false),
    U8(1, DataType.UBYTE, false),
    BOOL(1, DataType.BOOL, false);

    private final int size;
    private final DataType natural;
    private final boolean floating;

    Dtype(int size, DataType natural, boolean floating) {
        this.size = size;
        this.natural = natural;
        this.floating = floating;
    }

    /** Bytes per element. */
    public int size() {
        return size;
    }

    /** The name used in the safetensors header ("F32", "BF16", ...). */
    public String safetensorsName() {
        return name();
    }

    /** Whether the values are floating point. */
    public boolean isFloating() {
        return floating;
    }

    /** The ND4J type a tensor of this dtype loads to when no target is given (F16/BF16 widen to FLOAT). */
    public DataType naturalDataType() {
        return natural;
    }

    /** Parses a header dtype name; null when unknown. */
    public static Dtype fromName(String name) {
        for (Dtype d : values()) if (d.name().equals(name)) return d;
        return null;
    }

    /** The dtype a writer uses for an ND4J type; throws for types safetensors cannot hold. */
    public static Dtype of(DataType t) {
        return switch (t) {
            case DOUBLE -> F64;
            case FLOAT -> F32;
            case HALF -> F16;
            case BFLOAT16 -> BF16;
            case LONG -> I64;
            case INT -> I32;
            case SHORT -> I16;
            case BYTE -> I8;
            case UBYTE -> U8;
            case BOOL -> BOOL;
            default -> throw new IllegalArgumentException("no safetensors dtype for ND4J type " + t);
        };
    }
}
