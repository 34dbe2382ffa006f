package io.gptneo.tokenizer;

/**
 * GPT-2's reversible byte-to-unicode mapping: printable Latin-1 bytes (! .. ~, ¡ .. ¬, ® .. ÿ) map to themselves,
 * the other 68 bytes to U+0100.. in byte order, so every vocabulary entry is a printable string.
 */
final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    /** Inverse mapping over U+0000..U+0143; -1 for chars that are not byte images. */
    private static final short[] CHAR_TO_BYTE = new short[256 + 68];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = (char) (printable ? b : next++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The bytes a vocabulary string stands for, or null when it holds a char that is not a byte image. */
    static byte[] toBytes(String token) {
        byte[] out = new byte[token.length()];
        for (int i = 0; i < out.length; i++) {
            char c = token.charAt(i);
            if (c >= CHAR_TO_BYTE.length || CHAR_TO_BYTE[c] < 0) return null;
            out[i] = (byte) CHAR_TO_BYTE[c];
        }
        return out;
    }

    static String toToken(byte[] bytes) {
        char[] cs = new char[bytes.length];
        for (int i = 0; i < cs.length; i++) cs[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        return new String(cs);
    }
}
