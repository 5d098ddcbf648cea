"""Hypothesis strategies and assertions for gradient tests — ours and yours.

Every op declares, next to its rules, the domain of each input, a gufunc-style
shape signature and one ``Param`` per keyword parameter (``tinygrad_edu.
domains``). ``op_inputs(op)`` reads those to draw valid cases: every form of
every parameter (negative axes, tuples of axes, None, every kind of index,
labels and rows of class weights), inputs as contiguous arrays and as views
(transposed, strided, reversed), and operands that share one array or where
one is the other detached, and an upstream gradient. ``assert_gradients``
then checks the case, and ``gradient_test`` makes the whole property::

    class MyOp(Function):
        domain = (REAL, POSITIVE)     # one Domain per input
        signature = "(),()->()"       # shapes: here two that broadcast
        param_domains = {"axis": AXES}  # optional: one Param (or strategy) per keyword
        ...

    test_my_op = gradient_test(MyOp)  # collected by pytest

    @settings(GRADIENT_SETTINGS)      # your own: no deadline, no explain phase
    @given(op_inputs(MyOp))
    def test_my_op_by_hand(case):
        assert_gradients(MyOp, case)

Needs Hypothesis (``pip install tinygrad-edu[dev]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_edu.domains import DISTINCT_STEP, REAL, Domain, Param, alternatives
from tinygrad_edu.engine import grad
from tinygrad_edu.errors import DomainError
from tinygrad_edu.function import Function
from tinygrad_edu.numerical import GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.ops import _normalize_axes, windows
from tinygrad_edu.recording import enable_grad, no_grad
from tinygrad_edu.tensor import Tensor

#: Small arrays keep a full Jacobian check cheap (it costs O(size²)).
MAX_DIMS = 3
MAX_SIDE = 3
#: Up to this many elements Hypothesis draws (and shrinks) each element on its
#: own. Beyond it, its choices would not fit one example, and left to itself it
#: fills an array with one value and sets a few others: a "batch" of one row
#: repeated. Bigger arrays are spread over the domain from a drawn seed instead.
ELEMENTWISE_UP_TO = 256

#: Hypothesis settings for gradient tests; ``@settings(GRADIENT_SETTINGS)``, or
#: ``settings(GRADIENT_SETTINGS, max_examples=5)`` to change one. No deadline:
#: a check's time grows with its input, so a per-example deadline only fails
#: big models. No explain phase: it re-runs each failing example under a
#: tracer (minutes for a model) to point at lines that are always the
#: library's own, where the failure is raised. The health checks for slow and
#: big examples are off for the same reason.
GRADIENT_SETTINGS = settings(
    deadline=None,
    max_examples=50,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("tinygrad_edu.gradients", GRADIENT_SETTINGS)

#: How two operands of a drawn case may be related (see ``op_inputs``).
ALIASING = ("separate", "shared", "detached", "same tensor")
#: Where the upstream gradient of a drawn case lies: away from 0, since with
#: an upstream gradient near 0 every second derivative through it is near 0
#: too, and a wrong one would pass.
UPSTREAM = Domain("upstream gradient", low=-2.0, high=2.0, avoid=(0.0,), margin=0.25)


@dataclass
class OpCase:
    """One drawn test case: the op's inputs and keyword parameters.

    ``aliasing`` says whether two inputs share one array (``"shared"``, both
    requiring grad, as ``Tensor(a)`` twice), one is the other detached
    (``"detached"``, as ``x * x.detach()``), or they are one Tensor
    (``"same tensor"``, as ``x * x``). Separate inputs may have one of them
    not requiring grad, either one. ``upstream`` is the gradient
    that flows into the result (the v of vᵀJ), of the result's shape; None
    for a fixed random one.
    """

    inputs: list[Tensor]
    params: dict[str, Any] = field(default_factory=dict)
    aliasing: str = "separate"
    upstream: np.ndarray | None = None

    def __repr__(self) -> str:  # what Hypothesis prints for a shrunk failure
        args = [
            f"{'x' if t.requires_grad else 'const'}{i}: shape {t.shape} {t.dtype}"
            f"{_layout(t.data)}\n{np.array2string(t.data, precision=4)}"
            for i, t in enumerate(self.inputs)
        ]
        if self.upstream is not None:
            args.append(f"upstream:\n{np.array2string(self.upstream, precision=4)}")
        aliasing = "" if self.aliasing == "separate" else f", {self.aliasing} operands"
        return f"OpCase(params={self.params!r}{aliasing},\n  " + "\n  ".join(args) + ")"


def _layout(array: np.ndarray) -> str:
    if array.flags.c_contiguous or array.size <= 1:
        return ""
    return f" (a view, strides {array.strides})"


def call(op: Any, inputs: list[Tensor], params: dict[str, Any]) -> Tensor:
    """Apply a registry op (a ``Function`` subclass) or a composite function."""
    if isinstance(op, type) and issubclass(op, Function):
        return op.apply(*inputs, **params)
    if op.__name__ in ("stack", "concatenate"):  # they take one list of tensors
        return op(inputs, **params)
    return op(*inputs, **params)


# ---------------------------------------------------------------- elements


def _pieces(domain: Domain) -> list[tuple[float, float]]:
    """The intervals of [low, high] left once a margin around each avoided
    point is taken out."""
    edges = [domain.low]
    for p in sorted(domain.avoid):
        edges += [p - domain.margin, p + domain.margin]
    edges.append(domain.high)
    bounded = [
        (max(a, domain.low), min(b, domain.high))
        for a, b in zip(edges[::2], edges[1::2])
    ]  # an avoided point outside [low, high] must not widen a piece past them
    return [(a, b) for a, b in bounded if a <= b]


def _floats(domain: Domain) -> st.SearchStrategy[float]:
    """Floats in the domain, drawn from its pieces, not filtered: Hypothesis
    likes 0 and other simple values, so a filter would reject half its draws."""
    return st.one_of(
        [
            st.floats(a, b, allow_nan=False, allow_subnormal=False)
            for a, b in _pieces(domain)
        ]
    )


def _spread(domain: Domain, shape: tuple[int, ...], dtype: Any, seed: int):
    """Values spread uniformly over the domain's pieces, from a seed."""
    rng = np.random.default_rng(seed)
    pieces = np.array(_pieces(domain))
    lengths = pieces[:, 1] - pieces[:, 0]
    chosen = rng.choice(len(pieces), size=shape, p=lengths / lengths.sum())
    low, length = pieces[chosen, 0], lengths[chosen]
    return (low + rng.random(shape) * length).astype(dtype)


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    domain: Domain = REAL,
    dtype: Any = np.float64,
) -> st.SearchStrategy[np.ndarray]:
    """Float arrays of ``shape`` with elements in ``domain``, every element
    drawn on its own (up to ``ELEMENTWISE_UP_TO`` elements; bigger arrays are
    spread uniformly over the domain from a drawn seed), so that rows differ.

    For ``DISTINCT`` every pair of elements differs by at least 0.05 (about 6 /
    size beyond 121 elements), so a
    small perturbation can never change which element is the maximum; for
    ``"whole"`` domains the elements are whole numbers. An integer or boolean
    ``dtype`` draws the whole numbers (0 and 1 for bool) the domain holds.
    """
    if not isinstance(shape, tuple):
        return shape.flatmap(lambda s: arrays(s, domain, dtype))
    if np.dtype(dtype).kind in "iub":
        return _integer_arrays(shape, domain, np.dtype(dtype))
    if domain.kind == "distinct":
        return _distinct_arrays(shape, dtype)
    if domain.kind == "whole":
        whole = st.integers(int(domain.low), int(domain.high)).map(float)
        return hnp.arrays(dtype, shape, elements=whole, fill=st.nothing())
    if int(np.prod(shape)) > ELEMENTWISE_UP_TO:
        seeds = st.integers(0, 2**32 - 1)
        return seeds.map(lambda seed: _spread(domain, shape, dtype, seed))
    return hnp.arrays(dtype, shape, elements=_floats(domain), fill=st.nothing())


def whole_numbers(domain: Domain, dtype: Any) -> list[int]:
    """The whole numbers in ``domain`` that ``dtype`` holds (0 and 1 for bool):
    the values an integer or boolean input of an op in that domain can take."""
    dtype = np.dtype(dtype)
    low, high = (0, 1) if dtype.kind == "b" else (np.iinfo(dtype).min, None)
    low = max(low, int(np.ceil(domain.low)))
    high = int(np.floor(domain.high)) if high is None else min(high, domain.high)
    candidates = np.arange(low, int(high) + 1, dtype=np.float64)
    return [int(v) for v in candidates if in_domain(domain, np.array([v]))]


def _distinct_whole_numbers(size: int, dtype: np.dtype) -> range | None:
    """At least ``size`` (and 121) whole numbers 1 apart, from 0 for unsigned
    dtypes and around 0 otherwise; None if ``dtype`` cannot hold them all."""
    n = max(121, size)
    start = 0 if dtype.kind == "u" else -(n // 2)
    return range(start, start + n) if start + n - 1 <= np.iinfo(dtype).max else None


def _holds(domain: Domain, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether an integer or boolean array of ``shape`` can lie in ``domain``."""
    if domain.kind == "distinct" and dtype.kind != "b":
        return _distinct_whole_numbers(int(np.prod(shape)), dtype) is not None
    return bool(whole_numbers(domain, dtype))


def _integer_arrays(
    shape: tuple[int, ...], domain: Domain, dtype: np.dtype
) -> st.SearchStrategy[np.ndarray]:
    size = int(np.prod(shape))
    if domain.kind == "distinct" and dtype.kind != "b":  # 1 apart: no ties
        values = _distinct_whole_numbers(size, dtype)
        if values is None:
            raise DomainError(
                f"arrays: {size} distinct whole numbers do not fit in {dtype}; draw "
                f"this input as floats or a wider integer dtype."
            )
        grid = st.permutations(values).map(lambda p: p[:size])
        return grid.map(lambda v: np.array(v, dtype=dtype).reshape(shape))
    values = whole_numbers(domain, dtype)
    if not values:
        raise DomainError(
            f"arrays: the domain {domain} holds no value of dtype {dtype}; draw "
            f"this input as floats."
        )
    return hnp.arrays(dtype, shape, elements=st.sampled_from(values), fill=st.nothing())


def _distinct_arrays(
    shape: tuple[int, ...], dtype: Any
) -> st.SearchStrategy[np.ndarray]:
    size = int(np.prod(shape))
    step = _distinct_step(size)
    half = round(3 / step)
    grid = st.permutations(range(-half, half + 1)).map(lambda p: p[:size])
    return grid.map(lambda v: (np.array(v, dtype=dtype) * step).reshape(shape))


def _distinct_step(size: int) -> float:
    """The gap between distinct values: 0.05, narrower for arrays of more than
    121 elements (a pooled image), so they still fit in [-3, 3]."""
    return 3 / max(60, -(-(size - 1) // 2))


def in_domain(domain: Domain, array: np.ndarray) -> bool:
    """Whether every element of ``array`` lies where ``domain`` draws from."""
    if domain.kind == "targets":
        return array.ndim == 2 and bool(np.isfinite(array).all())
    values = array.astype(np.float64).reshape(-1)
    inside = bool(np.all((domain.low <= values) & (values <= domain.high)))
    for p in domain.avoid:
        inside &= bool(np.all(np.abs(values - p) >= domain.margin))
    if domain.kind == "whole":
        inside &= bool(np.all(values == np.round(values)))
    if domain.kind == "distinct" and values.size > 1:
        gap = _distinct_step(values.size) - 1e-12
        inside &= bool(np.min(np.diff(np.sort(values))) >= gap)
    return inside


@st.composite
def _laid_out(draw: Callable, array: np.ndarray) -> np.ndarray:
    """The same values as a contiguous array or as a view: transposed, strided
    or with negative strides. Ops must not care how their input is laid out."""
    layout = draw(st.sampled_from(("contiguous", "transposed", "strided", "reversed")))
    if layout == "transposed":
        return array.T.copy().T
    if layout == "strided":
        return np.repeat(array, 2, axis=-1)[..., ::2] if array.ndim else array
    if layout == "reversed":
        return array[::-1].copy()[::-1] if array.ndim else array
    return array


def shapes(
    min_dims: int = 0, max_dims: int = MAX_DIMS, min_side: int = 0
) -> st.SearchStrategy[tuple[int, ...]]:
    """Small array shapes (sides ``min_side``..MAX_SIDE), scalars when min_dims = 0.

    Sides of 0 are drawn too (an empty batch is ordinary input); pass
    ``min_side=1`` for arrays with at least one element.
    """
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=MAX_SIDE
    )


def broadcastable_shapes(
    signature: str, loop_dims: int = MAX_DIMS
) -> st.SearchStrategy[tuple]:
    """Input shapes for a gufunc signature that broadcast together (size-1 axes).

    ``loop_dims`` bounds the broadcast axes in front of the signature's core axes.
    """
    return hnp.mutually_broadcastable_shapes(
        signature=signature,
        max_dims=loop_dims,
        max_side=MAX_SIDE,
    ).map(lambda b: list(b.input_shapes))


# ---------------------------------------------------------------- op inputs


def op_inputs(
    op: Any, dtype: Any | st.SearchStrategy[Any] = np.float64
) -> st.SearchStrategy[OpCase]:
    """Valid cases for an op, drawn from the domains, signature and params it has.

    The op declares, as class attributes: ``domain`` (one ``Domain`` per input,
    or several such tuples when inputs constrain each other), ``signature``
    (input shapes, e.g. ``"(),()->()"``) and, for keyword parameters,
    ``params``: a dict of name → ``Param`` (``AXES``, ``FLAG``, ``INDEX``, ...:
    every form the parameter takes is drawn) or → a Hypothesis strategy of
    your own. What is missing is reported up front, with the line to add.

    ``dtype`` is the inputs' dtype, or a strategy that draws one per input:
    ``st.sampled_from([np.float64, np.int64, np.bool_])`` mixes integer and
    boolean operands (whole numbers in their domains, never requiring grad)
    with floating ones.
    """
    _check_declared(op)
    if isinstance(dtype, st.SearchStrategy):
        return _op_case(op, dtype.map(np.dtype))
    return _op_case(op, st.just(np.dtype(dtype)))


def _name(op: Any) -> str:
    return getattr(op, "__name__", repr(op))


def _check_declared(op: Any) -> None:
    where = f"op_inputs({_name(op)})"
    domain = getattr(op, "domain", None)
    if not domain or not isinstance(domain, tuple):
        raise DomainError(
            f"{where}: {_name(op)} declares no domain, so there is nothing to draw "
            f"its inputs from. Add one Domain per input to the class, e.g. "
            f"`domain = (REAL, POSITIVE)` (from tinygrad_edu.domains import REAL, "
            f"POSITIVE)."
        )
    choices = alternatives(domain)
    if not all(isinstance(d, Domain) for choice in choices for d in choice):
        raise DomainError(
            f"{where}: domain must hold Domain objects from tinygrad_edu.domains "
            f"(REAL, POSITIVE, NONZERO, AWAY_FROM(0), ...), got {domain!r}."
        )
    signature = getattr(op, "signature", None)
    if not isinstance(signature, str) or "->" not in signature:
        raise DomainError(
            f"{where}: {_name(op)} declares no signature, so its input shapes are "
            f"unknown. Add a gufunc-style signature to the class, e.g. "
            f'`signature = "()->()"` (elementwise), `"(),()->()"` '
            f'(broadcasting binary) or `"(n,k),(k,m)->(n,m)"`.'
        )
    arity = signature.split("->")[0].count("(")
    for choice in choices:
        if arity != len(choice):
            raise DomainError(
                f"{where}: the signature {signature!r} has {arity} input(s) but "
                f"domain has {len(choice)}; declare one domain per input."
            )
    params = getattr(op, "param_domains", None) or {}
    if not isinstance(params, dict):
        raise DomainError(
            f"{where}: param_domains must be a dict of keyword name → Param (from "
            f"tinygrad_edu.domains: AXES, FLAG, ...) or → a Hypothesis strategy, "
            f"e.g. `param_domains = {{'k': st.floats(-2, 2)}}`; got {params!r}."
        )
    for name, param in params.items():
        if isinstance(param, Param):
            if param.kind not in _PARAM_DRAWERS:
                raise DomainError(
                    f"{where}: parameter {name!r} has a Param of unknown kind "
                    f"{param.kind!r}; use one of {sorted(_PARAM_DRAWERS)} or a "
                    f"Hypothesis strategy."
                )
        elif not isinstance(param, st.SearchStrategy):
            raise DomainError(
                f"{where}: parameter {name!r} must be a Param (AXES, FLAG, ...) or "
                f"a Hypothesis strategy, got {param!r}."
            )


@st.composite
def _op_case(draw: Callable, op: Any, dtypes: st.SearchStrategy[np.dtype]) -> OpCase:
    domains = draw(st.sampled_from(alternatives(op.domain)))
    elementwise = set(op.signature.split("->")[0].split(",")) == {"()"}
    batched = getattr(op, "batched", True)
    loop_dims = 0 if not batched else MAX_DIMS if elementwise else 1
    input_shapes = draw(broadcastable_shapes(op.signature, loop_dims))
    aliasing = draw(st.sampled_from(ALIASING)) if len(input_shapes) > 1 else "separate"
    if aliasing != "separate" and elementwise:  # one array needs one shape
        input_shapes[1] = input_shapes[0]
    params: dict[str, Any] = {}
    for name, param in (getattr(op, "param_domains", None) or {}).items():
        if isinstance(param, Param):
            params[name] = _PARAM_DRAWERS[param.kind](draw, input_shapes, params)
        else:
            params[name] = draw(param)
    arrays_ = []
    for domain, shape in zip(domains, input_shapes, strict=True):
        dtype = draw(dtypes)
        if domain.kind == "targets":
            arrays_.append(draw(_targets(input_shapes[0], dtype)))
        else:
            if dtype.kind != "f" and not _holds(domain, tuple(shape), dtype):
                dtype = np.dtype(np.float64)  # the dtype cannot hold such an input
            arrays_.append(draw(arrays(tuple(shape), domain, dtype)))
    shared = _shared_pair(domains, arrays_) if aliasing != "separate" else None
    if shared is None:
        aliasing = "separate"
    elif aliasing == "same tensor" and domains[shared[0]] != domains[shared[1]]:
        aliasing = "shared"  # x ** x moves base and exponent at once: one domain
    inputs = []
    for i, (domain, array) in enumerate(zip(domains, arrays_)):
        if shared is not None and i == shared[1]:
            array = arrays_[shared[0]]  # the very same ndarray object
        else:
            array = draw(_laid_out(array))
        differentiable = array.dtype.kind == "f" and not domain.constant
        if aliasing == "detached" and shared is not None and i == shared[1]:
            differentiable = False
        inputs.append(Tensor(array, requires_grad=differentiable, name=f"x{i}"))
    if aliasing == "same tensor":
        inputs[shared[1]] = inputs[shared[0]]
    learnable = [i for i, t in enumerate(inputs) if t.requires_grad]
    if aliasing == "separate" and len(learnable) > 1:
        # needs_input_grad of every pattern: (False, True) as well as (True, False)
        frozen = draw(st.sampled_from([None, *learnable]))
        if frozen is not None:
            inputs[frozen].requires_grad = False
    with no_grad():  # on copies: an op that writes into its input is caught later
        shape = np.shape(call(op, _copies(inputs), params))
    return OpCase(inputs, params, aliasing, draw(arrays(shape, UPSTREAM)))


def _shared_pair(
    domains: tuple[Domain, ...], arrays_: list[np.ndarray]
) -> tuple[int, int] | None:
    """Two inputs that can be one array: same shape and dtype, and the earlier
    one's values lie in the later one's domain too."""
    for j in range(1, len(arrays_)):
        for i in range(j):
            a, b = arrays_[i], arrays_[j]
            if a.shape == b.shape and a.dtype == b.dtype and in_domain(domains[j], a):
                return i, j
    return None


@st.composite
def _targets(
    draw: Callable, logits_shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """Labels, or float rows of class weights: one-hot, probabilities, or any
    non-negative rows (all-zero rows and rows that do not sum to 1 included).
    For an integer or boolean dtype: labels, or one-hot rows of that dtype."""
    n, c = logits_shape
    kinds = ("labels", "one_hot", "probabilities", "weights")
    kind = draw(st.sampled_from(kinds if dtype.kind == "f" else kinds[:2]))
    labels = draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    if kind == "labels":
        return labels
    if kind == "one_hot":
        return np.eye(c, dtype=dtype)[labels]
    weights = draw(hnp.arrays(dtype, (n, c), elements=st.floats(0.0, 2.0, width=32)))
    if kind == "probabilities":
        weights = weights + 0.0625
        weights /= weights.sum(axis=1, keepdims=True)
    return weights


# ------------------------------------------------------------ parameter forms


def _side(draw: Callable) -> int:
    return draw(st.integers(1, MAX_SIDE))


def _at_least_1d(draw: Callable, shapes_: list, i: int = 0) -> tuple:
    if not shapes_[i]:
        shapes_[i] = (_side(draw),)
    return tuple(shapes_[i])


def _maybe_negative(draw: Callable, axis: int, ndim: int) -> int:
    return axis - ndim if draw(st.booleans()) else axis


def _draw_axis(draw: Callable, shapes_: list, drawn: dict) -> int:
    ndim = len(_at_least_1d(draw, shapes_))
    return draw(st.integers(-ndim, ndim - 1))


def _draw_axes(draw: Callable, shapes_: list, drawn: dict) -> Any:
    # Every form the ops take: None, a Python or NumPy int, a tuple or a list.
    ndim = len(shapes_[0])
    form = draw(st.sampled_from(("none", "int", "numpy int", "tuple", "list")))
    if form == "none":
        return None
    if form in ("int", "numpy int") and ndim:
        axis = draw(st.integers(-ndim, ndim - 1))
        return np.int64(axis) if form == "numpy int" else axis
    chosen = draw(st.lists(st.integers(0, ndim - 1), unique=True)) if ndim else []
    axes = [_maybe_negative(draw, a, ndim) for a in chosen]
    return axes if form == "list" else tuple(axes)


def _draw_flag(draw: Callable, shapes_: list, drawn: dict) -> bool:
    return draw(st.booleans())


def _draw_permutation(draw: Callable, shapes_: list, drawn: dict) -> Any:
    ndim = len(shapes_[0])
    if draw(st.booleans()):
        return None
    order = draw(st.permutations(range(ndim)))
    return tuple(_maybe_negative(draw, a, ndim) for a in order)


def _draw_new_shape(draw: Callable, shapes_: list, drawn: dict) -> tuple:
    shape = tuple(shapes_[0])
    size = int(np.prod(shape))
    targets = [(size,), (1, size), (size, 1), shape[::-1], shape + (1,)]
    if size == 1:
        targets.append(())
    target = list(draw(st.sampled_from(targets)))
    if target and draw(st.booleans()):  # one size inferred
        target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(target)


def _draw_broadcast_shape(draw: Callable, shapes_: list, drawn: dict) -> tuple:
    shape = tuple(shapes_[0])
    lead = tuple(draw(st.lists(st.integers(1, MAX_SIDE), max_size=2)))
    stretched = tuple(_side(draw) if n == 1 else n for n in shape)
    return lead + stretched


def _draw_summed_shape(draw: Callable, shapes_: list, drawn: dict) -> tuple:
    shape = tuple(shapes_[0])
    kept = shape[draw(st.integers(0, len(shape))) :]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


def _draw_index(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return draw(indices(_at_least_1d(draw, shapes_)))


def _draw_dtype(draw: Callable, shapes_: list, drawn: dict) -> np.dtype:
    # float32 is not drawn: central differences of a float32 result are mostly
    # rounding at gradcheck's step. Every op runs in float32 in its own property.
    names = ("float64", "int64", "int32", "uint8", "bool")
    return np.dtype(draw(st.sampled_from(names)))


def _draw_join_axis(draw: Callable, shapes_: list, drawn: dict) -> int:
    shape = _at_least_1d(draw, shapes_)
    ndim = len(shape)
    axis = draw(st.integers(-ndim, ndim - 1))
    for i in range(len(shapes_)):  # equal shapes but along the joined axis
        sizes = list(shape)
        sizes[axis] = _side(draw)
        shapes_[i] = tuple(sizes)
    return axis


def _draw_new_axis(draw: Callable, shapes_: list, drawn: dict) -> int:
    shape = tuple(shapes_[0])
    shapes_[:] = [shape] * len(shapes_)
    return draw(st.integers(-len(shape) - 1, len(shape)))


def _draw_scatter_shape(draw: Callable, shapes_: list, drawn: dict) -> tuple:
    return draw(shapes(min_dims=1, min_side=1))


def _draw_scatter_index(draw: Callable, shapes_: list, drawn: dict) -> Any:
    index = draw(indices(drawn["shape"]))
    shapes_[0] = np.zeros(drawn["shape"])[index].shape  # what the input must be
    return index


def _draw_pair(draw: Callable, low: int, high: int) -> Any:
    """An int, or a pair (rows, columns): both forms the window ops take."""
    first = draw(st.integers(low, high))
    if draw(st.booleans()):
        return first
    return (first, draw(st.integers(low, high)))


def _draw_window(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return _draw_pair(draw, 1, MAX_SIDE)


def _draw_stride(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return _draw_pair(draw, 1, MAX_SIDE)


def _draw_pool_stride(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return None if draw(st.booleans()) else _draw_pair(draw, 1, MAX_SIDE)


def _draw_image_shape(draw: Callable, shapes_: list, drawn: dict) -> tuple:
    return (_side(draw), _side(draw), 1, 1)  # H, W: fitted by the padding drawer


def _fitted_padding(draw: Callable, shapes_: list, drawn: dict, pool: bool) -> Any:
    """Padding, then an image that fits the window: H + 2·pad >= KH, with every
    remainder of (H + 2·pad - KH) / stride, so that windows miss a last row."""
    kernel = _pair_of(drawn["size"] if "size" in drawn else shapes_[1][-2:])
    stride = _pair_of(drawn.get("stride") or kernel)
    pads = [draw(st.integers(0, k // 2 if pool else 2)) for k in kernel]
    pad: Any = pads[0] if pads[0] == pads[1] and draw(st.booleans()) else tuple(pads)
    sides = []
    for k, p, s in zip(kernel, pads, stride):
        low = max(1, k - 2 * p)
        sides.append(draw(st.integers(low, low + s)))
    image = (*(drawn["shape"] if "shape" in drawn else shapes_[0])[:2], *sides)
    if "shape" in drawn:  # col2im: the columns im2col makes of that image
        drawn["shape"] = image
        (oh, ow) = windows("col2im", image, kernel, stride, pad).out
        shapes_[0] = (image[0] * oh * ow, image[1] * kernel[0] * kernel[1])
    else:
        shapes_[0] = image
    return pad


def _pair_of(value: Any) -> tuple[int, int]:
    return tuple(value) if isinstance(value, tuple) else (value, value)


def _draw_padding(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return _fitted_padding(draw, shapes_, drawn, pool=False)


def _draw_pool_padding(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return _fitted_padding(draw, shapes_, drawn, pool=True)


#: How each kind of ``Param`` is drawn: ``drawer(draw, input_shapes, drawn)``
#: returns a value; it may change ``input_shapes`` (in place) to fit it.
_PARAM_DRAWERS: dict[str, Callable[[Callable, list, dict], Any]] = {
    "axis": _draw_axis,
    "axes": _draw_axes,
    "flag": _draw_flag,
    "permutation": _draw_permutation,
    "new_shape": _draw_new_shape,
    "broadcast_shape": _draw_broadcast_shape,
    "summed_shape": _draw_summed_shape,
    "index": _draw_index,
    "dtype": _draw_dtype,
    "join_axis": _draw_join_axis,
    "new_axis": _draw_new_axis,
    "scatter_shape": _draw_scatter_shape,
    "scatter_index": _draw_scatter_index,
    "window": _draw_window,
    "stride": _draw_stride,
    "pool_stride": _draw_pool_stride,
    "padding": _draw_padding,
    "pool_padding": _draw_pool_padding,
    "image_shape": _draw_image_shape,
}


# ------------------------------------------ for PyTorch users (issue 26)


def _draw_slope(draw: Callable, shapes_: list, drawn: dict) -> float:
    return draw(st.floats(-1.0, 2.0, allow_subnormal=False))


def _draw_ddof(draw: Callable, shapes_: list, drawn: dict) -> int:
    """0 or 1, with at least two reduced elements: the variance of one element
    is 0, where std's derivative is infinite (and ddof=1 has nothing left)."""
    shape = list(shapes_[0]) or [2]  # a 0-d input holds one element
    axis = drawn.get("axis")
    if axis is not None and np.ndim(axis) == 1 and len(axis) == 0:
        drawn["axis"] = None  # reducing no axis: one element each
    axes = _normalize_axes("ddof", drawn.get("axis"), len(shape))
    if np.prod([shape[a] for a in axes]) < 2:
        shape[axes[0]] = 2
    shapes_[0] = tuple(shape)
    return draw(st.integers(0, 1))


def _between_distinct(draw: Callable, lowest: int = -60) -> float:
    """A bound halfway between two values ``DISTINCT`` draws: never at a kink."""
    return (draw(st.integers(lowest, 59)) + 0.5) * DISTINCT_STEP


def _draw_lower_bound(draw: Callable, shapes_: list, drawn: dict) -> Any:
    return None if draw(st.booleans()) else _between_distinct(draw)


def _draw_upper_bound(draw: Callable, shapes_: list, drawn: dict) -> Any:
    """None only if there is a lower bound (``min``, as clip names it), else
    a bound at or above it."""
    low = drawn.get("min")
    if low is not None and draw(st.booleans()):
        return None
    lowest = -60 if low is None else round(low / DISTINCT_STEP - 0.5)
    return _between_distinct(draw, lowest)


_PARAM_DRAWERS.update(
    slope=_draw_slope,
    ddof=_draw_ddof,
    lower_bound=_draw_lower_bound,
    upper_bound=_draw_upper_bound,
)


@st.composite
def indices(draw: Callable, shape: tuple[int, ...]) -> Any:
    """Every kind of index NumPy takes for an array of ``shape`` (at least 1-D):
    an int (negative too), a slice (any step, reversed too), ``None``,
    ``...``, an integer array with repeats, a boolean mask, a list, or a tuple
    mixing them."""
    kind = draw(
        st.sampled_from(("int", "slice", "array", "mask", "list", "tuple", "empty"))
    )
    first = shape[0]
    if kind == "int":
        return draw(st.integers(-first, first - 1))
    if kind == "slice":
        return draw(_slices(first))
    if kind == "array":
        count = draw(st.integers(1, 4))
        rows = hnp.arrays(np.intp, count, elements=st.integers(-first, first - 1))
        return draw(rows)
    if kind == "mask":
        mask_dims = draw(st.integers(1, len(shape)))
        return draw(hnp.arrays(np.bool_, shape[:mask_dims]))
    if kind == "list":
        return draw(st.lists(st.integers(-first, first - 1), min_size=1, max_size=4))
    if kind == "empty":
        return draw(st.sampled_from(((), Ellipsis)))
    count = draw(st.integers(1, len(shape)))
    from_the_end = count < len(shape) and draw(st.booleans())  # after an Ellipsis
    parts: list[Any] = []
    for n in shape[-count:] if from_the_end else shape[:count]:
        part = draw(st.sampled_from(("int", "slice", "array")))
        if part == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif part == "slice":
            parts.append(draw(_slices(n)))
        elif any(isinstance(p, np.ndarray) for p in parts):
            parts.append(slice(None))  # one integer array: nothing to broadcast
        else:
            elements = st.integers(-n, n - 1)
            parts.append(draw(hnp.arrays(np.intp, 2, elements=elements)))
    if draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return (Ellipsis, *parts) if from_the_end else tuple(parts)


def _slices(n: int) -> st.SearchStrategy[slice]:
    bound = st.none() | st.integers(-n - 1, n + 1)
    step = st.none() | st.sampled_from((1, 2, -1, -2))
    return st.builds(slice, bound, bound, step)


# ---------------------------------------------------------------- assertions


def assert_gradients(
    op: Any, case: OpCase, *, second_order: bool = True, **tolerances: Any
) -> None:
    """Check an op on a drawn case and raise readably if anything is wrong.

    1. Dtypes (``assert_dtype_kept``): float32 in, float32 out and float32
       gradients; a result requires grad exactly when it is floating point
       and an input requires grad.
    2. The contract: run on the case exactly as drawn (views, shared arrays,
       read-only inputs and upstream gradient), the op gives the values, first
       and second derivatives it gives on separate contiguous copies; each
       gradient has its input's shape and dtype.
    3. First (and second) derivatives against central differences, in float64
       (unless the result has no gradient: an integer or boolean result); the
       second derivatives along the case's upstream gradient.
    """
    name = getattr(op, "op_name", _name(op))
    try:
        assert_dtype_kept(op, case)
        if not check_contract(op, case, second_order=second_order):
            return

        def fn(*inputs: Tensor) -> Tensor:
            return call(op, list(inputs), case.params)

        gradcheck(fn, _copies(case.inputs), **tolerances)
        if second_order and getattr(op, "twice_differentiable", True):
            gradgradcheck(fn, _copies(case.inputs), case.upstream, **tolerances)
    except GradcheckError as error:
        raise GradcheckError(f"{name}: {error}\nwith {case!r}") from None


def gradient_test(
    op: Any,
    *,
    second_order: bool = True,
    hypothesis_settings: settings = GRADIENT_SETTINGS,
    **tolerances: Any,
) -> Callable[[], None]:
    """A complete property test of ``op``, the one the library runs on its own ops.

    ``test_my_op = gradient_test(MyOp)`` in a test module is collected by
    pytest. Each example draws a case from the op's declarations
    (``op_inputs``: every parameter form, views, shared and detached
    operands, an upstream gradient) and checks it with ``assert_gradients``
    (dtypes, the contract, first and second derivatives), then draws a
    float32 case and checks that it stays float32 (``assert_dtype_kept``).
    ``op`` is a ``Function`` subclass or a function with ``domain`` and
    ``signature`` attributes; ``second_order=False`` skips second derivatives,
    and the tolerances go to ``gradcheck``. It runs with ``GRADIENT_SETTINGS``
    unless given other ``hypothesis_settings``.
    """
    _check_declared(op)
    name = getattr(op, "op_name", _name(op))

    def test(data: Any) -> None:
        case = data.draw(op_inputs(op), label="case")
        assert_gradients(op, case, second_order=second_order, **tolerances)
        float32 = data.draw(op_inputs(op, dtype=np.float32), label="float32 case")
        try:
            assert_dtype_kept(op, float32)
        except GradcheckError as error:
            raise GradcheckError(f"{name}: {error}\nwith {float32!r}") from None

    test.__name__ = test.__qualname__ = f"test_{name}"  # as Hypothesis reports it
    test.__doc__ = f"{name}: derivatives, contract and dtypes on drawn cases."
    return hypothesis_settings(given(data=st.data())(test))


def _copies(inputs: list[Tensor]) -> list[Tensor]:
    """Separate contiguous copies of the inputs, with the same flags and names."""
    return [
        Tensor(np.array(t.data, copy=True), t.requires_grad, name=t.name)
        for t in inputs
    ]


def assert_dtype_kept(op: Any, case: OpCase) -> None:
    """The result keeps its inputs' float dtype, and each gradient its input's.

    ``gradcheck`` works in float64 and cannot see an op that turns float32
    into float64: draw the case with ``op_inputs(op, dtype=np.float32)`` and
    this says so. An integer or boolean result (a cast) must not require
    grad; a result asked for in another dtype (a ``dtype`` parameter) may
    have it.
    """
    inputs = _copies(case.inputs)
    with enable_grad():
        out = call(op, inputs, case.params)
    wants_grad = out.dtype.kind == "f" and any(t.requires_grad for t in inputs)
    if out.requires_grad != wants_grad:
        raise GradcheckError(
            f"the result ({out.dtype}) has requires_grad={out.requires_grad}; "
            f"a result requires grad exactly when it is floating point and an "
            f"input requires grad."
        )
    floats = {t.dtype for t in inputs if t.dtype.kind == "f"}
    if len(floats) == 1 and out.dtype.kind == "f" and "dtype" not in case.params:
        (dtype,) = floats
        if out.dtype != dtype:
            raise GradcheckError(
                f"{dtype} inputs gave a {out.dtype} result; an op keeps its inputs' "
                f"dtype (compute in it, or cast the result back with "
                f".astype(x.dtype) in forward)."
            )
    if not out.requires_grad:
        return
    differentiable = [t for t in inputs if t.requires_grad]
    upstream = _upstream(case, out)
    grads = grad(out, differentiable, upstream)
    for t, g in zip(differentiable, grads):
        if g is not None and (g.dtype != t.dtype or g.shape != t.shape):
            raise GradcheckError(
                f"the gradient of input {inputs.index(t)} is {g.dtype} of shape "
                f"{g.shape}; it must keep the input's {t.dtype} and shape {t.shape}."
            )
    if np.dtype(np.float32) in floats:
        _compare_with_float64(op, case, inputs, grads, upstream)


def _compare_with_float64(
    op: Any, case: OpCase, inputs: list[Tensor], grads: Any, upstream: Tensor
) -> None:
    """float32 gradients against the float64 ones of the same values: gradcheck
    works in float64, so a rule wrong only in float32 would pass it. The
    tolerance is float32's, loose enough for ill-conditioned ops, tight enough
    for a wrong factor."""
    wide = [
        Tensor(t.data.astype(np.float64), t.requires_grad, name=t.name)
        if t.dtype.kind == "f"
        else Tensor(t.data.copy())
        for t in inputs
    ]
    with enable_grad():
        out = call(op, wide, case.params)
        differentiable = [t for t in wide if t.requires_grad]
        wide_grads = grad(out, differentiable, upstream.data.astype(np.float64))
    places = [i for i, t in enumerate(wide) if t.requires_grad]
    for k, g, w in zip(places, grads, wide_grads):
        if g is None or w is None:
            continue
        scale = float(np.max(np.abs(w.data), initial=0.0))
        if not np.allclose(g.data, w.data, rtol=1e-2, atol=1e-3 * scale + 1e-6):
            at = _worst_element(g.data, w.data)
            raise GradcheckError(
                f"in float32, the gradient of input {k} is {g.data[at]:.6g} at "
                f"{at}, where float64 gives {w.data[at]:.6g} for the "
                f"same values: the backward rule is wrong in float32 only (a "
                f"branch on dtype, a constant of the wrong precision)."
            )


def _worst_element(got: np.ndarray, expected: np.ndarray) -> tuple[int, ...]:
    """Where two arrays of one shape differ most."""
    flat = int(np.argmax(np.abs(got - expected)))
    return tuple(map(int, np.unravel_index(flat, got.shape)))


def _upstream(case: OpCase, out: Tensor) -> Tensor:
    """The case's upstream gradient in the result's dtype, read-only."""
    if case.upstream is None:
        upstream = np.random.default_rng(0).standard_normal(out.shape)
    else:
        upstream = np.array(case.upstream, copy=True)
    upstream = upstream.astype(out.dtype)
    upstream.flags.writeable = False
    return Tensor(upstream)


def check_contract(op: Any, case: OpCase, *, second_order: bool = True) -> bool:
    """The op on the case as drawn agrees exactly with the op on fresh copies.

    Sharing an array between operands, taking a view or detaching an operand
    must not change any value or derivative, and no rule may write into what
    it was given (inputs and the upstream gradient are read-only here).
    Returns whether the result has a gradient to check further.
    """
    drawn = case.inputs
    for t in drawn:
        t.data.flags.writeable = False
    copies = _copies(drawn)
    with enable_grad():
        out, ref_out = call(op, drawn, case.params), call(op, copies, case.params)
        np.testing.assert_allclose(out.data, ref_out.data, rtol=1e-12, atol=0)
        upstream = _upstream(case, out)
        firsts, seconds = _derivatives(op, drawn, out, upstream, second_order)
        ref_firsts, ref_seconds = _derivatives(
            op, copies, ref_out, upstream, second_order
        )
    if case.aliasing == "same tensor":
        # One Tensor in two places: each place's gradient is the sum of the
        # two separate copies' (its second derivatives are gradgradcheck's).
        i, j = _same_pair(drawn)
        if ref_firsts and ref_firsts[i] is not None:
            ref_firsts[i] = ref_firsts[j] = ref_firsts[i] + ref_firsts[j]
        seconds = ref_seconds = []
    for what, got, expected in (
        ("first derivative", firsts, ref_firsts),
        ("second derivative", seconds, ref_seconds),
    ):
        for i, (g, r) in enumerate(zip(got, expected)):
            _check_same_gradient(what, i, drawn[i], g, r, case.aliasing)
    return out.requires_grad


def _same_pair(inputs: list[Tensor]) -> tuple[int, int]:
    """The two places of the one Tensor that a "same tensor" case passes twice."""
    for j in range(1, len(inputs)):
        for i in range(j):
            if inputs[i] is inputs[j]:
                return i, j
    raise ValueError("no Tensor is passed twice")


def _derivatives(
    op: Any, inputs: list[Tensor], out: Tensor, upstream: Tensor, second_order: bool
) -> tuple[list, list]:
    """The vector-Jacobian product of ``out``, and the derivative of that."""
    differentiable = [t for t in inputs if t.requires_grad]
    if not out.requires_grad or not differentiable:
        return [], []
    rng = np.random.default_rng(0)
    create_graph = second_order and getattr(op, "twice_differentiable", True)
    grads = grad(out, differentiable, upstream, create_graph=create_graph)
    firsts = _by_input(inputs, differentiable, grads)
    recorded = [g for g in grads if g is not None and g.requires_grad]
    if not recorded:
        return firsts, []
    weights = [rng.standard_normal(g.shape).astype(g.dtype) for g in recorded]
    total = sum((g * w).sum() for g, w in zip(recorded, weights))
    return firsts, _by_input(inputs, differentiable, grad(total, differentiable))


def _by_input(inputs: list, differentiable: list, grads: Any) -> list:
    """Gradients listed per input (None for inputs that do not require grad)."""
    found = {id(t): g for t, g in zip(differentiable, grads)}
    return [found.get(id(t)) for t in inputs]


def _check_same_gradient(
    what: str, i: int, tensor: Tensor, g: Any, r: Any, aliasing: str
) -> None:
    where = f"the {what} for input {i} (shape {tensor.shape})"
    if aliasing != "separate":
        where += f", with {aliasing} operands,"
    if (g is None) != (r is None):
        raise GradcheckError(
            f"{where} is {'missing' if g is None else 'present'} where separate "
            f"copies of the inputs give {'one' if r is not None else 'none'}."
        )
    if g is None:
        return
    if type(g.data) is not np.ndarray or g.shape != tensor.shape:
        raise GradcheckError(
            f"{where} is a {type(g.data).__name__} of shape {g.shape}; it must be "
            f"an ndarray of the input's shape {tensor.shape}."
        )
    if g.dtype != tensor.dtype:
        raise GradcheckError(
            f"{where} has dtype {g.dtype}; gradients keep the input's {tensor.dtype}."
        )
    if not np.isfinite(r.data).all():
        worst = np.unravel_index(np.argmin(np.isfinite(r.data)), r.shape)
        raise GradcheckError(
            f"{where} is {r.data[worst]} at element {tuple(map(int, worst))}, at "
            f"inputs inside the op's domain: a derivative there is a number."
        )
    if not np.allclose(g.data, r.data, rtol=1e-9, atol=1e-12, equal_nan=False):
        worst = _worst_element(g.data, r.data)
        raise GradcheckError(
            f"{where} differs from the one computed on separate copies of the "
            f"inputs: at element {worst} {g.data[worst]:.10g} "
            f"against {r.data[worst]:.10g}. Sharing memory or a view must not "
            f"change a derivative."
        )
