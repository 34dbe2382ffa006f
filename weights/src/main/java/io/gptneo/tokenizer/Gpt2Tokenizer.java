package io.gptneo.tokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * GPT-2 byte-level BPE, the tokenizer of GPT-Neo: GPT-2's regex pre-tokenization (hand-written, see
 * {@link PreTokenizer}), bytes mapped to tokens, then merges applied lowest rank first. Instances are immutable
 * apart from a bounded lock-free cache and may be shared between threads.
 *
 * <p>Strings that are not valid UTF-16 (unpaired surrogates) are encoded as {@link String#getBytes} does, with '?'.
 */
public final class Gpt2Tokenizer {
    private static final int CACHE_SLOTS = 1 << 14;
    private static final int MAX_CACHED_PIECE = 256;

    private final String[] tokens; // id -> vocabulary string (byte-level form, e.g. "Ġthe")
    private final byte[][] tokenBytes; // id -> the bytes it stands for
    private final TokenTable table; // bytes -> id, ordinary tokens only
    private final boolean[] wholePiece; // id -> BPE of its own bytes yields exactly this id (see constructor)
    private final MergeTable merges;
    private final int[] byteIds = new int[256];
    private final String[] specialTexts;
    private final int[] specialIds;
    private final int eos;
    private final BpeCache cache = new BpeCache(CACHE_SLOTS);

    /** Loads {@code dir/tokenizer.json}, or else {@code dir/vocab.json} + {@code dir/merges.txt}. */
    public static Gpt2Tokenizer load(Path dir) {
        return new Gpt2Tokenizer(TokenizerFiles.load(dir));
    }

    /** Loads a HuggingFace {@code tokenizer.json} (model type BPE). */
    public static Gpt2Tokenizer fromTokenizerJson(Path file) {
        return new Gpt2Tokenizer(TokenizerFiles.fromTokenizerJson(file));
    }

    /** Loads the original GPT-2 pair of files. */
    public static Gpt2Tokenizer fromVocabAndMerges(Path vocabJson, Path mergesTxt) {
        return new Gpt2Tokenizer(TokenizerFiles.fromVocabAndMerges(vocabJson, mergesTxt));
    }

    private Gpt2Tokenizer(TokenizerFiles.Spec spec) {
        String src = spec.source().toString();
        int size = 0;
        for (int id : spec.vocab().values()) {
            if (id < 0) throw new IllegalArgumentException("malformed vocabulary in " + src + ": negative id " + id);
            size = Math.max(size, id + 1);
        }
        tokens = new String[size];
        tokenBytes = new byte[size][];
        boolean[] ordinary = new boolean[size];
        for (Map.Entry<String, Integer> e : spec.vocab().entrySet()) {
            int id = e.getValue();
            if (tokens[id] != null) {
                throw new IllegalArgumentException("malformed vocabulary in " + src + ": id " + id + " used by both "
                        + tokens[id] + " and " + e.getKey());
            }
            tokens[id] = e.getKey();
            boolean special = spec.specials().containsKey(e.getKey());
            byte[] bytes = special ? null : ByteLevel.toBytes(e.getKey());
            if (bytes == null) {
                // Special and added tokens are plain text, not byte-level strings.
                bytes = e.getKey().getBytes(StandardCharsets.UTF_8);
            } else {
                ordinary[id] = true;
            }
            tokenBytes[id] = bytes;
        }
        table = new TokenTable(tokenBytes, ordinary);
        for (int b = 0; b < 256; b++) {
            byte[] one = {(byte) b};
            byteIds[b] = table.get(one, 0, 1, TokenTable.hash(one, 0, 1));
            if (byteIds[b] < 0) {
                throw new IllegalArgumentException("malformed vocabulary in " + src + ": no token for byte 0x"
                        + Integer.toHexString(b) + " (\"" + ByteLevel.charOf(b) + "\")");
            }
        }
        Map<String, Integer> vocab = spec.vocab();
        List<String[]> ms = spec.merges();
        int[] left = new int[ms.size()], right = new int[ms.size()], result = new int[ms.size()];
        for (int r = 0; r < ms.size(); r++) {
            String a = ms.get(r)[0], b = ms.get(r)[1];
            Integer ia = vocab.get(a), ib = vocab.get(b), ic = vocab.get(a + b);
            if (ia == null || ib == null || ic == null) {
                String missing = ia == null ? a : ib == null ? b : a + b;
                throw new IllegalArgumentException("merge " + (r + 1) + " \"" + a + " " + b + "\" uses \"" + missing
                        + "\", which is not in the vocabulary (" + src + ")");
            }
            left[r] = ia;
            right[r] = ib;
            result[r] = ic;
        }
        merges = new MergeTable(left, right, result);
        specialTexts = spec.specials().keySet().toArray(new String[0]);
        specialIds =
                spec.specials().values().stream().mapToInt(Integer::intValue).toArray();
        Integer e = spec.vocab().get(TokenizerFiles.EOS);
        eos = e == null ? -1 : e;
        // A piece equal to a vocabulary entry usually encodes to that one id, which lets encode skip BPE. It is only
        // sound for entries that BPE really rebuilds from their bytes, so check each once instead of assuming it.
        wholePiece = new boolean[size];
        for (int id = 0; id < size; id++) {
            if (ordinary[id]) {
                int[] r = bpe(tokenBytes[id], 0, tokenBytes[id].length);
                wholePiece[id] = r.length == 1 && r[0] == id;
            }
        }
    }

    /** Encodes text; special tokens such as {@code <|endoftext|>} are encoded as ordinary text. */
    public int[] encode(String text) {
        return encode(text, false);
    }

    /** Encodes text; with {@code allowSpecial}, occurrences of special tokens become their ids. */
    public int[] encode(String text, boolean allowSpecial) {
        Objects.requireNonNull(text, "text");
        IntBuffer out = new IntBuffer(text.length() / 3 + 8);
        if (!allowSpecial || specialTexts.length == 0) {
            encodeOrdinary(text, out);
            return out.toArray();
        }
        int pos = 0;
        while (pos < text.length()) {
            int at = -1, which = -1;
            for (int s = 0; s < specialTexts.length; s++) {
                int i = text.indexOf(specialTexts[s], pos);
                // Earliest match; at equal starts the longer special token wins.
                if (i >= 0
                        && (at < 0 || i < at || (i == at && specialTexts[s].length() > specialTexts[which].length()))) {
                    at = i;
                    which = s;
                }
            }
            if (at < 0) {
                encodeOrdinary(text.substring(pos), out);
                break;
            }
            if (at > pos) encodeOrdinary(text.substring(pos, at), out);
            out.add(specialIds[which]);
            pos = at + specialTexts[which].length();
        }
        return out.toArray();
    }

    /**
     * Encodes ordinary text and keeps at most {@code maxTokens} ids, dropping further trailing ids while the kept
     * ones would end inside a multi-byte character (so their decoding is always a prefix of the text).
     */
    public int[] encodeTruncated(String text, int maxTokens) {
        if (maxTokens < 0) throw new IllegalArgumentException("maxTokens must be >= 0: " + maxTokens);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        IntBuffer out = new IntBuffer(b.length / 3 + 8);
        encodeBytes(b, out);
        int[] ids = out.toArray();
        if (ids.length <= maxTokens) return ids;
        int k = maxTokens, end = 0;
        for (int i = 0; i < k; i++) end += tokenBytes[ids[i]].length;
        while (k > 0 && (b[end] & 0xC0) == 0x80) end -= tokenBytes[ids[--k]].length; // b[end]: continuation byte
        return Arrays.copyOf(ids, k);
    }

    private void encodeOrdinary(String text, IntBuffer out) {
        encodeBytes(text.getBytes(StandardCharsets.UTF_8), out);
    }

    private void encodeBytes(byte[] b, IntBuffer out) {
        int n = b.length;
        for (int i = 0; i < n; ) {
            int end = PreTokenizer.pieceEnd(b, i, n);
            encodePiece(b, i, end, out);
            i = end;
        }
    }

    private void encodePiece(byte[] b, int from, int to, IntBuffer out) {
        int h = TokenTable.hash(b, from, to);
        int id = table.get(b, from, to, h);
        if (id >= 0 && wholePiece[id]) {
            out.add(id);
            return;
        }
        int[] ids = cache.get(b, from, to, h);
        if (ids == null) {
            ids = bpe(b, from, to);
            // Long pieces (blobs, runs of spaces) rarely repeat; leaving them out bounds the cache in bytes too.
            if (to - from <= MAX_CACHED_PIECE) cache.put(b, from, to, h, ids);
        }
        out.addAll(ids);
    }

    /**
     * GPT-2's merge loop over ids: take the adjacent pair of lowest rank, merge all its non-overlapping occurrences
     * left to right, repeat until no pair has a rank. Ranks of unchanged pairs are kept between rounds.
     */
    private int[] bpe(byte[] b, int from, int to) {
        int m = to - from;
        int[] sym = new int[m];
        int[] rank = new int[m];
        boolean[] fresh = new boolean[m];
        for (int k = 0; k < m; k++) sym[k] = byteIds[b[from + k] & 0xFF];
        for (int k = 0; k + 1 < m; k++) rank[k] = merges.rank(sym[k], sym[k + 1]);
        while (m > 1) {
            int best = MergeTable.NONE, at = -1;
            for (int k = 0; k + 1 < m; k++) {
                if (rank[k] < best) {
                    best = rank[k];
                    at = k;
                }
            }
            if (at < 0) break;
            int a = sym[at], c = sym[at + 1];
            int mergedId = merges.mergedAt(merges.find(a, c));
            int w = at;
            for (int k = at; k < m; w++) {
                if (k + 1 < m && sym[k] == a && sym[k + 1] == c) {
                    sym[w] = mergedId;
                    fresh[w] = true;
                    k += 2;
                } else {
                    sym[w] = sym[k];
                    rank[w] = rank[k]; // still right unless the next symbol is fresh, fixed below
                    fresh[w] = false;
                    k++;
                }
            }
            m = w;
            for (int j = Math.max(0, at - 1); j + 1 < m; j++) {
                if ((j >= at && fresh[j]) || fresh[j + 1]) rank[j] = merges.rank(sym[j], sym[j + 1]);
            }
        }
        return Arrays.copyOf(sym, m);
    }

    /** Decodes ids to text; byte sequences that are not valid UTF-8 (e.g. a cut multi-byte char) become U+FFFD. */
    public String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    /** The raw bytes the ids stand for (for streaming decoders that must wait for complete characters). */
    public byte[] decodeBytes(int[] ids) {
        int len = 0;
        for (int id : ids) len += bytesOf(id).length;
        byte[] out = new byte[len];
        int p = 0;
        for (int id : ids) {
            byte[] t = tokenBytes[id];
            System.arraycopy(t, 0, out, p, t.length);
            p += t.length;
        }
        return out;
    }

    /**
     * Encodes each text (special tokens as ordinary text), keeps its first {@code maxLength} ids when
     * {@code maxLength > 0}, and pads every row with {@code padId} to the longest row, on the given side.
     */
    public BatchEncoding encodeBatch(List<String> texts, int maxLength, Padding side, int padId) {
        Objects.requireNonNull(side, "side");
        int n = texts.size();
        int[][] enc = new int[n][];
        int width = 0;
        for (int i = 0; i < n; i++) {
            int[] ids = encode(texts.get(i));
            if (maxLength > 0 && ids.length > maxLength) ids = Arrays.copyOf(ids, maxLength);
            enc[i] = ids;
            width = Math.max(width, ids.length);
        }
        int[][] ids = new int[n][width];
        int[][] mask = new int[n][width];
        int[] lengths = new int[n];
        for (int i = 0; i < n; i++) {
            int len = enc[i].length;
            int off = side == Padding.LEFT ? width - len : 0;
            Arrays.fill(ids[i], padId);
            System.arraycopy(enc[i], 0, ids[i], off, len);
            Arrays.fill(mask[i], off, off + len, 1);
            lengths[i] = len;
        }
        return new BatchEncoding(ids, mask, lengths);
    }

    /** Number of ids (largest id + 1): 50257 for GPT-2. */
    public int vocabSize() {
        return tokens.length;
    }

    /** Id of {@code <|endoftext|>} (50256 for GPT-2), GPT-Neo's EOS, BOS and usual pad. */
    public int eosId() {
        if (eos < 0) throw new IllegalStateException("this vocabulary has no " + TokenizerFiles.EOS + " token");
        return eos;
    }

    /** Vocabulary string of an id, in GPT-2's byte-level form (a leading space shows as 'Ġ'). */
    public String token(int id) {
        bytesOf(id);
        return tokens[id];
    }

    private byte[] bytesOf(int id) {
        if (id < 0 || id >= tokens.length || tokens[id] == null) {
            throw new IllegalArgumentException(
                    "token id " + id + " is not in the vocabulary (size " + tokens.length + ")");
        }
        return tokenBytes[id];
    }
}
