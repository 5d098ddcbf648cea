"""What an op accepts: the domain of each input and the forms of each parameter.

Each op in the registry declares, next to its rules, one ``Domain`` per input
and one ``Param`` per keyword parameter. They are plain data: the property
tests draw inputs and parameters from them (``tinygrad_edu.testing``), the docs
list them, and error messages can name them. ``low``/``high`` bound the values
the tests draw (a well-conditioned range, not a mathematical limit), [-3, 3]
unless a domain says otherwise: ``REAL`` spans [-10, 10], wide enough to reach
where sigmoid, tanh and softplus saturate, and ``Domain.between`` draws an
op's inputs from another range.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tinygrad_edu.errors import DomainError


@dataclass(frozen=True)
class Domain:
    """Where one input of an op may lie.

    ``kind`` is ``"real"`` for floating-point inputs, ``"distinct"`` for reals
    without ties (max), ``"whole"`` for whole numbers held as floats, and
    ``"targets"`` for class labels or rows of class weights. A ``constant``
    input is drawn as data and not differentiated: in that domain the
    derivative with respect to it does not exist everywhere (``x ** y`` at
    x < 0 has no derivative in y).
    """

    name: str
    kind: str = "real"
    low: float = -3.0
    high: float = 3.0
    avoid: tuple[float, ...] = ()
    margin: float = 0.0
    constant: bool = False

    def __str__(self) -> str:
        return self.name

    def between(self, low: float, high: float) -> Domain:
        """The same domain drawn from [low, high]: ``REAL.between(-50, 50)``
        for an op whose behaviour changes far out (a saturating tail)."""
        if not low < high:
            raise DomainError(
                f"Domain.between: low must be below high, got {low!r} and {high!r}."
            )
        name = f"{self.name} in [{low:g}, {high:g}]"
        return replace(self, name=name, low=float(low), high=float(high))


# Where sigmoid, tanh and softplus saturate lies beyond 3. Other domains stay
# in [-3, 3]: composed in random graphs, values of 10 overflow or leave
# central differences nothing but rounding.
REAL = Domain("real", low=-10.0, high=10.0)
POSITIVE = Domain("positive", low=0.2, high=3.0)
NONNEGATIVE_CONSTANT = Domain("0 or more, constant", low=0.0, constant=True)
NONZERO = Domain("nonzero", avoid=(0.0,), margin=0.2)
DISTINCT = Domain("distinct (no ties)", kind="distinct")
WHOLE_CONSTANT = Domain("whole numbers 0..3, constant", "whole", 0, 3, constant=True)
TARGETS = Domain("class labels or rows of class weights", kind="targets")
PROBABILITIES = Domain("probabilities in (0, 1]", low=0.05, high=1.0)


def AWAY_FROM(*points: float, margin: float = 0.1) -> Domain:
    """Reals that keep ``margin`` away from kinks such as relu's 0."""
    return Domain(
        f"real, away from {', '.join(map(str, points))}", avoid=points, margin=margin
    )


def alternatives(domain: tuple) -> list[tuple[Domain, ...]]:
    """An op's ``domain`` as a list of alternatives, each one Domain per input.

    Most ops declare one Domain per input; an op whose inputs constrain each
    other declares several such tuples (``pow``: any base with a whole-number
    exponent, or a positive base with any exponent).
    """
    if domain and all(isinstance(d, tuple) for d in domain):
        return list(domain)
    return [domain]


@dataclass(frozen=True)
class Param:
    """The values one keyword parameter of an op accepts.

    ``kind`` names how ``tinygrad_edu.testing`` draws it, every form the op
    accepts (negative axes, tuples, None, ...); ``description`` is what the
    docs and error messages say.
    """

    kind: str
    description: str

    def __str__(self) -> str:
        return self.description


AXIS = Param("axis", "an axis; negative ones count from the end")
AXES = Param(
    "axes", "None (all), an axis, or a tuple of axes; negative count from the end"
)
FLAG = Param("flag", "True or False")
PERMUTATION = Param("permutation", "None (reverse) or a permutation of the axes")
NEW_SHAPE = Param("new_shape", "a shape of as many elements; one size may be -1")
BROADCAST_SHAPE = Param("broadcast_shape", "a shape the input broadcasts to")
SUMMED_SHAPE = Param("summed_shape", "a shape that broadcasts to the input's")
INDEX = Param(
    "index",
    "a NumPy index: ints, slices, None, ..., integer arrays (repeats add up), "
    "boolean masks, or a tuple of these",
)
DTYPE = Param("dtype", "a NumPy dtype; casting to integers or bools ends the graph")
JOIN_AXIS = Param("join_axis", "the existing axis along which the inputs are joined")
NEW_AXIS = Param("new_axis", "the new axis along which the inputs are stacked")
SCATTER_SHAPE = Param("scatter_shape", "the shape of the result")
SCATTER_INDEX = Param("scatter_index", "where in the result the input is added")
WINDOW = Param("window", "a window size: a positive int, or a pair (rows, columns)")
STRIDE = Param("stride", "the step between windows: a positive int, or a pair")
POOL_STRIDE = Param(
    "pool_stride", "None (the window size: windows side by side), or as stride"
)
PADDING = Param("padding", "zeros added on each side: an int >= 0, or a pair")
POOL_PADDING = Param(
    "pool_padding", "cells added on each side: at most half the window, or a pair"
)
IMAGE_SHAPE = Param("image_shape", "the shape (N, C, H, W) of the image")


# ------------------------------------------ for PyTorch users (issue 26)

#: The gap between the values ``DISTINCT`` draws for up to 121 elements
#: (``testing.arrays``).
DISTINCT_STEP = 0.05
#: Reals that never tie with a ``DISTINCT`` input: they keep 0.01 away from its
#: grid, so ``maximum(x, y)`` has one winner that small steps cannot change.
BETWEEN_DISTINCT = Domain(
    "real, between the values of a distinct input (no ties with it)",
    avoid=tuple(k * DISTINCT_STEP for k in range(-60, 61)),
    margin=0.01,
)
#: A condition for ``where``: 0 or 1 (any nonzero value is True), never
#: differentiated.
CONDITION = Domain(
    "condition: 0 or 1 (nonzero is True), constant", "whole", 0, 1, constant=True
)
#: Targets of the binary losses: probabilities that the label is 1.
UNIT_INTERVAL = Domain("targets in [0, 1]", low=0.0, high=1.0)
#: Probabilities kept off 0 and 1, where binary_cross_entropy clamps its log.
OPEN_PROBABILITIES = Domain("probabilities in (0, 1)", low=0.05, high=0.95)

SLOPE = Param("slope", "a real number: the slope for x < 0")
DDOF = Param("ddof", "an int >= 0 below the number of reduced elements")
LOWER_BOUND = Param("lower_bound", "a real number, or None (no lower bound)")
UPPER_BOUND = Param("upper_bound", "a real number >= the lower bound, or None")
