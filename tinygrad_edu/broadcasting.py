"""Undoing broadcasting: summing an array back to the shape it was broadcast from.

The forward of the ``sum_to`` op, and what the backward walk does to a
gradient whose input was broadcast, when the walk is not recorded.
"""

from __future__ import annotations

import numpy as np

from tinygrad_edu.errors import ShapeError


def sum_to_shape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``x`` down to ``shape``, which broadcasts to ``x.shape``: the adjoint
    of broadcasting."""
    lead = x.ndim - len(shape)
    # Sum the axes where shape has a 1 (kept), then the leading ones (dropped):
    # what is left must be shape itself, or shape does not broadcast to x's.
    # Two reductions, not one and a reshape: the result is never a view, so
    # it needs no defensive copy when it becomes a .grad.
    out = x
    if 1 in shape:
        ones = tuple(
            lead + i
            for i, n in enumerate(shape)
            if n == 1 and lead + i >= 0 and x.shape[lead + i] != 1
        )
        if ones:
            out = np.add.reduce(out, axis=ones, keepdims=True)
    if lead > 0:
        out = np.add.reduce(out, axis=tuple(range(lead)))
    if lead < 0 or out.shape != shape:
        raise ShapeError(
            f"sum_to: cannot sum shape {x.shape} to {shape}: {shape} does not "
            f"broadcast to {x.shape}."
        )
    return out
