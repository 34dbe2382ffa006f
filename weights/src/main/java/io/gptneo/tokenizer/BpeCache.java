package io.gptneo.tokenizer;

import java.util.Arrays;

/**
 * Bounded cache of BPE results for pieces that are not a vocabulary token: a direct-mapped table (a new piece
 * evicts whatever shared its slot), probed with a byte slice so that hits allocate nothing.
 * Thread-safe without locks: slots hold immutable entries whose fields are final, so a reader sees either null
 * or a fully built entry, and a lost race only costs a recomputation.
 */
final class BpeCache {
    private record Entry(byte[] key, int[] ids) {}

    private final Entry[] slots;
    private final int mask;

    BpeCache(int capacityPowerOfTwo) {
        if (Integer.bitCount(capacityPowerOfTwo) != 1)
            throw new IllegalArgumentException("capacity must be a power of two");
        slots = new Entry[capacityPowerOfTwo];
        mask = capacityPowerOfTwo - 1;
    }

    int[] get(byte[] b, int from, int to, int hash) {
        Entry e = slots[
                (hash >>> 7) & mask]; // other bits than the vocabulary table's, so its clusters do not repeat here
        if (e == null) return null;
        byte[] k = e.key;
        return k.length == to - from && Arrays.equals(k, 0, k.length, b, from, to) ? e.ids : null;
    }

    void put(byte[] b, int from, int to, int hash, int[] ids) {
        slots[(hash >>> 7) & mask] = new Entry(Arrays.copyOfRange(b, from, to), ids);
    }
}
