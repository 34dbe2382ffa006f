package io.gptneo.tokenizer;

/**
 * BPE merge rules keyed by the ids of the two merged tokens: rank (line in merges.txt, lower merges first) and the
 * id of the merged token. Open addressing over packed long keys; immutable after construction.
 */
final class MergeTable {
    static final int NONE = Integer.MAX_VALUE;

    private final long[] keys;
    private final int[] ranks;
    private final int[] merged;
    private final int mask;

    MergeTable(int[] left, int[] right, int[] result) {
        int cap = Integer.highestOneBit(Math.max(16, left.length * 2)) << 1;
        keys = new long[cap];
        ranks = new int[cap];
        merged = new int[cap];
        mask = cap - 1;
        java.util.Arrays.fill(ranks, NONE);
        for (int r = 0; r < left.length; r++) {
            long key = key(left[r], right[r]);
            int s = slot(key);
            while (ranks[s] != NONE && keys[s] != key) s = (s + 1) & mask;
            // A repeated pair takes its last rank, as GPT-2's dict(zip(merges, range(n))) does.
            keys[s] = key;
            ranks[s] = r;
            merged[s] = result[r];
        }
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 32) & mask;
    }

    /** Slot of the rule merging {@code a b}, or -1 when there is none. */
    int find(int a, int b) {
        long key = key(a, b);
        int s = slot(key);
        while (true) {
            if (ranks[s] == NONE) return -1;
            if (keys[s] == key) return s;
            s = (s + 1) & mask;
        }
    }

    /** Rank of merging {@code a b}, or {@link #NONE}. */
    int rank(int a, int b) {
        int s = find(a, b);
        return s < 0 ? NONE : ranks[s];
    }

    int rankAt(int slot) {
        return ranks[slot];
    }

    int mergedAt(int slot) {
        return merged[slot];
    }
}
