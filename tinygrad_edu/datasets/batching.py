"""Mini-batches: whole shuffled epochs, or the book's draw with replacement.

``minibatches`` visits every sample once per epoch (what frameworks do), and
``DataLoader`` does the same as an object with ``len()`` (PyTorch's spelling);
``sample_batch`` draws ``batch_size`` indices with replacement, exactly the
book's ``np.random.choice(train_size, batch_size)``, so that the book's
``np.random.seed(...)`` still decides the batches when no ``rng`` is given.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from tinygrad_edu._random import RNG, generator
from tinygrad_edu.errors import DomainError, DTypeError, ShapeError
from tinygrad_edu.tensor import Tensor


def minibatches(
    x: np.ndarray,
    t: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool = True,
    rng: RNG = None,
    drop_last: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """One epoch of ``(x_batch, t_batch)`` pairs covering every sample once.

    With ``shuffle`` the order is a fresh permutation drawn from ``rng`` when
    this is called; without it the batches are consecutive slices (views of
    ``x`` and ``t``). The last batch is smaller unless ``drop_last`` drops it.

    >>> x, t = np.arange(10).reshape(5, 2), np.arange(5)
    >>> [tb.tolist() for _, tb in minibatches(x, t, 2, shuffle=False)]
    [[0, 1], [2, 3], [4]]
    >>> sorted(i for _, tb in minibatches(x, t, 2, rng=0) for i in tb.tolist())
    [0, 1, 2, 3, 4]
    """
    x, t = _paired(x, t, "minibatches")
    size = _batch_size(batch_size, "minibatches")
    order = generator(rng, "minibatches").permutation(len(x)) if shuffle else None
    return _epoch(x, t, size, order, drop_last)


def _epoch(
    x: np.ndarray,
    t: np.ndarray,
    size: int,
    order: np.ndarray | None,
    drop_last: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for index in _batch_indices(len(x), size, order, drop_last):
        yield x[index], t[index]


def _batch_indices(
    n: int, size: int, order: np.ndarray | None, drop_last: bool
) -> Iterator[slice | np.ndarray]:
    """Each batch's index: consecutive slices (views), or pieces of ``order``."""
    stop = n - n % size if drop_last else n
    for start in range(0, stop, size):
        if order is None:
            yield slice(start, start + size)
        else:
            yield order[start : start + size]


def sample_batch(
    x: np.ndarray,
    t: np.ndarray,
    batch_size: int,
    rng: RNG = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One batch drawn with replacement, as the book's training loop draws it.

    With ``rng=None`` this is ``np.random.choice(len(x), batch_size)``, so
    ``np.random.seed`` makes it repeatable; pass a Generator for a repeatable
    stream that no other code can disturb (an int seed gives the same batch on
    every call).

    >>> x, t = np.eye(4), np.arange(4)
    >>> xb, tb = sample_batch(x, t, 3, rng=0)
    >>> xb.shape, bool(np.array_equal(tb, sample_batch(x, t, 3, rng=0)[1]))
    ((3, 4), True)
    """
    x, t = _paired(x, t, "sample_batch")
    size = _batch_size(batch_size, "sample_batch")
    if len(x) == 0:
        raise DomainError("sample_batch: cannot draw a batch from 0 samples")
    index = generator(rng, "sample_batch").choice(len(x), size)
    return x[index], t[index]


def _paired(x: Any, t: Any, caller: str) -> tuple[np.ndarray, np.ndarray]:
    x, t = np.asarray(x), np.asarray(t)
    if x.ndim == 0 or t.ndim == 0:
        raise ShapeError(
            f"{caller}: x and t need a first axis of samples, got shapes "
            f"{x.shape} and {t.shape}"
        )
    if len(x) != len(t):
        raise ShapeError(
            f"{caller}: x has {len(x)} samples (shape {x.shape}) but t has "
            f"{len(t)} (shape {t.shape}); x[i] and t[i] must be the same sample"
        )
    return x, t


def _batch_size(batch_size: Any, caller: str) -> int:
    if (
        not isinstance(batch_size, numbers.Integral)
        or isinstance(batch_size, bool)
        or batch_size <= 0
    ):
        raise DomainError(
            f"{caller}: batch_size must be a positive integer, got {batch_size!r}"
        )
    return int(batch_size)


class Dataset:
    """PyTorch's dataset protocol: ``len(ds)`` samples, ``ds[i]`` a tuple of arrays.

    Subclass it for data made on the fly; for arrays in memory use
    ``TensorDataset``.
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__.")

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__.")


class TensorDataset(Dataset):
    """Arrays (or Tensors) with one sample per row: ``TensorDataset(x, t)``.

    Indexing takes an int or an array of indices and returns a tuple with the
    selected rows of each array.

    >>> ds = TensorDataset(np.zeros((5, 2)), np.arange(5))
    >>> len(ds), ds[[0, 4]][1].tolist()
    (5, [0, 4])
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ShapeError("TensorDataset: needs at least one array, e.g. (x, t).")
        self.arrays = [np.asarray(a) for a in arrays]  # a Tensor's array, no copy
        first = self.arrays[0]
        for i, a in enumerate(self.arrays):
            if a.ndim == 0 or len(a) != len(first):
                raise ShapeError(
                    f"TensorDataset: every array needs the same number of samples "
                    f"along its first axis; array 0 has shape {first.shape}, array "
                    f"{i} {a.shape}."
                )

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: Any) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)


class DataLoader:
    """Batches of a dataset, one epoch per ``for`` loop, with ``len()`` batches.

    Each batch is a tuple of Tensors, one per field of the samples (rows
    stacked for a plain ``Dataset``), or one Tensor for samples that are one
    array, as PyTorch collates them. A batch is a copy: changing it in place
    never changes the dataset. ``shuffle`` draws a fresh order each epoch
    from ``rng`` (a ``np.random.Generator`` or a seed: PyTorch's
    ``generator=``; None uses the global NumPy state, which
    ``tinygrad_edu.manual_seed`` sets);
    ``drop_last`` drops a smaller final batch.

    >>> loader = DataLoader(TensorDataset(np.arange(10.0), np.arange(10)), 4)
    >>> len(loader), [len(t) for _, t in loader]
    (3, [4, 4, 2])
    >>> len(DataLoader(loader.dataset, 4, drop_last=True))
    2
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        *,
        drop_last: bool = False,
        rng: RNG = None,
    ) -> None:
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise DTypeError(
                f"DataLoader: dataset must have __len__ and __getitem__ (a Dataset "
                f"or TensorDataset(x, t)), got {type(dataset).__name__}."
            )
        self.dataset = dataset
        self.batch_size = _batch_size(batch_size, "DataLoader")
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.rng = generator(rng, "DataLoader")  # a seed: one stream, every epoch

    def __len__(self) -> int:
        n, size = len(self.dataset), self.batch_size
        return n // size if self.drop_last else -(-n // size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...] | Tensor]:
        n = len(self.dataset)
        order = self.rng.permutation(n) if self.shuffle else None
        for index in _batch_indices(n, self.batch_size, order, self.drop_last):
            batch = self._fetch(index)
            if isinstance(batch, np.ndarray):
                yield Tensor(batch)
            else:
                yield tuple(Tensor(a) for a in batch)

    def _fetch(self, index: slice | np.ndarray) -> tuple[np.ndarray, ...] | np.ndarray:
        positions = np.arange(len(self.dataset))[index]  # indexing by it copies
        if isinstance(self.dataset, TensorDataset):
            return self.dataset[positions]  # one fancy index per array
        samples = [self.dataset[int(i)] for i in positions]
        if not isinstance(samples[0], (tuple, list)):  # one array per sample
            return np.stack(samples)
        return tuple(np.stack(field) for field in zip(*samples))
