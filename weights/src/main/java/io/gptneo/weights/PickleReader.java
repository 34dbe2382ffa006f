package io.gptneo.weights;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Reads the pickle that {@code torch.save} writes for a state dict ({@code data.pkl}, protocol 2) as plain data,
 * executing nothing: there is no class lookup, no import and no call into anything but the fixed functions below.
 * {@code GLOBAL}/{@code STACK_GLOBAL} resolve only {@link #ALLOWED}; anything else is refused at once with the module
 * and name it asked for. {@code REDUCE} applies only the allowlisted rebuild functions, here re-implemented as data
 * constructors (an {@code OrderedDict} becomes a {@link LinkedHashMap}, a tensor a {@link Tensor} record). Persistent
 * ids ({@code BINPERSID}) must be {@code ('storage', StorageClass, key, location, numel)} and become {@link Storage}.
 *
 * <p>Values: None → null, bool → Boolean, int → Long, float → Double, str → String, bytes → byte[], list → ArrayList,
 * tuple → {@link Tuple}, dict → LinkedHashMap.
 */
final class PickleReader {
    /** Globals a state dict may name: data constructors and storage types. Nothing else is ever resolved. */
    static final Set<String> ALLOWED = Set.of(
            "collections.OrderedDict",
            "torch._utils._rebuild_tensor_v2",
            "torch._utils._rebuild_parameter",
            "torch._tensor._rebuild_from_type_v2",
            "torch._tensor.Tensor",
            "torch.nn.parameter.Parameter", // type markers for _rebuild_from_type_v2 only
            "torch.FloatStorage",
            "torch.HalfStorage",
            "torch.BFloat16Storage",
            "torch.DoubleStorage",
            "torch.IntStorage",
            "torch.LongStorage",
            "torch.ByteStorage",
            "torch.BoolStorage");

    private static final Map<String, Dtype> STORAGE_DTYPES = Map.of(
            "FloatStorage",
            Dtype.F32,
            "HalfStorage",
            Dtype.F16,
            "BFloat16Storage",
            Dtype.BF16,
            "DoubleStorage",
            Dtype.F64,
            "IntStorage",
            Dtype.I32,
            "LongStorage",
            Dtype.I64,
            "ByteStorage",
            Dtype.U8,
            "BoolStorage",
            Dtype.BOOL);
    /** A storage key names an entry {@code data/KEY} inside the archive: no separators, no dots-only names. */
    private static final Pattern STORAGE_KEY = Pattern.compile("[A-Za-z0-9_]{1,64}");

    private static final int MAX_STACK = 1 << 20, MAX_STRING = 1 << 24, MAX_MEMO = 1 << 22;

    record Tuple(List<Object> items) {}

    record Global(String module, String name) {
        String qualified() {
            return module + "." + name;
        }
    }

    record Storage(String key, Dtype dtype, long numel) {}

    record Tensor(Storage storage, long offset, long[] size, long[] stride) {}

    private static final Object MARK = new Object();

    private final String source;
    private final ByteBuffer in;
    private final List<Object> stack = new ArrayList<>();
    private final List<Integer> marks = new ArrayList<>();
    private final Map<Long, Object> memo = new HashMap<>();
    private final Map<String, Storage> storages = new LinkedHashMap<>();

    private PickleReader(String source, byte[] bytes) {
        this.source = source;
        this.in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Interprets a whole pickle; {@code source} names it in errors (e.g. {@code file!archive/data.pkl}). */
    static Object read(String source, byte[] bytes) throws PickleException {
        return new PickleReader(source, bytes).run();
    }

    private PickleException fail(String what) {
        return new PickleException(source + ": byte " + in.position() + ": " + what);
    }

    private Object run() throws PickleException {
        try {
            while (true) {
                int op = in.get() & 0xff;
                switch (op) {
                    case 0x80 -> {
                        int v = in.get() & 0xff;
                        if (v > 5) throw fail("unsupported pickle protocol " + v);
                    }
                    case 0x95 -> in.getLong(); // FRAME: length hint only
                    case '.' -> { // STOP
                        if (stack.size() != 1 || !marks.isEmpty())
                            throw fail("STOP with " + stack.size() + " values on the stack");
                        return stack.get(0);
                    }
                    case '}' -> push(new LinkedHashMap<>());
                    case ']' -> push(new ArrayList<>());
                    case ')' -> push(new Tuple(List.of()));
                    case '(' -> {
                        marks.add(stack.size());
                        push(MARK);
                    }
                    case 'N' -> push(null);
                    case 0x88 -> push(Boolean.TRUE);
                    case 0x89 -> push(Boolean.FALSE);
                    case 'J' -> push((long) in.getInt());
                    case 'K' -> push((long) (in.get() & 0xff));
                    case 'M' -> push((long) (in.getShort() & 0xffff));
                    case 0x8a -> push(long1());
                    case 'G' -> push(
                            Double.longBitsToDouble(Long.reverseBytes(in.getLong()))); // BINFLOAT is big-endian
                    case 'X' -> push(text(in.getInt() & 0xffffffffL, true));
                    case 0x8c -> push(text(in.get() & 0xff, true));
                    case 0x8d -> push(text(in.getLong(), true));
                    case 'T' -> push(text(in.getInt() & 0xffffffffL, false));
                    case 'U' -> push(text(in.get() & 0xff, false));
                    case 'B' -> push(bytes(in.getInt() & 0xffffffffL));
                    case 'C' -> push(bytes(in.get() & 0xff));
                    case 'q' -> memoPut(in.get() & 0xff);
                    case 'r' -> memoPut(in.getInt() & 0xffffffffL);
                    case 0x94 -> memoPut(memo.size());
                    case 'h' -> push(memoGet(in.get() & 0xff));
                    case 'j' -> push(memoGet(in.getInt() & 0xffffffffL));
                    case 'c' -> push(global(line(), line()));
                    case 0x93 -> {
                        Object name = pop(), module = pop();
                        push(global(string(module, "STACK_GLOBAL module"), string(name, "STACK_GLOBAL name")));
                    }
                    case 't' -> push(new Tuple(popMark()));
                    case 0x85 -> push(new Tuple(listOf(pop())));
                    case 0x86 -> {
                        Object b = pop(), a = pop();
                        push(new Tuple(listOf(a, b)));
                    }
                    case 0x87 -> {
                        Object c = pop(), b = pop(), a = pop();
                        push(new Tuple(listOf(a, b, c)));
                    }
                    case 'a' -> {
                        Object v = pop();
                        list(top()).add(v);
                    }
                    case 'e' -> {
                        List<Object> vs = popMark();
                        list(top()).addAll(vs);
                    }
                    case 's' -> {
                        Object v = pop(), k = pop();
                        dict(top()).put(key(k), v);
                    }
                    case 'u' -> {
                        List<Object> kv = popMark();
                        if (kv.size() % 2 != 0) throw fail("SETITEMS with an odd number of values");
                        Map<Object, Object> d = dict(top());
                        for (int i = 0; i < kv.size(); i += 2) d.put(key(kv.get(i)), kv.get(i + 1));
                    }
                    case 'R' -> {
                        Object args = pop(), f = pop();
                        push(reduce(f, args));
                    }
                    case 'b' -> {
                        Object state = pop();
                        build(top(), state);
                    }
                    case 'Q' -> push(persistent(pop()));
                    case '0' -> pop();
                    case '1' -> popMark();
                    case '2' -> push(top());
                    default -> throw fail(String.format(
                            "pickle opcode 0x%02x%s is not in the subset torch.save writes for a state dict",
                            op, op >= 0x20 && op < 0x7f ? " ('" + (char) op + "')" : ""));
                }
            }
        } catch (java.nio.BufferUnderflowException e) {
            throw fail("truncated pickle stream (no STOP opcode before the end)");
        }
    }

    private void push(Object o) throws PickleException {
        if (stack.size() >= MAX_STACK) throw fail("stack grows past " + MAX_STACK + " values");
        stack.add(o);
    }

    private Object pop() throws PickleException {
        if (stack.isEmpty()) throw fail("stack underflow");
        Object o = stack.remove(stack.size() - 1);
        if (o == MARK) throw fail("value expected but found a MARK");
        return o;
    }

    private Object top() throws PickleException {
        if (stack.isEmpty() || stack.get(stack.size() - 1) == MARK) throw fail("value expected on the stack");
        return stack.get(stack.size() - 1);
    }

    private List<Object> popMark() throws PickleException {
        if (marks.isEmpty()) throw fail("no MARK on the stack");
        int m = marks.remove(marks.size() - 1);
        List<Object> items = new ArrayList<>(stack.subList(m + 1, stack.size()));
        stack.subList(m, stack.size()).clear();
        return items;
    }

    private static List<Object> listOf(Object... xs) {
        return java.util.Arrays.asList(xs);
    }

    private void memoPut(long i) throws PickleException {
        if (memo.size() >= MAX_MEMO && !memo.containsKey(i)) throw fail("memo grows past " + MAX_MEMO + " entries");
        memo.put(i, top());
    }

    private Object memoGet(long i) throws PickleException {
        if (!memo.containsKey(i)) throw fail("memo index " + i + " was never stored (BINGET of a missing entry)");
        return memo.get(i);
    }

    private long long1() throws PickleException {
        int n = in.get() & 0xff;
        if (n > 8) throw fail("LONG1 of " + n + " bytes exceeds 64 bits");
        long v = 0;
        for (int i = 0; i < n; i++) v |= (in.get() & 0xffL) << (8 * i);
        if (n > 0 && n < 8 && (v >>> (8 * n - 1) & 1) != 0) v |= -1L << (8 * n); // sign-extend
        return v;
    }

    private byte[] bytes(long n) throws PickleException {
        if (n < 0 || n > MAX_STRING || n > in.remaining())
            throw fail("string of " + n + " bytes exceeds the stream (" + in.remaining() + " left) or the limit "
                    + MAX_STRING);
        byte[] b = new byte[(int) n];
        in.get(b);
        return b;
    }

    private String text(long n, boolean utf8) throws PickleException {
        return new String(bytes(n), utf8 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
    }

    private String line() throws PickleException {
        int start = in.position();
        while (in.get() != '\n') if (in.position() - start > 256) throw fail("GLOBAL name longer than 256 bytes");
        return new String(in.array(), start, in.position() - start - 1, StandardCharsets.UTF_8);
    }

    private String string(Object o, String what) throws PickleException {
        if (o instanceof String s) return s;
        throw fail(what + " is not a string");
    }

    private Global global(String module, String name) throws PickleException {
        Global g = new Global(module, name);
        if (!ALLOWED.contains(g.qualified()))
            throw fail("refused global " + module + "." + name + " (module '" + module + "', name '" + name
                    + "'): a state dict only needs " + String.join(", ", new java.util.TreeSet<>(ALLOWED)));
        return g;
    }

    private Storage persistent(Object pid) throws PickleException {
        if (!(pid instanceof Tuple t)
                || t.items().size() != 5
                || !"storage".equals(t.items().get(0)))
            throw fail("persistent id is not ('storage', type, key, location, numel)");
        if (!(t.items().get(1) instanceof Global g)
                || !g.module().equals("torch")
                || !STORAGE_DTYPES.containsKey(g.name()))
            throw fail("persistent id names storage type " + t.items().get(1) + ", not a torch.*Storage class");
        String key = String.valueOf(t.items().get(2));
        if (!(t.items().get(2) instanceof String) || !STORAGE_KEY.matcher(key).matches())
            throw fail("storage key '" + key
                    + "' does not name an entry data/KEY inside the archive (it would escape it)");
        long numel = nonNegative(t.items().get(4), "storage numel");
        Dtype dtype = STORAGE_DTYPES.get(g.name());
        Storage s = storages.computeIfAbsent(key, k -> new Storage(k, dtype, numel));
        if (s.dtype() != dtype || s.numel() != numel)
            throw fail("storage '" + key + "' declared twice: " + s.dtype() + "×" + s.numel() + " and " + dtype + "×"
                    + numel);
        return s;
    }

    private long nonNegative(Object o, String what) throws PickleException {
        if (!(o instanceof Long v) || v < 0) throw fail(what + " is " + o + ", not a non-negative integer");
        return v;
    }

    private long[] longs(Object o, String what) throws PickleException {
        if (!(o instanceof Tuple t)) throw fail(what + " is not a tuple");
        if (t.items().size() > 16) throw fail(what + " has " + t.items().size() + " dimensions (limit 16)");
        long[] out = new long[t.items().size()];
        for (int i = 0; i < out.length; i++) out[i] = nonNegative(t.items().get(i), what + "[" + i + "]");
        return out;
    }

    private Object reduce(Object f, Object args) throws PickleException {
        if (!(f instanceof Global g))
            throw fail("REDUCE of " + describe(f) + ": only allowlisted functions can be applied");
        if (!(args instanceof Tuple t)) throw fail("REDUCE arguments of " + g.qualified() + " are not a tuple");
        List<Object> a = t.items();
        switch (g.qualified()) {
            case "collections.OrderedDict" -> {
                Map<Object, Object> d = new LinkedHashMap<>();
                if (!a.isEmpty())
                    for (Object kv : list(a.get(0))) {
                        if (!(kv instanceof Tuple p) || p.items().size() != 2)
                            throw fail("OrderedDict item is not a (key, value) pair");
                        d.put(key(p.items().get(0)), p.items().get(1));
                    }
                return d;
            }
            case "torch._utils._rebuild_tensor_v2" -> {
                if (a.size() < 6 || a.size() > 7)
                    throw fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + a.size());
                if (!(a.get(0) instanceof Storage s)) throw fail("_rebuild_tensor_v2: first argument is not a storage");
                long[] size = longs(a.get(2), "tensor size"), stride = longs(a.get(3), "tensor stride");
                if (size.length != stride.length)
                    throw fail("tensor size " + java.util.Arrays.toString(size) + " and stride "
                            + java.util.Arrays.toString(stride) + " differ in rank");
                return new Tensor(s, nonNegative(a.get(1), "storage offset"), size, stride);
            }
            case "torch._utils._rebuild_parameter" -> {
                if (a.size() != 3 || !(a.get(0) instanceof Tensor tensor))
                    throw fail("_rebuild_parameter expects (tensor, requires_grad, hooks)");
                return tensor;
            }
            case "torch._tensor._rebuild_from_type_v2" -> {
                if (a.size() != 4
                        || !(a.get(0) instanceof Global inner)
                        || !(a.get(1) instanceof Global type)
                        || !(type.qualified().equals("torch._tensor.Tensor")
                                || type.qualified().equals("torch.nn.parameter.Parameter")))
                    throw fail(
                            "_rebuild_from_type_v2 expects (rebuild function, Tensor or Parameter type, args, state)");
                return reduce(inner, a.get(2));
            }
            default -> throw fail(g.qualified() + " cannot be called (it is a type, allowed only as a marker)");
        }
    }

    private void build(Object target, Object state) throws PickleException {
        // BUILD sets attributes: an OrderedDict's _metadata or a tensor's state. Nothing we keep; never a setattr call.
        if (!(target instanceof Map) && !(target instanceof Tensor)) throw fail("BUILD on " + describe(target));
    }

    /** Dict keys are scalars (a state dict's are strings): no container can be hashed, so no cycle is ever walked. */
    private Object key(Object k) throws PickleException {
        if (k == null || k instanceof String || k instanceof Long || k instanceof Boolean || k instanceof Double)
            return k;
        throw fail("dict key of type " + describe(k) + " (only strings and numbers are accepted)");
    }

    private List<Object> list(Object o) throws PickleException {
        if (o instanceof List<?> l && !(o instanceof Tuple)) {
            @SuppressWarnings("unchecked")
            List<Object> ll = (List<Object>) l;
            return ll;
        }
        throw fail("list expected, found " + describe(o));
    }

    private Map<Object, Object> dict(Object o) throws PickleException {
        if (o instanceof Map<?, ?> m) {
            @SuppressWarnings("unchecked")
            Map<Object, Object> mm = (Map<Object, Object>) m;
            return mm;
        }
        throw fail("dict expected, found " + describe(o));
    }

    private static String describe(Object o) {
        return o == null
                ? "None"
                : o instanceof Global g ? g.qualified() : o.getClass().getSimpleName();
    }
}
