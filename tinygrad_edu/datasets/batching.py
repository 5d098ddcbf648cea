"""Mini-batches: whole shuffled epochs, or the book's draw with replacement.

``minibatches`` visits every sample once per epoch (what frameworks do);
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
from tinygrad_edu.errors import DomainError, ShapeError


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
    n = len(x)
    stop = n - n % size if drop_last else n
    for start in range(0, stop, size):
        if order is None:
            yield x[start : start + size], t[start : start + size]
        else:
            index = order[start : start + size]
            yield x[index], t[index]


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
