package io.gptneo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The hand-written scanner against GPT-2's pattern run by java.util.regex (a backtracking engine like Python's),
 * with {@code \s} spelled out as the White_Space set that Python's regex module uses.
 */
class Gpt2TokenizerPreTokenizerTest {
    private static final String WS =
            "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
    private static final Pattern GPT2 = Pattern.compile("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + WS
            + "\\p{L}\\p{N}]+|[" + WS + "]+(?![^" + WS + "])|[" + WS + "]+");

    /** Chars chosen to hit every rule: letters, numbers of all three categories, contraction letters, all kinds of
     * space, near-spaces that are not \s (U+001F, U+200B, U+FEFF), and supplementary letters, digits and emoji. */
    private static final String[] ALPHABET = {
        "a",
        "Z",
        "é",
        "ß",
        "中",
        "1",
        "٣",
        "½",
        "Ⅻ",
        "'",
        "s",
        "t",
        "r",
        "e",
        "v",
        "l",
        "m",
        "d",
        "S",
        "L",
        ".",
        "!",
        "-",
        "\"",
        " ",
        " ",
        " ",
        "\t",
        "\n",
        "\r",
        "\u000B",
        "\u00A0",
        "\u3000",
        "\u2009",
        "\u0085",
        "\u001F",
        "\u200B",
        "\uFEFF",
        "😀",
        "\uD835\uDFD8",
        "\uD801\uDC00",
        "̈"
    };

    @Test
    void agreesWithTheRegexOnRandomText() {
        Random rnd = new Random(42);
        for (int iter = 0; iter < 30000; iter++) {
            StringBuilder sb = new StringBuilder();
            int len = rnd.nextInt(24);
            for (int i = 0; i < len; i++) sb.append(ALPHABET[rnd.nextInt(ALPHABET.length)]);
            String text = sb.toString();
            assertEquals(regexPieces(text), scannerPieces(text), () -> "text: " + escape(text));
        }
    }

    static List<String> regexPieces(String text) {
        List<String> out = new ArrayList<>();
        Matcher m = GPT2.matcher(text);
        while (m.find()) out.add(m.group());
        return out;
    }

    static List<String> scannerPieces(String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < b.length; ) {
            int e = PreTokenizer.pieceEnd(b, i, b.length);
            out.add(new String(b, i, e - i, StandardCharsets.UTF_8));
            i = e;
        }
        return out;
    }

    private static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints()
                .forEach(cp ->
                        sb.append(cp < 0x7F && cp >= 0x20 ? String.valueOf((char) cp) : String.format("\\u{%X}", cp)));
        return sb.toString();
    }
}
