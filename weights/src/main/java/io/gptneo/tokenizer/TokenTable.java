package io.gptneo.tokenizer;

import java.util.Arrays;

/**
 * Open-addressing map from token bytes to token id that is probed with a slice of a byte array, so looking up a
 * piece allocates nothing. Immutable after construction, hence safe to share between threads.
 */
final class TokenTable {
    private final byte[][] keys; // token id -> bytes (shared with the tokenizer)
    private final int[] slots; // id + 1, 0 = empty
    private final int mask;

    TokenTable(byte[][] tokenBytes, boolean[] include) {
        this.keys = tokenBytes;
        int cap = Integer.highestOneBit(Math.max(16, tokenBytes.length * 3)) << 1; // load factor <= 1/3
        this.slots = new int[cap];
        this.mask = cap - 1;
        for (int id = 0; id < tokenBytes.length; id++) {
            byte[] k = tokenBytes[id];
            if (k == null || !include[id]) continue;
            int s = hash(k, 0, k.length) & mask;
            while (slots[s] != 0) {
                if (Arrays.equals(keys[slots[s] - 1], k)) break; // first id wins for duplicate byte strings
                s = (s + 1) & mask;
            }
            if (slots[s] == 0) slots[s] = id + 1;
        }
    }

    /** FNV-1a with a final avalanche, so that the low bits used for the slot are well mixed. */
    static int hash(byte[] b, int from, int to) {
        int h = 0x811C9DC5;
        for (int i = from; i < to; i++) h = (h ^ b[i]) * 0x01000193;
        h ^= h >>> 16;
        h *= 0x85EBCA6B;
        return h ^ (h >>> 13);
    }

    /** Id of the token with exactly the bytes {@code b[from, to)}, or -1. */
    int get(byte[] b, int from, int to, int hash) {
        int s = hash & mask;
        int len = to - from;
        while (true) {
            int v = slots[s];
            if (v == 0) return -1;
            byte[] k = keys[v - 1];
            if (k.length == len && Arrays.equals(k, 0, len, b, from, to)) return v - 1;
            s = (s + 1) & mask;
        }
    }
}
