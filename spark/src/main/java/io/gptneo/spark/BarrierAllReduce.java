package io.gptneo.spark;

import io.gptneo.tensor.Tensor;
import io.gptneo.train.DataParallel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Base64;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Gradient sums over a barrier stage's tasks through {@link BarrierTaskContext#allGather}: each task sends one
 * message (the scalar as a double, then every gradient as little-endian float32, Base64 text since allGather carries
 * strings) and receives all N; every task adds them up in rank order, in double, so all replicas get the same bits.
 * Per step and task that is 8 + 4·P bytes out (P trainable values, ×4/3 as Base64) and N times that in, through the
 * driver.
 */
final class BarrierAllReduce implements DataParallel {
    private final BarrierTaskContext ctx;
    private final int rank, size;
    private long bytesPerStep;

    BarrierAllReduce(BarrierTaskContext ctx, int rank, int size) {
        this.ctx = ctx;
        this.rank = rank;
        this.size = size;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    /** Bytes one task sent in its last step (Base64 text). */
    long bytesPerStep() {
        return bytesPerStep;
    }

    @Override
    public double allReduce(List<Tensor> params, double value) {
        long n = 0;
        for (Tensor p : params) n += p.grad().length();
        ByteBuffer buf = ByteBuffer.allocate(Math.toIntExact(8 + 4 * n)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putDouble(value);
        for (Tensor p : params)
            for (float f : p.grad().castTo(DataType.FLOAT).dup('c').data().asFloat()) buf.putFloat(f);
        String msg = Base64.getEncoder().encodeToString(buf.array());
        bytesPerStep = msg.length();
        String[] all = ctx.allGather(msg);
        double[] sum = new double[Math.toIntExact(n)];
        double total = 0;
        for (String m : all) {
            ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(m)).order(ByteOrder.LITTLE_ENDIAN);
            total += b.getDouble();
            for (int i = 0; i < sum.length; i++) sum[i] += b.getFloat();
        }
        int at = 0;
        for (Tensor p : params) {
            INDArray g = p.grad();
            int len = Math.toIntExact(g.length());
            INDArray s = Nd4j.createFromArray(java.util.Arrays.copyOfRange(sum, at, at + len))
                    .castTo(g.dataType())
                    .reshape('c', g.shape());
            g.assign(s);
            at += len;
        }
        return total;
    }
}
