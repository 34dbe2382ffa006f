package io.gptneo.train.data;

import io.gptneo.GptNeoException;

/** An invalid data line; the message starts with {@code file:line} and names the field. */
public final class DataException extends GptNeoException {
    private static final long serialVersionUID = 1L;
    private final String location;
    private final String field;

    /** A problem with {@code field} (null: the whole line) of the line at {@code location}. */
    public DataException(String location, String field, String problem) {
        super(location + ": " + (field == null ? "" : "field '" + field + "': ") + problem);
        this.location = location;
        this.field = field;
    }

    /** {@code file:line}. */
    public String location() {
        return location;
    }

    /** The offending field, or null for a line that is not a JSON object. */
    public String field() {
        return field;
    }
}
