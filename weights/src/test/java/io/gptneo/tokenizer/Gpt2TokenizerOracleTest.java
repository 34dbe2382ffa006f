package io.gptneo.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every row of shared/tokenizer/oracle/gpt2_reference_encodings.csv: {@code output} is the full encoding,
 * {@code outputMaxTokens10} the encoding cut to at most 10 ids without ending inside a multi-byte character.
 */
class Gpt2TokenizerOracleTest {
    static final int EXPECTED_ROWS = 423;
    static Gpt2Tokenizer tok;

    @BeforeAll
    static void load() {
        tok = Gpt2Tokenizer.load(SharedData.resolve("tokenizer/gpt2"));
    }

    @Test
    void reproducesEveryReferenceRow() throws IOException {
        List<List<String>> rows = parseCsv(Files.readString(
                SharedData.resolve("tokenizer/oracle/gpt2_reference_encodings.csv"), StandardCharsets.UTF_8));
        assertEquals(List.of("input", "output", "outputMaxTokens10"), rows.get(0));
        List<List<String>> data = rows.subList(1, rows.size());
        assertEquals(EXPECTED_ROWS, data.size(), "row count");
        List<String> failures = new ArrayList<>();
        int passed = 0;
        for (List<String> row : data) {
            assertEquals(3, row.size(), () -> "columns of " + row);
            String input = row.get(0);
            int[] want = parseIds(row.get(1)), want10 = parseIds(row.get(2));
            int[] got = tok.encode(input), got10 = tok.encodeTruncated(input, 10);
            boolean ok = Arrays.equals(want, got) && Arrays.equals(want10, got10);
            if (ok) passed++;
            else
                failures.add(input + " -> " + Arrays.toString(got) + " / " + Arrays.toString(got10) + ", expected "
                        + Arrays.toString(want) + " / " + Arrays.toString(want10));
            // The decoding of the full encoding is the input again.
            assertEquals(input, tok.decode(got));
        }
        System.out.println("gpt2 oracle: " + passed + "/" + data.size() + " rows");
        assertTrue(failures.isEmpty(), failures.size() + " rows differ:\n" + String.join("\n", failures));
        assertEquals(EXPECTED_ROWS, passed);
    }

    static int[] parseIds(String s) {
        String t = s.strip();
        if (!t.startsWith("[") || !t.endsWith("]")) throw new IllegalArgumentException("not an id list: " + s);
        t = t.substring(1, t.length() - 1).strip();
        if (t.isEmpty()) return new int[0];
        return Arrays.stream(t.split(","))
                .mapToInt(x -> Integer.parseInt(x.strip()))
                .toArray();
    }

    /** RFC 4180: fields optionally quoted, "" inside quotes is one quote, quoted fields may span lines. */
    static List<List<String>> parseCsv(String text) {
        List<List<String>> rows = new ArrayList<>();
        List<String> row = new ArrayList<>();
        StringBuilder field = new StringBuilder();
        boolean quoted = false, any = false;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (quoted) {
                if (c == '"' && i + 1 < text.length() && text.charAt(i + 1) == '"') {
                    field.append('"');
                    i++;
                } else if (c == '"') quoted = false;
                else field.append(c);
            } else if (c == '"') {
                quoted = true;
                any = true;
            } else if (c == ',') {
                row.add(field.toString());
                field.setLength(0);
                any = true;
            } else if (c == '\n' || c == '\r') {
                if (c == '\r' && i + 1 < text.length() && text.charAt(i + 1) == '\n') i++;
                if (any || field.length() > 0) {
                    row.add(field.toString());
                    rows.add(row);
                }
                row = new ArrayList<>();
                field.setLength(0);
                any = false;
            } else {
                field.append(c);
                any = true;
            }
        }
        if (any || field.length() > 0) {
            row.add(field.toString());
            rows.add(row);
        }
        return rows;
    }
}
