package io.gptneo.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import io.gptneo.tokenizer.Gpt2Tokenizer;
import io.gptneo.weights.SharedData;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@code ./gptneo bench tokenizer [--warmup N] [--rounds N] [--tokenizer DIR]}: single-threaded encoding throughput
 * (MB of UTF-8 input per second) of our GPT-2 tokenizer and jtokkit's r50k_base (the same vocabulary) on every prompt
 * and response of shared/data, in interleaved rounds after warmup, plus a check that both give identical ids.
 */
public final class TokenizerBench {
    private TokenizerBench() {}

    public static void main(String[] args) throws IOException {
        int warmup = 3, rounds = 7;
        Path dir = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--tokenizer" -> dir = Path.of(args[++i]);
                case "--help" -> {
                    System.out.println(
                            "usage: ./gptneo bench tokenizer [--warmup N (3)] [--rounds N (7)] [--tokenizer DIR]");
                    return;
                }
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        if (dir == null) dir = SharedData.resolve("tokenizer/gpt2");
        List<String> texts = dataTexts();
        long bytes = texts.stream()
                .mapToLong(t -> t.getBytes(StandardCharsets.UTF_8).length)
                .sum();

        long t0 = System.nanoTime();
        Gpt2Tokenizer ours = Gpt2Tokenizer.load(dir);
        long loadMs = (System.nanoTime() - t0) / 1_000_000;
        Encoding jtokkit = Encodings.newDefaultEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
        System.out.printf(
                "data: %d texts, %.2f MB UTF-8; our tokenizer loaded in %d ms; %d warmup + %d timed rounds each%n",
                texts.size(), bytes / 1e6, loadMs, warmup, rounds);

        int mismatches = 0;
        long tokens = 0;
        String firstMismatch = null;
        for (String t : texts) {
            int[] a = ours.encode(t);
            tokens += a.length;
            if (!Arrays.equals(a, jtokkit.encodeOrdinary(t).toArray())) {
                mismatches++;
                if (firstMismatch == null) firstMismatch = t.length() > 80 ? t.substring(0, 80) + "..." : t;
            }
        }
        System.out.printf(
                "ids: %d tokens; identical to jtokkit on %d/%d texts (%d mismatches)%s%n",
                tokens,
                texts.size() - mismatches,
                texts.size(),
                mismatches,
                firstMismatch == null ? "" : ", first: " + firstMismatch);

        for (int w = 0; w < warmup; w++) {
            runOurs(ours, texts);
            runJtokkit(jtokkit, texts);
        }
        double[] oursMbs = new double[rounds], jtkMbs = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            // Interleaved, so that drift of the machine (frequency, other load) hits both alike.
            oursMbs[r] = mbPerSecond(bytes, () -> runOurs(ours, texts));
            jtkMbs[r] = mbPerSecond(bytes, () -> runJtokkit(jtokkit, texts));
            System.out.printf("round %d: ours %7.2f MB/s   jtokkit %7.2f MB/s%n", r + 1, oursMbs[r], jtkMbs[r]);
        }
        double om = median(oursMbs), jm = median(jtkMbs);
        System.out.printf(
                "median: ours %.2f MB/s, jtokkit r50k_base %.2f MB/s, ratio %.2fx (best %.2f vs %.2f)%n",
                om,
                jm,
                om / jm,
                Arrays.stream(oursMbs).max().orElse(0),
                Arrays.stream(jtkMbs).max().orElse(0));
        if (mismatches > 0) System.exit(1);
    }

    private static long sink;

    private static void runOurs(Gpt2Tokenizer tok, List<String> texts) {
        long n = 0;
        for (String t : texts) n += tok.encode(t).length;
        sink += n;
    }

    private static void runJtokkit(Encoding enc, List<String> texts) {
        long n = 0;
        for (String t : texts) n += enc.encodeOrdinary(t).size();
        sink += n;
    }

    private static double mbPerSecond(long bytes, Runnable body) {
        long start = System.nanoTime();
        body.run();
        return bytes / 1e6 / ((System.nanoTime() - start) / 1e9);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Every prompt and response (response, response_0, response_1) of both jsonl files, in file order. */
    static List<String> dataTexts() throws IOException {
        ObjectMapper json = new ObjectMapper();
        List<String> texts = new ArrayList<>();
        for (String file : List.of("data/pku_saferlhf_pairs.jsonl", "data/beavertails_qa.jsonl")) {
            Path p = SharedData.resolve(file);
            int line = 0;
            for (String s : Files.readAllLines(p, StandardCharsets.UTF_8)) {
                line++;
                if (s.isBlank()) continue;
                JsonNode row;
                try {
                    row = json.readTree(s);
                } catch (IOException e) {
                    throw new IOException("malformed JSON at " + p + " line " + line + ": " + e.getMessage(), e);
                }
                for (String field : List.of("prompt", "response", "response_0", "response_1")) {
                    if (row.hasNonNull(field)) texts.add(row.get(field).asText());
                }
            }
        }
        return texts;
    }
}
