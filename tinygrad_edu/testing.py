"""Hypothesis strategies and assertions for gradient tests — ours and yours.

Every op declares, next to its rules, the domain of each input, a gufunc-style
shape signature and (for ops with keyword parameters) a parameter recipe.
``op_inputs(op)`` reads those to draw valid inputs, and ``assert_gradients``
checks first and second derivatives against central differences. Your own
``Function`` gets the same treatment by giving it the same fields::

    class MyOp(Function):
        domain = (REAL, POSITIVE)     # one Domain per input
        signature = "(),()->()"       # or: params = my_recipe (see op_inputs)
        ...

    @given(op_inputs(MyOp))
    def test_my_op(case):
        assert_gradients(MyOp, case)

Needs Hypothesis (``pip install tinygrad-edu[dev]``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_edu.domains import REAL, Domain
from tinygrad_edu.errors import DomainError
from tinygrad_edu.function import Function
from tinygrad_edu.numerical import GradcheckError, gradcheck, gradgradcheck
from tinygrad_edu.tensor import Tensor

#: Small arrays keep a full Jacobian check cheap (it costs O(size²)).
MAX_DIMS = 3
MAX_SIDE = 3


@dataclass
class OpCase:
    """One drawn test case: the op's inputs and keyword parameters."""

    inputs: list[Tensor]
    params: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # what Hypothesis prints for a shrunk failure
        args = [
            f"{'x' if t.requires_grad else 'const'}{i}: shape {t.shape} {t.dtype}\n"
            f"{np.array2string(t.data, precision=4)}"
            for i, t in enumerate(self.inputs)
        ]
        return f"OpCase(params={self.params!r},\n  " + "\n  ".join(args) + ")"


def call(op: Any, inputs: list[Tensor], params: dict[str, Any]) -> Tensor:
    """Apply a registry op (a ``Function`` subclass) or a composite function."""
    if isinstance(op, type) and issubclass(op, Function):
        return op.apply(*inputs, **params)
    if getattr(op, "params", None) in ("concatenate", "stack"):
        return op(inputs, **params)
    return op(*inputs, **params)


# ---------------------------------------------------------------- elements


def _floats(domain: Domain) -> st.SearchStrategy[float]:
    """Floats in [low, high] minus a margin around each avoided point.

    Drawn from the intervals between the points, not filtered: Hypothesis
    likes 0 and other simple values, so a filter would reject half its draws.
    """
    edges = [domain.low]
    for p in sorted(domain.avoid):
        edges += [p - domain.margin, p + domain.margin]
    edges.append(domain.high)
    bounded = [
        (max(a, domain.low), min(b, domain.high))
        for a, b in zip(edges[::2], edges[1::2])
    ]  # an avoided point outside [low, high] must not widen a piece past them
    pieces = [
        st.floats(a, b, allow_nan=False, allow_subnormal=False)
        for a, b in bounded
        if a <= b
    ]
    return st.one_of(pieces)


def arrays(
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    domain: Domain = REAL,
    dtype: Any = np.float64,
) -> st.SearchStrategy[np.ndarray]:
    """Float arrays of ``shape`` with elements in ``domain``.

    For ``DISTINCT`` every pair of elements differs by at least 0.05, so a
    small perturbation can never change which element is the maximum.
    """
    if domain.kind == "distinct":
        return (st.just(shape) if isinstance(shape, tuple) else shape).flatmap(
            lambda s: _distinct_arrays(s, dtype)
        )
    return hnp.arrays(dtype, shape, elements=_floats(domain))


def _distinct_arrays(
    shape: tuple[int, ...], dtype: Any
) -> st.SearchStrategy[np.ndarray]:
    size = int(np.prod(shape))
    grid = st.permutations(range(-60, 61)).map(lambda p: p[:size])
    return grid.map(lambda v: (np.array(v, dtype=dtype) * 0.05).reshape(shape))


def shapes(
    min_dims: int = 0, max_dims: int = MAX_DIMS
) -> st.SearchStrategy[tuple[int, ...]]:
    """Small array shapes (sides 1..MAX_SIDE), scalars included when min_dims = 0."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=MAX_SIDE
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
    ).map(lambda b: b.input_shapes)


# ---------------------------------------------------------------- op inputs


def op_inputs(op: Any, dtype: Any = np.float64) -> st.SearchStrategy[OpCase]:
    """Valid inputs for an op, drawn from the domains, signature and params it has.

    The op declares, as class attributes: ``domain`` (one ``Domain`` per input)
    and either ``signature`` (input shapes, e.g. ``"(),()->()"``) or ``params``,
    the name of a recipe in ``PARAM_RECIPES`` or your own recipe: a function
    ``recipe(draw) -> (input_shapes, keyword_params)``. What is missing is
    reported up front, with the line to add.
    """
    _check_declared(op)
    return _op_case(op, dtype)


def _check_declared(op: Any) -> None:
    name = getattr(op, "__name__", repr(op))
    where = f"op_inputs({name})"
    domain = getattr(op, "domain", None)
    if not domain or not isinstance(domain, tuple):
        raise DomainError(
            f"{where}: {name} declares no domain, so there is nothing to draw its "
            f"inputs from. Add one Domain per input to the class, e.g. "
            f"`domain = (REAL, POSITIVE)` (from tinygrad_edu.domains import REAL, "
            f"POSITIVE)."
        )
    if not all(isinstance(d, Domain) for d in domain):
        raise DomainError(
            f"{where}: domain must hold Domain objects from tinygrad_edu.domains "
            f"(REAL, POSITIVE, NONZERO, AWAY_FROM(0), ...), got {domain!r}."
        )
    params = getattr(op, "params", None)
    if params is None:
        signature = getattr(op, "signature", None)
        if not isinstance(signature, str) or "->" not in signature:
            raise DomainError(
                f"{where}: {name} declares no signature, so its input shapes are "
                f"unknown. Add a gufunc-style signature to the class, e.g. "
                f'`signature = "()->()"` (elementwise), `"(),()->()"` '
                f'(broadcasting binary) or `"(n,k),(k,m)->(n,m)"`; or, for an op '
                f"with keyword parameters, `params = recipe` where "
                f"recipe(draw) returns (input_shapes, keyword_params)."
            )
        arity = signature.split("->")[0].count("(")
        if arity != len(domain):
            raise DomainError(
                f"{where}: the signature {signature!r} has {arity} input(s) but "
                f"domain has {len(domain)}; declare one domain per input."
            )
    elif isinstance(params, str):
        if params not in PARAM_RECIPES:
            raise DomainError(
                f"{where}: params {params!r} names no recipe; use one of "
                f"{sorted(PARAM_RECIPES)} or a function recipe(draw) -> "
                f"(input_shapes, keyword_params)."
            )
    elif not callable(params):
        raise DomainError(
            f"{where}: params must be a recipe name ({sorted(PARAM_RECIPES)}) or a "
            f"function recipe(draw) -> (input_shapes, keyword_params), got "
            f"{params!r}."
        )


@st.composite
def _op_case(draw: Callable, op: Any, dtype: Any) -> OpCase:
    if op.params is None:
        elementwise = set(op.signature.split("->")[0].split(",")) == {"()"}
        batched = getattr(op, "batched", True)
        loop_dims = 0 if not batched else MAX_DIMS if elementwise else 1
        input_shapes = draw(broadcastable_shapes(op.signature, loop_dims))
        params: dict[str, Any] = {}
    else:
        recipe = PARAM_RECIPES[op.params] if isinstance(op.params, str) else op.params
        input_shapes, params = recipe(draw)
        if len(input_shapes) != len(op.domain):
            raise DomainError(
                f"op_inputs({getattr(op, '__name__', op)!r}): its params recipe "
                f"drew {len(input_shapes)} input shape(s) but domain has "
                f"{len(op.domain)}; return one shape per input."
            )
    inputs = []
    for i, (domain, shape) in enumerate(zip(op.domain, input_shapes, strict=True)):
        if domain.kind in ("labels", "targets"):
            data = draw(_targets(domain, input_shapes[0], dtype))
            tensor = Tensor(data, requires_grad=data.dtype.kind == "f")
        else:
            tensor = Tensor(draw(arrays(shape, domain, dtype)), requires_grad=True)
        tensor.name = f"x{i}"
        inputs.append(tensor)
    return OpCase(inputs, params)


def _targets(
    domain: Domain, logits_shape: tuple[int, ...], dtype: Any
) -> st.SearchStrategy[np.ndarray]:
    n, c = logits_shape
    labels = hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1))
    if domain.kind == "labels":
        return labels
    rows = hnp.arrays(dtype, (n, c), elements=st.floats(0.0625, 1.0)).map(
        lambda r: r / r.sum(axis=1, keepdims=True)
    )
    return st.one_of(labels, rows)


def _reduce(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes())
    axis = draw(
        st.one_of(
            st.none(),
            st.integers(-len(shape), len(shape) - 1) if shape else st.none(),
            st.lists(
                st.integers(0, max(len(shape) - 1, 0)), unique=True, max_size=len(shape)
            ).map(tuple),
        )
    )
    return [shape], {"axis": axis, "keepdims": draw(st.booleans())}


def _axis(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes(min_dims=1))
    return [shape], {"axis": draw(st.integers(-len(shape), len(shape) - 1))}


def _reshape(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes())
    size = int(np.prod(shape))
    targets = [(size,), (1, size), (size, 1), (-1,), shape[::-1]] + (
        [()] if size == 1 else []
    )
    return [shape], {"shape": draw(st.sampled_from(targets))}


def _transpose(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes())
    axes = draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    return [shape], {"axes": axes}


def _smaller_shape(draw: Callable, big: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``big``: drop leading axes, set some to 1."""
    kept = big[draw(st.integers(0, len(big))) :]
    return tuple(1 if draw(st.booleans()) else n for n in kept)


def _broadcast_to(draw: Callable) -> tuple[list, dict]:
    big = draw(shapes())
    return [_smaller_shape(draw, big)], {"shape": big}


def _sum_to(draw: Callable) -> tuple[list, dict]:
    big = draw(shapes())
    return [big], {"shape": _smaller_shape(draw, big)}


def _index(draw: Callable, shape: tuple[int, ...]) -> Any:
    """A slice, an integer array with repeats, a boolean mask, or a mix."""
    first = shape[0]
    integer_array = hnp.arrays(
        np.intp, draw(st.integers(1, 4)), elements=st.integers(-first, first - 1)
    )
    return draw(
        st.one_of(
            st.builds(
                slice, st.integers(0, first - 1), st.integers(1, first) | st.none()
            ),
            integer_array,
            hnp.arrays(np.bool_, shape),
            st.tuples(
                st.just(slice(None)), *[st.integers(-n, n - 1) for n in shape[1:2]]
            ),
        )
    )


def _getitem(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes(min_dims=1))
    return [shape], {"index": _index(draw, shape)}


def _scatter_add(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes(min_dims=1))
    index = _index(draw, shape)
    return [np.zeros(shape)[index].shape], {"shape": shape, "index": index}


def _concatenate(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes(min_dims=1))
    axis = draw(st.integers(0, len(shape) - 1))
    sizes = draw(st.lists(st.integers(1, MAX_SIDE), min_size=3, max_size=3))
    return [shape[:axis] + (n,) + shape[axis + 1 :] for n in sizes], {"axis": axis}


def _stack(draw: Callable) -> tuple[list, dict]:
    shape = draw(shapes())
    return [shape] * 3, {"axis": draw(st.integers(-len(shape) - 1, len(shape)))}


def _cast(draw: Callable) -> tuple[list, dict]:
    return [draw(shapes())], {"dtype": np.dtype(np.float64)}


#: How to draw input shapes and keyword parameters, by the name an op declares
#: in ``params``. Ops without ``params`` are drawn from their ``signature``.
PARAM_RECIPES: dict[str, Callable[[Callable], tuple[list, dict]]] = {
    "reduce": _reduce,
    "axis": _axis,
    "reshape": _reshape,
    "transpose": _transpose,
    "broadcast_to": _broadcast_to,
    "sum_to": _sum_to,
    "getitem": _getitem,
    "scatter_add": _scatter_add,
    "concatenate": _concatenate,
    "stack": _stack,
    "cast": _cast,
}


# ---------------------------------------------------------------- assertions


def assert_gradients(
    op: Any, case: OpCase, *, second_order: bool = True, **tolerances: Any
) -> None:
    """Check an op's first (and second) derivatives on a drawn case; raise readably.

    Also runs the op once on read-only inputs and a read-only upstream gradient,
    so a rule that writes into its inputs fails loudly, and checks that each
    gradient has its input's shape.
    """
    _check_read_only(op, case)

    def fn(*inputs: Tensor) -> Tensor:
        return call(op, list(inputs), case.params)

    name = getattr(op, "op_name", getattr(op, "__name__", repr(op)))
    try:
        gradcheck(fn, case.inputs, **tolerances)
        if second_order and getattr(op, "twice_differentiable", True):
            gradgradcheck(fn, case.inputs, **tolerances)
    except GradcheckError as error:
        raise GradcheckError(f"{name}: {error}\nwith {case!r}") from None


def _check_read_only(op: Any, case: OpCase) -> None:
    inputs = []
    for t in case.inputs:
        frozen = t.data.copy()
        frozen.flags.writeable = False
        inputs.append(Tensor(frozen, requires_grad=t.requires_grad))
    out = call(op, inputs, case.params)
    if not out.requires_grad:
        return
    upstream = np.ones(out.shape, dtype=out.dtype)
    upstream.flags.writeable = False
    out.backward(upstream)
    for i, t in enumerate(inputs):
        if t.requires_grad and t.grad is not None and t.grad.shape != t.shape:
            raise GradcheckError(
                f"gradient of input {i} has shape {t.grad.shape}, input has {t.shape}"
            )
