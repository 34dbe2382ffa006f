package io.gptneo.tokenizer;

import java.util.Arrays;

/** Growable int array for collecting ids without boxing. */
final class IntBuffer {
    private int[] a;
    private int size;

    IntBuffer(int capacity) {
        a = new int[Math.max(8, capacity)];
    }

    void add(int v) {
        if (size == a.length) a = Arrays.copyOf(a, a.length * 2);
        a[size++] = v;
    }

    void addAll(int[] vs) {
        if (size + vs.length > a.length) a = Arrays.copyOf(a, Math.max(a.length * 2, size + vs.length));
        System.arraycopy(vs, 0, a, size, vs.length);
        size += vs.length;
    }

    int[] toArray() {
        return Arrays.copyOf(a, size);
    }
}
