package io.gptneo.train;

import io.gptneo.tensor.Tensor;
import java.util.List;

/**
 * Data-parallel training as {@link Trainer} sees it: this replica's {@link #rank()} among {@link #size()}, its share
 * of every global batch, and a sum across replicas. Every replica runs the same loop on the same data; each
 * computes the gradients of its shard weighted by shard/batch size, the sums make them the global batch's
 * gradients, and the same clip and AdamW step then keep the replicas equal. Rank 0 writes metrics, checkpoints
 * and the adapter.
 */
public interface DataParallel {
    /** One process: the whole batch, sums are identities. */
    DataParallel NONE = new DataParallel() {
        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int size() {
            return 1;
        }

        @Override
        public double allReduce(List<Tensor> params, double value) {
            return value;
        }
    };

    int rank();

    int size();

    /**
     * Replaces every parameter's gradient (all non-null here) by its sum over the replicas, and returns the sum of
     * {@code value}; the same on every replica.
     */
    double allReduce(List<Tensor> params, double value);

    /** This replica's contiguous part of a batch: sizes differ by at most one, lower ranks take the extra rows. */
    default <T> List<T> shard(List<T> batch) {
        int n = batch.size(), q = n / size(), r = n % size();
        int from = rank() * q + Math.min(rank(), r);
        return batch.subList(from, from + q + (rank() < r ? 1 : 0));
    }
}
