package io.gptneo.tensor;

import io.gptneo.tensor.attention.AttentionKernel;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.INDArrayIndex;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Differentiable operations (public API, with {@link Tensor}): build an expression from tensors, call
 * {@link Tensor#backward()} on the scalar result and read each parameter's {@link Tensor#grad()}. Each forward records its backward beside it (see {@link Tensor#result}); shapes are
 * written {@code [B, T, C]}-style. Inputs are validated up front: a shape or dtype mismatch throws
 * {@link IllegalArgumentException} naming the operation and the shapes, never an opaque native error later.
 */
public final class Ops {
    private Ops() {}

    /** Which implementation serves the operations that have a fast kernel (decided once; see {@link Kernels}). */
    private static final Kernels KERNELS = Kernels.get();

    // ---- elementwise with numpy broadcasting -------------------------------------------------------------------

    /** a + b, elementwise with numpy broadcasting. */
    public static Tensor add(Tensor a, Tensor b) {
        long[] as = a.shape(), bs = b.shape();
        broadcastShape("add", a, b);
        return Tensor.result("add", KERNELS.add(a.data(), b.data()), new Tensor[] {a, b}, g ->
                new INDArray[] {sumTo(g, as), sumTo(g, bs)});
    }

    public static Tensor sub(Tensor a, Tensor b) {
        long[] as = a.shape(), bs = b.shape();
        broadcastShape("sub", a, b);
        return Tensor.result("sub", a.data().sub(b.data()), new Tensor[] {a, b}, g ->
                new INDArray[] {sumTo(g, as), sumTo(g, bs).neg()});
    }

    /** a · b, elementwise with numpy broadcasting. */
    public static Tensor mul(Tensor a, Tensor b) {
        broadcastShape("mul", a, b);
        INDArray x = a.data(), y = b.data();
        return Tensor.result(
                "mul",
                x.mul(y),
                new Tensor[] {a, b},
                g -> new INDArray[] {
                    a.requiresGrad() ? sumTo(g.mul(y), x.shape()) : null,
                    b.requiresGrad() ? sumTo(g.mul(x), y.shape()) : null
                },
                x,
                y);
    }

    /** a / b, elementwise with numpy broadcasting. */
    public static Tensor div(Tensor a, Tensor b) {
        broadcastShape("div", a, b);
        INDArray x = a.data(), y = b.data();
        INDArray out = x.div(y);
        return Tensor.result(
                "div",
                out,
                new Tensor[] {a, b},
                g -> new INDArray[] {
                    a.requiresGrad() ? sumTo(g.div(y), x.shape()) : null,
                    b.requiresGrad() ? sumTo(g.mul(out).div(y).negi(), y.shape()) : null
                },
                y,
                out);
    }

    public static Tensor scale(Tensor a, double s) {
        return Tensor.result("scale", a.data().mul(s), new Tensor[] {a}, g -> new INDArray[] {g.mul(s)});
    }

    /** a + s for a scalar s. */
    public static Tensor addScalar(Tensor a, double s) {
        return Tensor.result("addScalar", a.data().add(s), new Tensor[] {a}, g -> new INDArray[] {g});
    }

    public static Tensor neg(Tensor a) {
        return scale(a, -1);
    }

    /** e^a, elementwise. */
    public static Tensor exp(Tensor a) {
        INDArray out = Transforms.exp(a.data(), true);
        return Tensor.result("exp", out, new Tensor[] {a}, g -> new INDArray[] {g.mul(out)}, out);
    }

    /** The natural log of a, elementwise. */
    public static Tensor log(Tensor a) {
        INDArray x = a.data();
        return Tensor.result("log", Transforms.log(x, true), new Tensor[] {a}, g -> new INDArray[] {g.div(x)}, x);
    }

    public static Tensor tanh(Tensor a) {
        INDArray out = Transforms.tanh(a.data(), true);
        return Tensor.result(
                "tanh",
                out,
                new Tensor[] {a},
                g -> new INDArray[] {g.mul(out.mul(out).rsubi(1.0))},
                out);
    }

    public static Tensor square(Tensor a) {
        INDArray x = a.data();
        return Tensor.result(
                "square",
                x.mul(x),
                new Tensor[] {a},
                g -> new INDArray[] {g.mul(x).muli(2.0)},
                x);
    }

    /** log σ(x) = min(x, 0) − log(1 + e^{−|x|}), stable for large |x|. d/dx = σ(−x). */
    public static Tensor logSigmoid(Tensor a) {
        INDArray x = a.data();
        INDArray out = Transforms.min(x, 0.0, true)
                .subi(Transforms.log(
                        Transforms.exp(Transforms.abs(x, true).negi(), false).addi(1.0), false));
        return Tensor.result(
                "logSigmoid",
                out,
                new Tensor[] {a},
                g -> new INDArray[] {g.mul(Transforms.sigmoid(x.neg(), false))},
                x);
    }

    /** GPT-2/GPT-Neo {@code gelu_new}: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))); {@link FastGelu} or {@link Reference#gelu}. */
    public static Tensor gelu(Tensor a) {
        INDArray x = a.data();
        return Tensor.result(
                "gelu", KERNELS.gelu(x), new Tensor[] {a}, g -> new INDArray[] {KERNELS.geluBackward(x, g)}, x);
    }

    /** x where mask == 0, {@code value} where mask != 0; mask broadcasts to x and is not differentiated. */
    public static Tensor maskedFill(Tensor a, INDArray mask, double value) {
        INDArray x = a.data();
        INDArray m = mask.castTo(x.dataType()).neq(0).castTo(x.dataType());
        try {
            Shapes.broadcast(x.shape(), m.shape());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("maskedFill: mask " + Arrays.toString(m.shape())
                    + " does not broadcast to " + Arrays.toString(x.shape()));
        }
        INDArray keep = m.rsub(1.0);
        INDArray out = x.mul(keep).addi(m.mul(value));
        return Tensor.result(
                "maskedFill", out, new Tensor[] {a}, g -> new INDArray[] {sumTo(g.mul(keep), x.shape())}, keep);
    }

    /** Inverted dropout with a mask drawn from {@code seed}: the same seed gives the same mask (recompute-safe). */
    public static Tensor dropout(Tensor a, double p, long seed) {
        if (p < 0 || p >= 1) throw new IllegalArgumentException("dropout: p must be in [0, 1), got " + p);
        if (p == 0) return a;
        INDArray x = a.data();
        long n = x.length();
        if (n > Integer.MAX_VALUE - 16)
            throw new IllegalArgumentException("dropout: tensor too large " + Arrays.toString(x.shape()));
        long[] keep = DropoutMask.keep((int) n, p, seed);
        double keepScale = 1.0 / (1.0 - p);
        return Tensor.result("dropout", KERNELS.dropout(x, keep, keepScale, null), new Tensor[] {a}, g ->
                new INDArray[] {KERNELS.dropout(g, keep, keepScale, null)});
    }

    // ---- reductions --------------------------------------------------------------------------------------------

    public static Tensor sum(Tensor a) {
        long[] s = a.shape();
        INDArray out = Nd4j.scalar(a.dtype(), a.data().sumNumber().doubleValue());
        return Tensor.result("sum", out, new Tensor[] {a}, g ->
                new INDArray[] {Nd4j.zeros(a.dtype(), s).addi(g.getDouble(0))});
    }

    /** The mean of every element: a scalar []. */
    public static Tensor mean(Tensor a) {
        long n = a.data().length();
        return scale(sum(a), 1.0 / n);
    }

    /** Sum over {@code dims}, keeping them as size 1. */
    public static Tensor sum(Tensor a, int... dims) {
        long[] s = a.shape();
        int[] d = Shapes.normalizeDims("sum", dims, a.rank());
        return Tensor.result("sumDims", a.data().sum(true, d), new Tensor[] {a}, g ->
                new INDArray[] {Nd4j.zeros(a.dtype(), s).addi(g)});
    }

    /** Mean over {@code dims}, keeping them as size 1. */
    public static Tensor mean(Tensor a, int... dims) {
        int[] d = Shapes.normalizeDims("mean", dims, a.rank());
        long count = 1;
        for (int i : d) count *= a.size(i);
        return scale(sum(a, d), 1.0 / count);
    }

    // ---- shape ops ---------------------------------------------------------------------------------------------

    public static Tensor reshape(Tensor a, long... shape) {
        long[] in = a.shape();
        long[] out = Shapes.inferReshape("reshape", in, shape);
        return Tensor.result(
                "reshape", a.data().reshape('c', out), new Tensor[] {a}, g -> new INDArray[] {g.reshape('c', in)});
    }

    public static Tensor permute(Tensor a, int... dims) {
        int r = a.rank();
        if (dims.length != r)
            throw new IllegalArgumentException("permute: " + Arrays.toString(dims) + " for rank " + r);
        int[] inverse = new int[r];
        boolean[] seen = new boolean[r];
        for (int i = 0; i < r; i++) {
            if (dims[i] < 0 || dims[i] >= r || seen[dims[i]]) {
                throw new IllegalArgumentException(
                        "permute: invalid dims " + Arrays.toString(dims) + " for shape " + Arrays.toString(a.shape()));
            }
            seen[dims[i]] = true;
            inverse[dims[i]] = i;
        }
        return Tensor.result(
                "permute", a.data().permute(dims), new Tensor[] {a}, g -> new INDArray[] {g.permute(inverse)});
    }

    public static Tensor transpose(Tensor a, int d0, int d1) {
        int r = a.rank();
        int[] dims = new int[r];
        for (int i = 0; i < r; i++) dims[i] = i;
        d0 = Math.floorMod(d0, r);
        d1 = Math.floorMod(d1, r);
        dims[d0] = d1;
        dims[d1] = d0;
        return permute(a, dims);
    }

    /** Contiguous c-order copy (identity for autodiff). */
    public static Tensor contiguous(Tensor a) {
        return Tensor.result("contiguous", a.data().dup('c'), new Tensor[] {a}, g -> new INDArray[] {g});
    }

    /** Elements [start, end) along {@code dim}. */
    public static Tensor slice(Tensor a, int dim, long start, long end) {
        int r = a.rank();
        int d = Math.floorMod(dim, r);
        long n = a.size(d);
        if (start < 0 || end > n || start >= end) {
            throw new IllegalArgumentException("slice: [" + start + ", " + end + ") out of range for dim " + dim
                    + " of shape " + Arrays.toString(a.shape()));
        }
        INDArrayIndex[] idx = new INDArrayIndex[r];
        for (int i = 0; i < r; i++) idx[i] = i == d ? NDArrayIndex.interval(start, end) : NDArrayIndex.all();
        long[] s = a.shape();
        return Tensor.result("slice", a.data().get(idx), new Tensor[] {a}, g -> {
            INDArray z = Nd4j.zeros(a.dtype(), s);
            z.get(idx).assign(g);
            return new INDArray[] {z};
        });
    }

    /** The parts joined along {@code dim}; every other dimension must agree. */
    public static Tensor concat(int dim, Tensor... parts) {
        if (parts.length == 0) throw new IllegalArgumentException("concat: no inputs");
        int r = parts[0].rank();
        int d = Math.floorMod(dim, r);
        INDArray[] arrays = new INDArray[parts.length];
        long[] offsets = new long[parts.length + 1];
        for (int i = 0; i < parts.length; i++) {
            Tensor p = parts[i];
            if (p.rank() != r || p.dtype() != parts[0].dtype()) {
                throw new IllegalArgumentException(
                        "concat: input " + i + " is " + p.dtype() + Arrays.toString(p.shape()) + ", input 0 is "
                                + parts[0].dtype() + Arrays.toString(parts[0].shape()));
            }
            for (int j = 0; j < r; j++) {
                if (j != d && p.size(j) != parts[0].size(j)) {
                    throw new IllegalArgumentException(
                            "concat along " + dim + ": shapes " + Arrays.toString(parts[0].shape()) + " and "
                                    + Arrays.toString(p.shape()) + " differ in dim " + j);
                }
            }
            arrays[i] = p.data();
            offsets[i + 1] = offsets[i] + p.size(d);
        }
        return Tensor.result("concat", Nd4j.concat(d, arrays), parts, g -> {
            INDArray[] out = new INDArray[parts.length];
            for (int i = 0; i < parts.length; i++) {
                INDArrayIndex[] idx = new INDArrayIndex[r];
                for (int j = 0; j < r; j++)
                    idx[j] = j == d ? NDArrayIndex.interval(offsets[i], offsets[i + 1]) : NDArrayIndex.all();
                out[i] = g.get(idx);
            }
            return out;
        });
    }

    // ---- linear algebra ----------------------------------------------------------------------------------------

    /**
     * Matrix product. {@code a [..., M, K] @ b [K, N] -> [..., M, N]}, or batched {@code [..., M, K] @ [..., K, N]}
     * with equal batch dims.
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        sameDtype("matmul", a, b);
        long[] as = a.shape(), bs = b.shape();
        if (as.length < 2
                || bs.length < 2
                || as[as.length - 1] != bs[bs.length - 2]
                || (bs.length > 2
                        && !Arrays.equals(Arrays.copyOf(as, as.length - 2), Arrays.copyOf(bs, bs.length - 2)))) {
            throw new IllegalArgumentException(
                    "matmul: incompatible shapes " + Arrays.toString(as) + " @ " + Arrays.toString(bs));
        }
        INDArray x = a.data(), y = b.data();
        if (bs.length == 2) {
            long k = as[as.length - 1];
            INDArray x2 = x.reshape('c', x.length() / k, k); // [N*, K]
            long[] outShape = as.clone();
            outShape[as.length - 1] = bs[1];
            INDArray out = Gemm.mm(x2, y, false, false).reshape('c', outShape);
            return Tensor.result(
                    "matmul",
                    out,
                    new Tensor[] {a, b},
                    g -> {
                        INDArray g2 = g.reshape('c', x2.size(0), bs[1]); // [N*, N]
                        return new INDArray[] {
                            a.requiresGrad() ? Gemm.mm(g2, y, false, true).reshape('c', as) : null,
                            b.requiresGrad() ? Gemm.mm(x2, g2, true, false) : null
                        };
                    },
                    x2,
                    y);
        }
        INDArray out = Gemm.bmm(x, y, false, false);
        return Tensor.result(
                "bmm",
                out,
                new Tensor[] {a, b},
                g -> new INDArray[] {
                    a.requiresGrad() ? Gemm.bmm(g, y, false, true) : null,
                    b.requiresGrad() ? Gemm.bmm(x, g, true, false) : null
                },
                x,
                y);
    }

    /** A HuggingFace Linear: {@code x [..., in] -> x W^T + b = [..., out]} with {@code W [out, in]}, b [out] or null. */
    public static Tensor linear(Tensor x, Tensor w, Tensor b) {
        checkLinear(x, w, b);
        INDArray xd = x.data(), wd = w.data();
        INDArray y = Gemm.mmWeightRows(xd, w, wd, true, b == null ? null : b.data()); // [..., out], bias in BLAS
        Tensor[] inputs = b == null ? new Tensor[] {x, w} : new Tensor[] {x, w, b};
        return Tensor.result(
                "linear", y, inputs, g -> linearBackward(g, x, w, b, xd, wd, new INDArray[inputs.length]), xd);
    }

    private static void checkLinear(Tensor x, Tensor w, Tensor b) {
        long[] xs = x.shape(), ws = w.shape();
        if (ws.length != 2 || xs.length < 1 || xs[xs.length - 1] != ws[1]) {
            throw new IllegalArgumentException(
                    "linear: input " + Arrays.toString(xs) + " does not match weight [out, in] = " + Arrays.toString(ws)
                            + (w.name() == null ? "" : " (" + w.name() + ")"));
        }
        weightDtype("linear", x, w);
        if (b != null && (b.rank() != 1 || b.size(0) != ws[0] || b.dtype() != x.dtype())) {
            throw new IllegalArgumentException(
                    "linear: bias " + b.dtype() + Arrays.toString(b.shape()) + " for weight " + Arrays.toString(ws));
        }
    }

    /**
     * Gradients of {@link #linear}'s x, w and b (where they need one) into {@code r[0..2]}; returns r. xd and wd: x's
     * and w's arrays as the forward read them.
     */
    private static INDArray[] linearBackward(
            INDArray g, Tensor x, Tensor w, Tensor b, INDArray xd, INDArray wd, INDArray[] r) {
        long in = wd.size(1), outF = wd.size(0);
        if (x.requiresGrad()) r[0] = Gemm.mmWeightRows(g, w, wd, false, null); // [..., in]
        if (w.requiresGrad() || (b != null && b.requiresGrad())) {
            long n = xd.length() / in;
            INDArray g2 = g.reshape('c', n, outF); // [N, out]
            if (w.requiresGrad()) r[1] = Gemm.mm(g2, xd.reshape('c', n, in), true, false); // [out, in]
            if (b != null && b.requiresGrad()) r[2] = g2.sum(0);
        }
        return r;
    }

    /**
     * {@code linear(x, w, b) + r}, r of the result's shape (a residual stream): where w's packed product applies
     * ({@link PackedWeights}, a frozen weight in a training step) the sum is part of the product (a oneDNN post-op:
     * one pass over the result instead of a product, then a read of both and a write); else {@link #add} of
     * {@link #linear}. Same values either way: the product, the bias and r are added in float32 in that order.
     */
    public static Tensor linearAdd(Tensor x, Tensor w, Tensor b, Tensor r) {
        checkLinear(x, w, b);
        INDArray xd = x.data(), wd = w.data();
        INDArray y = PackedWeights.applies(xd, w, wd) // null where r is no addend the product can take (shape, dtype)
                ? PackedWeights.mm(xd, w, wd, true, b == null ? null : b.data(), r.data())
                : null;
        if (y == null) return add(linear(x, w, b), r);
        return Tensor.result(
                "linearAdd",
                y,
                new Tensor[] {x, w, b, r},
                g -> {
                    INDArray[] grads = linearBackward(g, x, w, b, xd, wd, new INDArray[4]);
                    grads[3] = g; // d(y + r)/dr: the gradient itself, as add passes it
                    return grads;
                },
                xd);
    }

    /**
     * {@code linear(x, w, bias) + scaling · linear(linear(dropout(x, p, seed), a), b)} as one operation: a frozen or
     * trainable linear with a LoRA side path, A {@code [r, in]}, B {@code [out, r]}. Same values and gradients as that
     * composition (the dropout mask is drawn exactly as {@link #dropout} draws it), fewer passes over memory; see
     * {@link LoraLinearOp}. {@code p = 0}: no dropout.
     */
    public static Tensor loraLinear(
            Tensor x, Tensor w, Tensor bias, Tensor a, Tensor b, double scaling, double p, long seed) {
        return LoraLinearOp.apply(x, w, bias, a, b, scaling, p, seed);
    }

    /**
     * Bias-free linear layers of one input as one product: {@code w [Σ widths, in]} is their weights stacked, the
     * result part i is {@code x · w_iᵀ + side_i(x)} {@code [..., widths[i]]} (a column view of the whole product), with
     * an optional LoRA side path per part ({@code sides[i]}, null: none). Same values and gradients as one
     * {@link #loraLinear} or {@link #linear} per part; see {@link SplitLinearOp}.
     */
    public static Tensor[] linearSplit(Tensor x, Tensor w, long[] widths, LowRank[] sides) {
        return SplitLinearOp.apply(x, w, widths, sides);
    }

    // ---- lookup ------------------------------------------------------------------------------------------------

    /** Rows of {@code table [N, C]} at {@code index} -> [len, C]; backward scatter-adds (duplicates accumulate). */
    public static Tensor gatherRows(Tensor table, int[] index) {
        if (table.rank() != 2)
            throw new IllegalArgumentException(
                    "gatherRows: table must be [N, C], got " + Arrays.toString(table.shape()));
        long n = table.size(0);
        for (int i : index) {
            if (i < 0 || i >= n)
                throw new IllegalArgumentException("gatherRows: index " + i + " out of range [0, " + n + ")");
        }
        long[] ts = table.shape();
        INDArray out = Nd4j.pullRows(table.data(), 1, index); // [len, C]
        return Tensor.result(
                "gatherRows", out, new Tensor[] {table}, g -> new INDArray[] {KERNELS.scatterAddRows(ts, index, g)});
    }

    /** Token embedding: {@code table [V, C]}, ids [B][T] -> [B, T, C]. */
    public static Tensor embedding(Tensor table, int[][] ids) {
        int bsz = ids.length, t = bsz == 0 ? 0 : ids[0].length;
        int[] flat = new int[bsz * t];
        for (int b = 0; b < bsz; b++) {
            if (ids[b].length != t)
                throw new IllegalArgumentException(
                        "embedding: ragged ids (row " + b + " has " + ids[b].length + ", row 0 has " + t + ")");
            System.arraycopy(ids[b], 0, flat, b * t, t);
        }
        return reshape(gatherRows(table, flat), bsz, t, table.size(1));
    }

    // ---- normalisation and softmax -----------------------------------------------------------------------------

    /** LayerNorm over the last dim: {@code x [..., C]}, gamma/beta [C]. */
    public static Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, double eps) {
        long c = x.size(x.rank() - 1);
        if (gamma.rank() != 1 || gamma.size(0) != c || beta.rank() != 1 || beta.size(0) != c) {
            throw new IllegalArgumentException("layerNorm: input " + Arrays.toString(x.shape()) + ", gamma "
                    + Arrays.toString(gamma.shape()) + ", beta " + Arrays.toString(beta.shape()));
        }
        sameDtype("layerNorm", x, gamma);
        sameDtype("layerNorm", x, beta);
        INDArray xd = x.data(); // [..., C]
        Kernels.LayerNormForward f =
                KERNELS.layerNorm(xd, gamma.data(), beta.data(), eps); // FastLayerNorm or Reference, x's shape
        return Tensor.result(
                "layerNorm",
                f.y(),
                new Tensor[] {x, gamma, beta},
                (Node.Accumulating) (g, addTo) -> { // x's pending gradient (the residual's) is added as dx is written
                    INDArray add = addTo == null ? null : addTo[0];
                    Kernels.LayerNormGrads r =
                            f.backward().apply(g, x.requiresGrad(), gamma.requiresGrad(), beta.requiresGrad(), add);
                    return new INDArray[] {r.dx(), r.dGamma(), r.dBeta()};
                },
                xd);
    }

    /** Softmax over the last dim. */
    public static Tensor softmax(Tensor a) {
        INDArray y = softmaxLast(a.data());
        int last = a.rank() - 1;
        return Tensor.result(
                "softmax",
                y,
                new Tensor[] {a},
                g -> {
                    INDArray dot = g.mul(y).sum(true, last);
                    return new INDArray[] {g.sub(dot).muli(y)};
                },
                y);
    }

    /** Log-softmax over the last dim. */
    public static Tensor logSoftmax(Tensor a) {
        int last = a.rank() - 1;
        INDArray x = a.data();
        INDArray shifted = x.sub(x.max(true, last));
        INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, last), false);
        INDArray out = shifted.subi(lse);
        return Tensor.result(
                "logSoftmax",
                out,
                new Tensor[] {a},
                g -> {
                    INDArray p = Transforms.exp(out, true);
                    return new INDArray[] {g.sub(p.muli(g.sum(true, last)))};
                },
                out);
    }

    static INDArray softmaxLast(INDArray x) {
        int last = x.rank() - 1;
        INDArray e = Transforms.exp(x.sub(x.max(true, last)), false);
        return e.divi(e.sum(true, last));
    }

    /**
     * Mean cross-entropy of {@code logits [N, V]} against {@code targets [N]}; targets equal to {@code ignoreIndex}
     * are skipped (HF uses -100). Computed from a log-softmax, so it is stable for large logits.
     */
    public static Tensor crossEntropy(Tensor logits, int[] targets, int ignoreIndex) {
        if (logits.rank() != 2 || logits.size(0) != targets.length) {
            throw new IllegalArgumentException(
                    "crossEntropy: logits " + Arrays.toString(logits.shape()) + " vs " + targets.length + " targets");
        }
        long v = logits.size(1);
        int count = 0;
        for (int t : targets) {
            if (t == ignoreIndex) continue;
            if (t < 0 || t >= v)
                throw new IllegalArgumentException("crossEntropy: target " + t + " out of range [0, " + v + ")");
            count++;
        }
        if (count == 0) throw new IllegalArgumentException("crossEntropy: every target is ignored");
        INDArray x = logits.data();
        INDArray shifted = x.sub(x.max(true, 1));
        INDArray lse = Transforms.log(Transforms.exp(shifted, true).sum(true, 1), false); // [N, 1]
        double total = 0;
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] != ignoreIndex) total += lse.getDouble(i, 0) - shifted.getDouble(i, targets[i]);
        }
        final int n = count;
        INDArray out = Nd4j.scalar(x.dataType(), total / n);
        return Tensor.result(
                "crossEntropy",
                out,
                new Tensor[] {logits},
                g -> {
                    INDArray p = Transforms.exp(shifted.subColumnVector(lse), false); // softmax [N, V]
                    for (int i = 0; i < targets.length; i++) {
                        if (targets[i] == ignoreIndex) p.getRow(i).assign(0);
                        else p.putScalar(i, targets[i], p.getDouble(i, targets[i]) - 1.0);
                    }
                    return new INDArray[] {p.muli(g.getDouble(0) / n)};
                },
                shifted,
                lse);
    }

    // ---- attention ---------------------------------------------------------------------------------------------

    /**
     * Causal (optionally windowed) attention as one operation; see {@link AttentionKernel} for the semantics.
     * q, k, v {@code [B, H, T, D]}; keyMask [B, T] (1 real, 0 pad) or null; window ≤ 0 means global.
     */
    public static Tensor attention(
            Tensor q, Tensor k, Tensor v, INDArray keyMask, int window, double scale, AttentionKernel chosen) {
        long[] s = q.shape();
        if (s.length != 4 || !Arrays.equals(s, k.shape()) || !Arrays.equals(s, v.shape())) {
            throw new IllegalArgumentException(
                    "attention: q, k, v must be equal [B, H, T, D]; got " + Arrays.toString(q.shape()) + ", "
                            + Arrays.toString(k.shape()) + ", " + Arrays.toString(v.shape()));
        }
        sameDtype("attention", q, k);
        sameDtype("attention", q, v);
        if (keyMask != null && (keyMask.rank() != 2 || keyMask.size(0) != s[0] || keyMask.size(1) != s[2])) {
            throw new IllegalArgumentException("attention: key mask " + Arrays.toString(keyMask.shape())
                    + " for [B, T] = [" + s[0] + ", " + s[2] + "]");
        }
        INDArray qd = q.data().dup('c'), kd = k.data().dup('c'), vd = v.data().dup('c');
        AttentionKernel kernel = Kernels.attentionFor(chosen, q.dtype());
        boolean needBackward = GradMode.isEnabled() && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad());
        AttentionKernel.Forward fwd = kernel.forward(qd, kd, vd, keyMask, window, scale, needBackward);
        return Tensor.result(
                "attention[" + kernel.name() + "]",
                fwd.out(),
                new Tensor[] {q, k, v},
                g -> {
                    AttentionKernel.Grads gr = kernel.backward(fwd, qd, kd, vd, keyMask, window, scale, g.dup('c'));
                    return new INDArray[] {gr.dq(), gr.dk(), gr.dv()};
                },
                qd,
                kd,
                vd,
                fwd.out());
    }

    /**
     * {@link #attention} on the packed layout of the projections: q, k, v {@code [B, T, heads*D]} -> {@code [B, T, heads*D]}
     * (head h in columns {@code [h*D, (h+1)*D)}), so the model needs no split/merge permutes around it. Kernels that
     * index packed rows directly (fused) copy nothing; others go through {@link AttentionKernel#forwardPacked}'s
     * permuting default.
     */
    public static Tensor attentionPacked(
            Tensor q,
            Tensor k,
            Tensor v,
            int heads,
            INDArray keyMask,
            int window,
            double scale,
            AttentionKernel chosen) {
        long[] s = q.shape();
        if (s.length != 3
                || !Arrays.equals(s, k.shape())
                || !Arrays.equals(s, v.shape())
                || heads <= 0
                || s[2] % heads != 0) {
            throw new IllegalArgumentException("attention: q, k, v must be equal [B, T, H*D] with H = " + heads
                    + "; got " + Arrays.toString(q.shape()) + ", " + Arrays.toString(k.shape()) + ", "
                    + Arrays.toString(v.shape()));
        }
        sameDtype("attention", q, k);
        sameDtype("attention", q, v);
        INDArray qd = q.data(), kd = k.data(), vd = v.data();
        AttentionKernel kernel = Kernels.attentionFor(chosen, q.dtype());
        boolean needBackward = GradMode.isEnabled() && (q.requiresGrad() || k.requiresGrad() || v.requiresGrad());
        AttentionKernel.Forward fwd = kernel.forwardPacked(qd, kd, vd, heads, keyMask, window, scale, needBackward);
        return Tensor.result(
                "attention[" + kernel.name() + "]",
                fwd.out(),
                new Tensor[] {q, k, v},
                g -> {
                    AttentionKernel.Grads gr = kernel.backwardPacked(fwd, qd, kd, vd, heads, keyMask, window, scale, g);
                    return new INDArray[] {gr.dq(), gr.dk(), gr.dv()};
                },
                qd,
                kd,
                vd,
                fwd.out());
    }

    // ---- helpers -----------------------------------------------------------------------------------------------

    /** Reduces a broadcast gradient back to {@code shape} by summing the broadcast dims. */
    static INDArray sumTo(INDArray g, long[] shape) {
        if (Arrays.equals(g.shape(), shape)) return g;
        if (shape.length == 0) return Nd4j.scalar(g.dataType(), g.sumNumber().doubleValue());
        int extra = g.rank() - shape.length;
        List<Integer> dims = new ArrayList<>();
        for (int i = 0; i < g.rank(); i++) {
            if (i < extra || (shape[i - extra] == 1 && g.size(i) != 1)) dims.add(i);
        }
        INDArray r = dims.isEmpty()
                ? g
                : g.sum(true, dims.stream().mapToInt(Integer::intValue).toArray());
        return r.reshape('c', shape);
    }

    private static long[] broadcastShape(String op, Tensor a, Tensor b) {
        sameDtype(op, a, b);
        try {
            return Shapes.broadcast(a.shape(), b.shape());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(op + ": shapes " + Arrays.toString(a.shape()) + " and "
                    + Arrays.toString(b.shape()) + " do not broadcast");
        }
    }

    /**
     * A layer's weight has the input's dtype, or is a frozen BFLOAT16 weight of a FLOAT input ({@link Bf16}: the
     * product is taken in bf16 with float32 accumulation; such a weight never gets a gradient).
     */
    static void weightDtype(String op, Tensor x, Tensor w) {
        if (w.dtype() != DataType.BFLOAT16 || x.dtype() != DataType.FLOAT)
            sameDtype(op, x, w); // a BFLOAT16 tensor is always a constant
    }

    static void sameDtype(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new IllegalArgumentException(op + ": dtype mismatch " + a.dtype() + Arrays.toString(a.shape())
                    + " vs " + b.dtype() + Arrays.toString(b.shape()));
        }
    }
}
