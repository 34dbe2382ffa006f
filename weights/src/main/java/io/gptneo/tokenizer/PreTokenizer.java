package io.gptneo.tokenizer;

import static io.gptneo.tokenizer.UnicodeClass.SPACE;

/**
 * Hand-written equivalent of GPT-2's split pattern
 * {@code 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+}
 * scanning well-formed UTF-8 (what {@link String#getBytes} produces), so pieces are byte ranges that go straight to
 * the vocabulary lookup without building Strings. Alternatives are tried in the pattern's order at each start.
 */
final class PreTokenizer {
    /** Classes of ASCII bytes. */
    private static final byte[] ASCII = new byte[128];

    static {
        for (int c = 0; c < 128; c++) ASCII[c] = UnicodeClass.of(c);
    }

    private PreTokenizer() {}

    /** End (exclusive) of the piece that starts at {@code i < n}. */
    static int pieceEnd(byte[] b, int i, int n) {
        int c0 = b[i];
        if (c0 == '\'' && i + 1 < n) {
            int c1 = b[i + 1];
            if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return i + 2;
            if (i + 2 < n) {
                int c2 = b[i + 2];
                if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) return i + 3;
            }
        }
        if (c0 == ' ' && i + 1 < n) {
            // " ?X+": a single U+0020 joins the run of letters, numbers or others that follows it.
            int cls = classAt(b, i + 1);
            if (cls != SPACE) return runEnd(b, i + 1 + lengthAt(b, i + 1), n, cls);
        }
        int cls = c0 >= 0 ? ASCII[c0] : classAt(b, i);
        if (cls != SPACE) return runEnd(b, i + lengthAt(b, i), n, cls);
        // Whitespace: "\s+(?!\S)" takes the run up to the end, or all but its last char when a non-space follows
        // (that char then prefixes the next piece); a lone space before a non-space falls to "\s+".
        int j = i, last = i, count = 0;
        while (j < n && classAt(b, j) == SPACE) {
            last = j;
            j += lengthAt(b, j);
            count++;
        }
        if (j == n || count == 1) return j;
        return last;
    }

    /** End of the run of chars of class {@code cls} starting at {@code j}. */
    private static int runEnd(byte[] b, int j, int n, int cls) {
        while (j < n) {
            int c = b[j];
            if (c >= 0) {
                if (ASCII[c] != cls) return j;
                j++;
            } else {
                if (classAt(b, j) != cls) return j;
                j += lengthAt(b, j);
            }
        }
        return j;
    }

    static int classAt(byte[] b, int j) {
        int c = b[j];
        if (c >= 0) return ASCII[c];
        int lead = c & 0xFF;
        int cp;
        if (lead < 0xE0) {
            cp = ((lead & 0x1F) << 6) | (b[j + 1] & 0x3F);
        } else if (lead < 0xF0) {
            cp = ((lead & 0x0F) << 12) | ((b[j + 1] & 0x3F) << 6) | (b[j + 2] & 0x3F);
        } else {
            cp = ((lead & 0x07) << 18) | ((b[j + 1] & 0x3F) << 12) | ((b[j + 2] & 0x3F) << 6) | (b[j + 3] & 0x3F);
        }
        return UnicodeClass.of(cp);
    }

    static int lengthAt(byte[] b, int j) {
        int lead = b[j] & 0xFF;
        return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    }
}
