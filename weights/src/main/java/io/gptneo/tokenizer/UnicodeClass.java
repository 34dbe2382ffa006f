package io.gptneo.tokenizer;

/**
 * Character classes of the GPT-2 pre-tokenizer, as the Python {@code regex} module defines them:
 * {@code \p{L}} (Lu Ll Lt Lm Lo), {@code \p{N}} (Nd Nl No) and {@code \s} (the Unicode White_Space property,
 * which unlike Java's {@link Character#isWhitespace} includes U+00A0/U+2007/U+202F/U+0085 and excludes U+001C..U+001F).
 */
final class UnicodeClass {
    static final byte OTHER = 0, LETTER = 1, NUMBER = 2, SPACE = 3;

    /**
     * Letters and numbers that Java 17's Unicode 13 data leaves unassigned but the Python regex module (2026.5.9)
     * knows. Obtained by comparing both over all code points; every other code point agrees. Triples: first, last, class.
     */
    private static final int[] NEWER = {
        0x870, 0x887, 1, 0x889, 0x88F, 1, 0x8B5, 0x8B5, 1, 0x8C8, 0x8C9, 1,
        0xC5C, 0xC5D, 1, 0xCDC, 0xCDD, 1, 0x170D, 0x170D, 1, 0x171F, 0x171F, 1,
        0x1B4C, 0x1B4C, 1, 0x1C89, 0x1C8A, 1, 0x2C2F, 0x2C2F, 1, 0x2C5F, 0x2C5F, 1,
        0x9FFD, 0x9FFF, 1, 0xA7C0, 0xA7C1, 1, 0xA7CB, 0xA7DC, 1, 0xA7F1, 0xA7F4, 1,
        0x10570, 0x1057A, 1, 0x1057C, 0x1058A, 1, 0x1058C, 0x10592, 1, 0x10594, 0x10595, 1,
        0x10597, 0x105A1, 1, 0x105A3, 0x105B1, 1, 0x105B3, 0x105B9, 1, 0x105BB, 0x105BC, 1,
        0x105C0, 0x105F3, 1, 0x10780, 0x10785, 1, 0x10787, 0x107B0, 1, 0x107B2, 0x107BA, 1,
        0x10940, 0x10959, 1, 0x10D40, 0x10D49, 2, 0x10D4A, 0x10D65, 1, 0x10D6F, 0x10D85, 1,
        0x10EC2, 0x10EC7, 1, 0x10F70, 0x10F81, 1, 0x11071, 0x11072, 1, 0x11075, 0x11075, 1,
        0x1123F, 0x11240, 1, 0x11380, 0x11389, 1, 0x1138B, 0x1138B, 1, 0x1138E, 0x1138E, 1,
        0x11390, 0x113B5, 1, 0x113B7, 0x113B7, 1, 0x113D1, 0x113D1, 1, 0x113D3, 0x113D3, 1,
        0x116D0, 0x116E3, 2, 0x11740, 0x11746, 1, 0x11AB0, 0x11ABF, 1, 0x11BC0, 0x11BE0, 1,
        0x11BF0, 0x11BF9, 2, 0x11DB0, 0x11DDB, 1, 0x11DE0, 0x11DE9, 2, 0x11F02, 0x11F02, 1,
        0x11F04, 0x11F10, 1, 0x11F12, 0x11F33, 1, 0x11F50, 0x11F59, 2, 0x12F90, 0x12FF0, 1,
        0x1342F, 0x1342F, 1, 0x13441, 0x13446, 1, 0x13460, 0x143FA, 1, 0x16100, 0x1611D, 1,
        0x16130, 0x16139, 2, 0x16A70, 0x16ABE, 1, 0x16AC0, 0x16AC9, 2, 0x16D40, 0x16D6C, 1,
        0x16D70, 0x16D79, 2, 0x16EA0, 0x16EB8, 1, 0x16EBB, 0x16ED3, 1, 0x16FF2, 0x16FF3, 1,
        0x16FF4, 0x16FF6, 2, 0x187F8, 0x187FF, 1, 0x18CFF, 0x18CFF, 1, 0x18D09, 0x18D1E, 1,
        0x18D80, 0x18DF2, 1, 0x1AFF0, 0x1AFF3, 1, 0x1AFF5, 0x1AFFB, 1, 0x1AFFD, 0x1AFFE, 1,
        0x1B11F, 0x1B122, 1, 0x1B132, 0x1B132, 1, 0x1B155, 0x1B155, 1, 0x1CCF0, 0x1CCF9, 2,
        0x1D2C0, 0x1D2D3, 2, 0x1DF00, 0x1DF1E, 1, 0x1DF25, 0x1DF2A, 1, 0x1E030, 0x1E06D, 1,
        0x1E290, 0x1E2AD, 1, 0x1E4D0, 0x1E4EB, 1, 0x1E4F0, 0x1E4F9, 2, 0x1E5D0, 0x1E5ED, 1,
        0x1E5F0, 0x1E5F0, 1, 0x1E5F1, 0x1E5FA, 2, 0x1E6C0, 0x1E6DE, 1, 0x1E6E0, 0x1E6E2, 1,
        0x1E6E4, 0x1E6E5, 1, 0x1E6E7, 0x1E6ED, 1, 0x1E6F0, 0x1E6F4, 1, 0x1E6FE, 0x1E6FF, 1,
        0x1E7E0, 0x1E7E6, 1, 0x1E7E8, 0x1E7EB, 1, 0x1E7ED, 0x1E7EE, 1, 0x1E7F0, 0x1E7FE, 1,
        0x2A6DE, 0x2A6DF, 1, 0x2B735, 0x2B73F, 1, 0x2CEA2, 0x2CEAD, 1, 0x2EBF0, 0x2EE5D, 1,
        0x31350, 0x33479, 1
    };

    /** Class of every BMP char, so the hot path is one array read (surrogate halves are OTHER). */
    private static final byte[] BMP = new byte[0x10000];

    static {
        for (int c = 0; c < 0x10000; c++) BMP[c] = fromJava(c);
        for (int i = 0; i < NEWER.length && NEWER[i] < 0x10000; i += 3) {
            for (int c = NEWER[i]; c <= NEWER[i + 1]; c++) BMP[c] = (byte) NEWER[i + 2];
        }
    }

    private UnicodeClass() {}

    static byte of(int cp) {
        if (cp < 0x10000) return BMP[cp];
        // Binary search over the sorted, disjoint ranges (emoji are supplementary, so this runs often).
        int lo = 0, hi = NEWER.length / 3 - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1, first = NEWER[3 * mid];
            if (cp < first) hi = mid - 1;
            else if (cp > NEWER[3 * mid + 1]) lo = mid + 1;
            else return (byte) NEWER[3 * mid + 2];
        }
        return fromJava(cp);
    }

    private static byte fromJava(int cp) {
        if (isWhiteSpace(cp)) return SPACE;
        return switch (Character.getType(cp)) {
            case Character.UPPERCASE_LETTER,
                    Character.LOWERCASE_LETTER,
                    Character.TITLECASE_LETTER,
                    Character.MODIFIER_LETTER,
                    Character.OTHER_LETTER -> LETTER;
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            default -> OTHER;
        };
    }

    /** The White_Space property (PropList.txt); stable since Unicode 6.3. */
    static boolean isWhiteSpace(int c) {
        return (c >= 0x09 && c <= 0x0D)
                || c == 0x20
                || c == 0x85
                || c == 0xA0
                || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A)
                || c == 0x2028
                || c == 0x2029
                || c == 0x202F
                || c == 0x205F
                || c == 0x3000;
    }
}
