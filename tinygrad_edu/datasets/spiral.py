"""The spiral data set: a toy problem no straight line can separate.

Each class is one arm of a spiral turning out from the centre (the CS231n
example that *Deep Learning from Scratch 3* also uses). A linear classifier
gets about 1/n_classes of it right; a small MLP learns it in seconds, which
makes it a quick check that hidden layers and backprop work, no download needed.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from tinygrad_edu.errors import DomainError


def spiral(
    n_per_class: int = 100,
    n_classes: int = 3,
    *,
    noise: float = 0.2,
    seed: int | np.random.Generator | None = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Points on ``n_classes`` interleaved spiral arms; returns ``(x, t)``.

    ``x`` is float64 of shape (N, 2) with N = n_per_class * n_classes, inside
    the unit disc; ``t`` is int64 of shape (N,), class-major (all of class 0,
    then class 1, ...). Along arm j the radius r grows from 0 to 1 while the
    angle turns 4 radians, starting at 2*pi*j/n_classes so that the arms are
    evenly spaced; ``noise`` is the standard deviation of the angle, in
    radians. The same ``seed`` gives the same points.

    >>> x, t = spiral(50, 3)
    >>> x.shape, x.dtype, t.dtype, np.bincount(t).tolist()
    ((150, 2), dtype('float64'), dtype('int64'), [50, 50, 50])
    >>> bool(np.array_equal(x, spiral(50, 3)[0]))
    True
    """
    for name, value in (("n_per_class", n_per_class), ("n_classes", n_classes)):
        if (
            not isinstance(value, numbers.Integral)
            or isinstance(value, bool)
            or value < 1
        ):
            raise DomainError(
                f"spiral: {name} must be a positive integer, got {value!r}"
            )
    if not isinstance(noise, numbers.Real) or not 0 <= noise < math.inf:
        raise DomainError(
            f"spiral: noise must be a finite number >= 0 (radians), got {noise!r}"
        )
    rng = np.random.default_rng(seed)
    t = np.repeat(np.arange(n_classes, dtype=np.int64), n_per_class)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), n_classes)
    theta = 2 * np.pi * t / n_classes + 4.0 * r + noise * rng.standard_normal(len(t))
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return x, t
