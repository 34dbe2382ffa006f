package io.gptneo.tensor;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * An ND4J array with reverse-mode autodiff (public API, with {@link Ops}): {@code Tensor.parameter(array)} makes a
 * leaf that gets a gradient, {@link Ops} combine tensors, {@link #backward()} on a scalar fills {@link #grad()}.
 *
 * <p>A tensor is a leaf (a parameter or an input) or the output of an operation recorded on the tape. Only leaves
 * created with {@code requiresGrad = true} get a gradient buffer; frozen weights never do, and operations whose
 * inputs all lack gradients record nothing. In {@link GradMode#off()} nothing is recorded at all.
 *
 * <p>{@link #backward()} walks the graph in reverse topological order, accumulates into leaf {@link #grad()}s and
 * then releases the graph (its saved intermediates become garbage).
 */
public final class Tensor {
    private INDArray data;
    /** Packed copies of this (frozen) weight for oneDNN's products ({@link PackedWeights}); null until first used. */
    volatile PackedWeights.Copies packed;
    /** Never packed outside training steps ({@link #plainInInference}). */
    volatile boolean plainInInference;

    private INDArray grad;
    private final boolean requiresGrad;
    private Node node;
    private String name;

    private Tensor(INDArray data, boolean requiresGrad, Node node) {
        this.data = data;
        this.requiresGrad = requiresGrad;
        this.node = node;
    }

    // ---- construction ------------------------------------------------------------------------------------------

    /** A constant (no gradient); FLOAT, DOUBLE, or BFLOAT16 (a frozen weight for bf16 products, {@link Bf16}). */
    public static Tensor constant(INDArray data) {
        return new Tensor(data != null && data.dataType() == DataType.BFLOAT16 ? data : checkData(data), false, null);
    }

    /** A trainable leaf: gets a gradient buffer on backward. */
    public static Tensor parameter(INDArray data) {
        return new Tensor(checkData(data), true, null);
    }

    /** A leaf; {@code requiresGrad} decides whether it gets a gradient (a BFLOAT16 leaf only without). */
    public static Tensor of(INDArray data, boolean requiresGrad) {
        return requiresGrad ? parameter(data) : constant(data);
    }

    /** Output of an operation; records {@code backward} only when grad mode is on and some input needs a gradient. */
    static Tensor result(String op, INDArray out, Tensor[] inputs, Node.Backward backward, INDArray... saved) {
        if (OpProfile.on()) OpProfile.forward(op);
        if (GradMode.isEnabled()) {
            for (Tensor in : inputs) {
                if (in != null && in.requiresGrad) {
                    long bytes = 0;
                    for (INDArray s : saved)
                        if (s != null) bytes += s.length() * s.dataType().width();
                    return new Tensor(out, true, new Node(op, inputs, backward, bytes));
                }
            }
        }
        return new Tensor(out, false, null);
    }

    private static INDArray checkData(INDArray data) {
        if (data == null) throw new IllegalArgumentException("tensor data is null");
        DataType t = data.dataType();
        if (t != DataType.FLOAT && t != DataType.DOUBLE) {
            throw new IllegalArgumentException("tensor dtype must be FLOAT or DOUBLE, got " + t);
        }
        return data;
    }

    // ---- accessors ---------------------------------------------------------------------------------------------

    /** The values (an ND4J array, shared, not copied). */
    public INDArray data() {
        return data;
    }

    /** The accumulated gradient of a leaf that requires one, or null before backward. */
    public INDArray grad() {
        return grad;
    }

    public boolean requiresGrad() {
        return requiresGrad;
    }

    public boolean isLeaf() {
        return node == null;
    }

    public long[] shape() {
        return data.shape();
    }

    public long size(int dim) {
        return data.size(dim);
    }

    public int rank() {
        return data.rank();
    }

    public DataType dtype() {
        return data.dataType();
    }

    public String name() {
        return name;
    }

    public Tensor named(String name) {
        this.name = name;
        return this;
    }

    /**
     * Marks a frozen weight that inference keeps in its plain layout whatever the packing policy (a vocabulary head:
     * its packed copy would cost as much memory as the embedding table, for one product per forward). Returns this.
     */
    public Tensor plainInInference() {
        plainInInference = true;
        return this;
    }

    /** Replaces a leaf's values in place semantics-wise (optimizers, weight loading). Shape and dtype must match. */
    public void setData(INDArray value) {
        if (node != null) throw new IllegalStateException("setData on a non-leaf tensor (" + node.op + ")");
        if (!Arrays.equals(value.shape(), data.shape()) || value.dataType() != data.dataType()) {
            throw new IllegalArgumentException(
                    "setData: expected " + data.dataType() + Arrays.toString(data.shape()) + ", got " + value.dataType()
                            + Arrays.toString(value.shape()) + (name == null ? "" : " for " + name));
        }
        data = value;
        packed = null;
    }

    public void zeroGrad() {
        grad = null;
    }

    /** A leaf sharing this tensor's data, cut from the graph. */
    public Tensor detach() {
        return new Tensor(data, false, null);
    }

    public double item() {
        if (data.length() != 1)
            throw new IllegalArgumentException("item() on a tensor of shape " + Arrays.toString(data.shape()));
        return data.getDouble(0);
    }

    @Override
    public String toString() {
        return "Tensor" + (name == null ? "" : "(" + name + ")") + dtype() + Arrays.toString(shape())
                + (node != null ? " <- " + node.op : requiresGrad ? " param" : "");
    }

    // ---- autodiff ----------------------------------------------------------------------------------------------

    /** Backward from a scalar: seeds dL/dL = 1. */
    public void backward() {
        if (data.length() != 1) {
            throw new IllegalArgumentException("backward() needs a scalar; got shape " + Arrays.toString(shape())
                    + " (pass an explicit gradient instead)");
        }
        backward(Nd4j.onesLike(data));
    }

    /** Backward with an explicit upstream gradient of this tensor's shape. Releases the graph afterwards. */
    public void backward(INDArray seed) {
        if (!requiresGrad) throw new IllegalStateException("backward() on a tensor that does not require grad");
        if (!Arrays.equals(seed.shape(), data.shape())) {
            throw new IllegalArgumentException("backward: seed shape " + Arrays.toString(seed.shape())
                    + " != tensor shape " + Arrays.toString(shape()));
        }
        List<Tensor> order = topologicalOrder(this);
        Map<Tensor, INDArray> pending = new IdentityHashMap<>();
        // Sums this loop allocated and has not handed to any backward function yet: only those may be added to in
        // place (a backward function may return its upstream gradient, or one array for several inputs).
        Set<INDArray> owned = Collections.newSetFromMap(new IdentityHashMap<>());
        pending.put(this, seed);
        for (int i = order.size() - 1; i >= 0; i--) {
            Tensor t = order.get(i);
            INDArray g = pending.remove(t);
            if (g != null) owned.remove(g);
            if (t.node == null) {
                if (g != null) t.accumulate(g);
                continue;
            }
            if (t.node.released()) throw new IllegalStateException("backward through a released graph at " + t.node.op);
            if (g != null) {
                boolean profile = OpProfile.on();
                long t0 = profile ? System.nanoTime() : 0;
                Tensor[] inputs = t.node.inputs;
                INDArray[] addTo = t.node.backward instanceof Node.Accumulating ? pendingSums(inputs, pending) : null;
                INDArray[] gin = addTo != null
                        ? ((Node.Accumulating) t.node.backward).apply(g, addTo)
                        : t.node.backward.apply(g);
                long t1 = profile ? System.nanoTime() : 0;
                if (profile) OpProfile.add("backward " + t.node.op, t1 - t0);
                for (int j = 0; j < inputs.length; j++) {
                    Tensor in = inputs[j];
                    if (in == null || !in.requiresGrad || gin[j] == null) continue;
                    INDArray gj = gin[j];
                    if (!Arrays.equals(gj.shape(), in.data.shape())) {
                        throw new IllegalStateException("internal: " + t.node.op + " produced grad "
                                + Arrays.toString(gj.shape()) + " for input " + Arrays.toString(in.data.shape()));
                    }
                    if (addTo != null && addTo[j] != null) { // gj is a new array with the pending sum in it
                        owned.remove(addTo[j]);
                        pending.put(in, gj);
                        owned.add(gj);
                    } else if (in.node == null) {
                        in.accumulate(gj);
                    } else {
                        INDArray prev = pending.get(in);
                        if (prev == null) {
                            pending.put(in, gj);
                        } else if (owned.contains(prev)) {
                            Kernels.get().addi(prev, gj); // a sum of our own: the third and later terms
                        } else {
                            INDArray sum = Kernels.get().add(prev, gj); // prev may alias another tensor's gradient
                            owned.add(sum);
                            pending.put(in, sum);
                        }
                    }
                }
                if (profile) OpProfile.add("backward (sums of gradients, leaf gradients)", System.nanoTime() - t1);
            }
            t.node.release();
        }
    }

    /**
     * For an {@link Node.Accumulating} backward: the gradient pending for each input that is an operation's result
     * and appears once among the inputs (null elsewhere; leaves accumulate as they do), or null when there is none.
     */
    private static INDArray[] pendingSums(Tensor[] inputs, Map<Tensor, INDArray> pending) {
        INDArray[] addTo = null;
        for (int j = 0; j < inputs.length; j++) {
            Tensor in = inputs[j];
            if (in == null || !in.requiresGrad || in.node == null || !pending.containsKey(in)) continue;
            boolean once = true;
            for (int k = 0; k < inputs.length; k++) if (k != j && inputs[k] == in) once = false;
            if (!once) continue;
            if (addTo == null) addTo = new INDArray[inputs.length];
            addTo[j] = pending.get(in);
        }
        return addTo;
    }

    private void accumulate(INDArray g) {
        if (grad != null) grad.addi(g);
        else
            try (var out = Workspaces.outside()) { // a leaf gradient outlives any step workspace
                grad = g.dup('c');
            }
    }

    /** Tensors reachable from {@code root}, inputs before their consumers. Iterative: graphs can be deep. */
    static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Set<Tensor> visited = Collections.newSetFromMap(new IdentityHashMap<>());
        Deque<Object[]> stack = new ArrayDeque<>(); // {tensor, nextInputIndex}
        stack.push(new Object[] {root, 0});
        visited.add(root);
        while (!stack.isEmpty()) {
            Object[] top = stack.peek();
            Tensor t = (Tensor) top[0];
            int idx = (Integer) top[1];
            Tensor[] inputs = t.node == null || t.node.released() ? new Tensor[0] : t.node.inputs;
            if (idx < inputs.length) {
                top[1] = idx + 1;
                Tensor in = inputs[idx];
                if (in != null && in.requiresGrad && visited.add(in)) stack.push(new Object[] {in, 0});
            } else {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }

    /** Bytes of intermediates the recorded graph below this tensor keeps alive for backward (engine accounting). */
    public long graphSavedBytes() {
        long total = 0;
        for (Tensor t : topologicalOrder(this)) if (t.node != null) total += t.node.savedBytes;
        return total;
    }

    /** Number of recorded operations below this tensor. */
    public int graphSize() {
        int n = 0;
        for (Tensor t : topologicalOrder(this)) if (t.node != null) n++;
        return n;
    }
}
