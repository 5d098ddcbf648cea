"""The one place that turns an ``rng`` argument into something to draw from.

Used by ``nn`` (initialisers) and ``datasets.batching`` (shuffles, samples).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinygrad_edu.errors import DomainError, DTypeError

#: What an ``rng`` argument may be.
RNG = np.random.Generator | np.random.RandomState | int | None


def generator(rng: RNG, caller: str = "rng") -> Any:
    """A Generator or RandomState as is; an int seed gives a fresh
    ``np.random.default_rng(seed)``; None gives the ``np.random`` module, whose
    functions use the global state, so the book's ``np.random.seed`` applies.
    """
    if rng is None:
        return np.random
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        if rng < 0:
            raise DomainError(f"{caller}: an rng seed must be >= 0, got {rng}.")
        return np.random.default_rng(int(rng))
    raise DTypeError(
        f"{caller}: rng must be a np.random.Generator, a RandomState, an int seed "
        f"or None (the global np.random), got {type(rng).__name__}."
    )


def manual_seed(seed: int) -> None:
    """Seed NumPy's global random state, which every ``rng=None`` draws from.

    That is ``nn.Linear``'s initial weights, ``Tensor.randn``/``Tensor.rand``,
    ``DataLoader(shuffle=True)`` and the book's ``sample_batch``: PyTorch's
    ``torch.manual_seed``, and the book's ``np.random.seed``.

    >>> from tinygrad_edu import Tensor, manual_seed
    >>> manual_seed(0); a = Tensor.randn(2)
    >>> manual_seed(0); bool((Tensor.randn(2).numpy() == a.numpy()).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise DTypeError(f"manual_seed: seed must be an int, got {seed!r}.")
    if not 0 <= seed < 2**32:
        raise DomainError(f"manual_seed: seed must be in [0, 2**32), got {seed}.")
    np.random.seed(int(seed))
