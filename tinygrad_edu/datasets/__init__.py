"""Data to learn from: MNIST (downloaded once, checked), a spiral, mini-batches.

>>> from tinygrad_edu.datasets import spiral, minibatches
>>> x, t = spiral(n_per_class=10)
>>> sum(len(tb) for _, tb in minibatches(x, t, batch_size=8, rng=0))
30
"""

from tinygrad_edu.datasets.batching import (
    DataLoader,
    Dataset,
    TensorDataset,
    minibatches,
    sample_batch,
)
from tinygrad_edu.datasets.mnist import (
    MNIST_FILES,
    MNIST_MIRRORS,
    MNIST_SIZES,
    default_data_dir,
    load_mnist,
    mnist_dir,
    search_path,
    user_cache_dir,
)
from tinygrad_edu.datasets.spiral import spiral

__all__ = [
    "MNIST_FILES",
    "MNIST_MIRRORS",
    "MNIST_SIZES",
    "DataLoader",
    "Dataset",
    "TensorDataset",
    "default_data_dir",
    "load_mnist",
    "minibatches",
    "mnist_dir",
    "sample_batch",
    "search_path",
    "spiral",
    "user_cache_dir",
]
