"""tf.data batches gathered in numpy: only row numbers live in the graph.

Building a dataset with from_tensor_slices(images) copies every image into a TF constant (GBs at
30,000 X-rays). Here the dataset holds numbers; each batch calls a numpy `gather` that reads just
its rows from an np.memmap, a LazyRows selection or an array, so memory holds a few batches.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import tensorflow as tf

Gather = Callable[..., tuple[np.ndarray, np.ndarray]]


def gathered_batches(
    positions: tf.data.Dataset,
    batch_size: int | None,
    gather: Gather,
    dtypes: tuple[tf.DType, tf.DType],
    x_shape: tuple[int | None, ...],
) -> tf.data.Dataset:
    """Batch `positions` (row numbers, or tuples of numbers) and map each batch through
    `gather(*numbers) -> (x, y)`, in order (deterministic) but read ahead in parallel.
    batch_size None: `positions` already yields batches (vectors of row numbers)."""

    def read(*numbers: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x, y = tf.numpy_function(gather, list(numbers), dtypes, stateful=False)
        x.set_shape(x_shape)
        y.set_shape((None,))
        return x, y

    return (
        (positions if batch_size is None else positions.batch(batch_size))
        .map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .prefetch(2)
    )
