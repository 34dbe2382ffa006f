package io.gptneo.examples;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

import io.gptneo.tensor.Ops;
import io.gptneo.tensor.Tensor;

/** Takes a gradient with the autodiff: d/dW of mean(tanh(x·Wᵀ + b)²), checked against a finite difference. */
public final class AutodiffGradient {
    public static void main(String[] args) {
        Tensor x = Tensor.constant(Nd4j.createFromArray(new double[][] {{0.5, -1.0, 2.0}, {1.5, 0.25, -0.75}}));   // [2, 3]
        Tensor w = Tensor.parameter(Nd4j.createFromArray(new double[][] {{0.1, 0.2, -0.3}, {0.4, -0.5, 0.6}}));   // [2, 3]
        Tensor b = Tensor.parameter(Nd4j.createFromArray(0.05, -0.05));                                           // [2]

        Tensor loss = Ops.mean(Ops.square(Ops.tanh(Ops.linear(x, w, b))));
        loss.backward();
        System.out.println("loss  " + loss.item());
        System.out.println("dL/dW " + w.grad());
        System.out.println("dL/db " + b.grad());

        // the same derivative for W[0][1] by central differences
        double h = 1e-6, w01 = w.data().getDouble(0, 1);
        w.data().putScalar(new long[] {0, 1}, w01 + h);
        double up = Ops.mean(Ops.square(Ops.tanh(Ops.linear(x, w, b)))).item();
        w.data().putScalar(new long[] {0, 1}, w01 - h);
        double down = Ops.mean(Ops.square(Ops.tanh(Ops.linear(x, w, b)))).item();
        w.data().putScalar(new long[] {0, 1}, w01);
        double numeric = (up - down) / (2 * h), analytic = w.grad().getDouble(0, 1);
        System.out.printf("dL/dW[0][1]: autodiff %.9f, finite difference %.9f%n", analytic, numeric);
        if (Math.abs(analytic - numeric) > 1e-6 * Math.max(1, Math.abs(numeric))) throw new AssertionError("gradient mismatch");
        if (w.dtype() != DataType.DOUBLE) throw new AssertionError("expected double parameters");
    }
}
