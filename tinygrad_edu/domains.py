"""Input domains: where an op's input may lie for its derivative to exist.

Each op in the registry declares one domain per input. They are plain data:
the property tests draw inputs from them (``tinygrad_edu.testing``), the docs
list them, and error messages can name them. ``low``/``high`` bound the values
the tests draw (a well-conditioned range, not a mathematical limit).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Domain:
    """Where one input of an op may lie.

    ``kind`` is ``"real"`` for floating-point inputs, ``"distinct"`` for reals
    without ties (max), ``"labels"`` for integer class labels and
    ``"targets"`` for class labels or probability rows.
    """

    name: str
    kind: str = "real"
    low: float = -3.0
    high: float = 3.0
    avoid: tuple[float, ...] = ()
    margin: float = 0.0

    def __str__(self) -> str:
        return self.name


REAL = Domain("real")
POSITIVE = Domain("positive", low=0.2, high=3.0)
NONZERO = Domain("nonzero", avoid=(0.0,), margin=0.2)
DISTINCT = Domain("distinct (no ties)", kind="distinct")
CLASS_LABELS = Domain("class labels 0..C-1", kind="labels")
TARGETS = Domain("class labels or probability rows", kind="targets")
PROBABILITIES = Domain("probabilities in (0, 1]", low=0.05, high=1.0)


def AWAY_FROM(*points: float, margin: float = 0.1) -> Domain:
    """Reals that keep ``margin`` away from kinks such as relu's 0."""
    return Domain(
        f"real, away from {', '.join(map(str, points))}", avoid=points, margin=margin
    )
