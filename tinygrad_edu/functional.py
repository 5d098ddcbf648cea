"""The ops as functions (``import tinygrad_edu.functional as F``).

Primitive ops are one-line calls into the registry (``tinygrad_edu.ops``).
Composites are built from them (so their gradients need no rule of their own)
and are registered in ``COMPOSITES`` with their domains, so the property
tests check them exactly like primitives.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from tinygrad_edu import ops
from tinygrad_edu.domains import (
    AWAY_FROM,
    AXES,
    AXIS,
    BETWEEN_DISTINCT,
    DDOF,
    DISTINCT,
    FLAG,
    LOWER_BOUND,
    NEW_AXIS,
    OPEN_PROBABILITIES,
    PADDING,
    POOL_PADDING,
    POOL_STRIDE,
    POSITIVE,
    PROBABILITIES,
    REAL,
    SLOPE,
    STRIDE,
    TARGETS,
    UNIT_INTERVAL,
    UPPER_BOUND,
    WINDOW,
    Param,
)
from tinygrad_edu.errors import DomainError, DTypeError, ShapeError
from tinygrad_edu.recording import name_scope
from tinygrad_edu.targets import check_targets
from tinygrad_edu.tensor import Tensor, as_tensor, as_tensors, torch_keywords

ArrayLike = Any  # a Tensor, an ndarray, a Python number or nested list

#: Functions made of registered ops, by name, each with ``domain``,
#: ``signature`` and ``param_domains`` like a registry entry.
COMPOSITES: dict[str, Callable[..., Tensor]] = {}


def _composite(
    domain: tuple,
    signature: str,
    param_domains: Mapping[str, Param] | None = None,
    batched: bool = True,
):
    """Register a composite; the ops it records carry its name as a scope, so
    graphs and ``explain`` show ``mean``, not the ``sum`` and ``mul`` inside.
    Each call opens a scope of its own: two means are two frames."""

    def register(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        @functools.wraps(fn)
        def composite(*args: Any, **kwargs: Any) -> Tensor:
            with name_scope(fn.__name__):
                return fn(*args, **kwargs)

        composite.domain, composite.signature = domain, signature
        composite.param_domains, composite.batched = param_domains or {}, batched
        composite.op_name = fn.__name__
        COMPOSITES[fn.__name__] = composite
        return composite

    return register


def _target(t: ArrayLike, y: Tensor) -> ArrayLike:
    """Targets are data, not parameters: give them the prediction's float dtype.

    Without this a float64 one-hot array would silently turn a float32 loss
    (and its graph) into float64. Targets that require grad are left as they are.
    """
    if isinstance(t, Tensor):
        if t.requires_grad:
            return t
        data = t.data
    elif isinstance(t, (np.ndarray, list, tuple)):
        try:
            data = np.asarray(t)
        except ValueError:  # ragged: let the op report it with its name
            return t
    else:
        return t  # Python scalars already follow the Tensor's dtype
    if y.dtype.kind == "f" and data.dtype.kind == "f" and data.dtype != y.dtype:
        return Tensor(data.astype(y.dtype))
    return t


def _sequence(op: str, xs: Any) -> Sequence[ArrayLike]:
    if not isinstance(xs, (list, tuple)):
        raise DTypeError(
            f"{op}: takes a list or tuple of tensors, got {type(xs).__name__}; "
            f"e.g. {op}([a, b])."
        )
    return xs


# ---------------------------------------------------------------- primitives
def add(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x + y, broadcasting; gradient 1 to each input (summed back to its shape)."""
    return ops.Add.apply(x, y)


def sub(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x - y, broadcasting; gradients 1 and -1."""
    return ops.Sub.apply(x, y)


def mul(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x * y, broadcasting; each input's gradient is the other input times g."""
    return ops.Mul.apply(x, y)


def div(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x / y, broadcasting; gradients 1/y and -x/y² (y must be nonzero)."""
    return ops.Div.apply(x, y)


def neg(x: ArrayLike) -> Tensor:
    """-x; gradient -1."""
    return ops.Neg.apply(x)


def pow(x: ArrayLike, y: ArrayLike) -> Tensor:
    """x ** y, broadcasting; gradients y·x^(y-1) and ln(x)·x^y (so x > 0 for y's)."""
    return ops.Pow.apply(x, y)


def exp(x: ArrayLike) -> Tensor:
    """e^x; its derivative is itself, so backward reuses the output."""
    return ops.Exp.apply(x)


def log(x: ArrayLike) -> Tensor:
    """Natural log (x > 0); gradient 1/x."""
    return ops.Log.apply(x)


def sigmoid(x: ArrayLike) -> Tensor:
    """1 / (1 + e^-x), fused and stable at both ends; gradient y(1 - y)."""
    return ops.Sigmoid.apply(x)


def tanh(x: ArrayLike) -> Tensor:
    """Hyperbolic tangent; gradient 1 - y², from the saved output."""
    return ops.Tanh.apply(x)


def relu(x: ArrayLike) -> Tensor:
    """max(x, 0); gradient 1 where x > 0, else 0 (0 at the kink itself)."""
    return ops.Relu.apply(x)


def cast(x: ArrayLike, dtype: Any) -> Tensor:
    """x as ``dtype`` (NumPy's astype); the gradient is cast back to x's dtype."""
    return ops.Cast.apply(x, dtype=dtype)


def matmul(x: ArrayLike, w: ArrayLike) -> Tensor:
    """Matrix product x @ w (1-D, 2-D, batched), as np.matmul; vjps g @ wᵀ, xᵀ @ g."""
    return ops.Matmul.apply(x, w)


@torch_keywords
def sum(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (all by default), like np.sum; g is broadcast back."""
    return ops.Sum.apply(x, axis=axis, keepdims=keepdims)


@torch_keywords
def max(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Max over ``axis``, like np.max; g goes to the maxima.

    Ties: k equal maxima each get g/k, so the gradient still sums to g.
    """
    return ops.Max.apply(x, axis=axis, keepdims=keepdims)


def reshape(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """The same elements in a new shape (NumPy's rules, -1 allowed); g reshaped back."""
    return ops.Reshape.apply(x, shape=shape)


def transpose(x: ArrayLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute axes (reversed if ``axes`` is None), as np.transpose; g permuted back."""
    return ops.Transpose.apply(x, axes=axes)


def broadcast_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """Broadcast x to ``shape`` without copying; g is summed back to x's shape."""
    return ops.BroadcastTo.apply(x, shape=shape)


def sum_to(x: ArrayLike, shape: Sequence[int]) -> Tensor:
    """Sum x down to a shape it broadcasts from: the adjoint of broadcast_to."""
    return ops.SumTo.apply(x, shape=shape)


def getitem(x: ArrayLike, index: Any) -> Tensor:
    """x[index] (slices, integer arrays, masks), as NumPy indexes; g scatters back."""
    return as_tensor(x)[index]


def scatter_add(x: ArrayLike, shape: Sequence[int], index: Any) -> Tensor:
    """zeros(shape) with x added at ``index`` (repeats add up): getitem's adjoint."""
    return ops.ScatterAdd.apply(x, shape=shape, index=index)


def concatenate(xs: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``, like np.concatenate; g is split."""
    return ops.Concatenate.apply(*_sequence("concatenate", xs), axis=axis)


def im2col(x: ArrayLike, size: Any, stride: Any = 1, pad: Any = 0) -> Tensor:
    """The windows of NCHW images x as rows (N·OH·OW, C·KH·KW); g goes to col2im."""
    return ops.Im2col.apply(x, size=size, stride=stride, pad=pad)


def col2im(
    cols: ArrayLike, shape: Sequence[int], size: Any, stride: Any = 1, pad: Any = 0
) -> Tensor:
    """Rows of windows added back into images of ``shape``: im2col's adjoint."""
    return ops.Col2im.apply(cols, shape=shape, size=size, stride=stride, pad=pad)


@torch_keywords
def softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """e^x / Σ e^x along ``axis``, computed stably; class probabilities from scores."""
    return ops.Softmax.apply(x, axis=axis)


@torch_keywords
def log_softmax(x: ArrayLike, axis: int = -1) -> Tensor:
    """log(softmax(x)) by log-sum-exp: exact where softmax underflows to 0."""
    return ops.LogSoftmax.apply(x, axis=axis)


def softmax_cross_entropy(logits: ArrayLike, target: ArrayLike) -> Tensor:
    """Mean cross entropy of softmax(logits) against labels (N,) or rows (N, C).

    >>> float(softmax_cross_entropy([[0.0, 0.0]], [1]).item())  # ln 2
    0.6931471805599453
    """
    target = as_tensor(target, "softmax_cross_entropy")  # a Python int stays a label
    return ops.SoftmaxCrossEntropy.apply(logits, target)


# ---------------------------------------------------------------- composites
@_composite((REAL,), "()->()", param_domains={"axis": AXES, "keepdims": FLAG})
@torch_keywords
def mean(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over axes, as sum · (1/n)."""
    x = as_tensor(x)
    total = ops.Sum.apply(x, axis=axis, keepdims=keepdims)
    return total * (total.size / x.size if x.size else np.nan)


@_composite((REAL, REAL), "(n?,k),(k,m?)->(n?,m?)", batched=False)
def dot(x: ArrayLike, w: ArrayLike) -> Tensor:
    """np.dot for 1-D and 2-D operands: inner, matrix-vector and matrix products."""
    x, w = as_tensor(x), as_tensor(w)
    if not (1 <= x.ndim <= 2 and 1 <= w.ndim <= 2):
        raise ShapeError(
            f"dot: operands of shapes {x.shape} and {w.shape}; dot takes 1-D or 2-D "
            f"operands. Use matmul (@) for batches and * for scalars."
        )
    return ops.Matmul.apply(x, w)


@_composite((REAL, REAL, REAL), "(),(),()->()", param_domains={"axis": NEW_AXIS})
def stack(xs: Sequence[ArrayLike], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis (concatenate of expanded inputs)."""
    tensors = [as_tensor(x) for x in _sequence("stack", xs)]
    if not tensors or any(t.shape != tensors[0].shape for t in tensors):
        raise ShapeError(
            f"stack: needs one or more tensors of equal shape, got shapes "
            f"{[t.shape for t in tensors]}."
        )
    ndim = tensors[0].ndim + 1
    if not isinstance(axis, (int, np.integer)) or not -ndim <= axis < ndim:
        raise DomainError(
            f"stack: axis {axis!r} is not an axis of the {ndim}-D result; use an "
            f"integer in [{-ndim}, {ndim - 1}]."
        )
    axis %= ndim
    expanded = [t.reshape(t.shape[:axis] + (1,) + t.shape[axis:]) for t in tensors]
    return ops.Concatenate.apply(*expanded, axis=axis)


@_composite((REAL, REAL), "(n?,c?),(n?,c?)->()", batched=False)
def sum_squared_error(y: ArrayLike, t: ArrayLike) -> Tensor:
    """The book's E = ½ Σ (y - t)², summed over the elements (one shape for both)."""
    y = as_tensor(y, "sum_squared_error")
    t = as_tensor(_target(t, y), "sum_squared_error")
    _same_shapes("sum_squared_error", y, t)
    return 0.5 * ((y - t) ** 2).sum()


@_composite((REAL, REAL), "(n?,c?),(n?,c?)->()", batched=False)
def mse(y: ArrayLike, t: ArrayLike) -> Tensor:
    """Mean squared error: mean of (y - t)² over the elements (one shape for both)."""
    y = as_tensor(y, "mse")
    t = as_tensor(_target(t, y), "mse")
    _same_shapes("mse", y, t)
    return mean((y - t) ** 2)


#: The book's guard against log(0); kept so values match the book's.
CROSS_ENTROPY_DELTA = 1e-7


@_composite((PROBABILITIES, TARGETS), "(n,c),(n)->()", batched=False)
def cross_entropy_error(y: ArrayLike, t: ArrayLike) -> Tensor:
    """The book's cross entropy of probabilities y against labels or one-hot t.

    E = -Σ t log(y + 1e-7) / N. Prefer ``softmax_cross_entropy`` on logits:
    it is exact and stable where y underflows to 0.
    """
    y = as_tensor(y)
    t = as_tensor(_target(t, y))
    rows = y.reshape(1, y.size) if y.ndim == 1 else y
    targets = check_targets(y.data, t.data, "cross_entropy_error", "probabilities y")
    n = rows.shape[0]
    if targets.dtype.kind in "iu":
        picked = rows[np.arange(n), targets]
        return -(picked + CROSS_ENTROPY_DELTA).log().sum() / n
    return -(t.reshape(rows.shape) * (rows + CROSS_ENTROPY_DELTA).log()).sum() / n


# ------------------------------------------ for PyTorch users (issue 26)
# Composites and spellings a PyTorch user reaches for; each is built from
# registry ops, so the property tests check it like the rest.


@_composite((REAL,), "()->()", param_domains={"axis1": AXIS, "axis2": AXIS})
def swapaxes(x: ArrayLike, axis1: int = -2, axis2: int = -1) -> Tensor:
    """Exchange two axes, as np.swapaxes (PyTorch's ``transpose(a, b)``); by
    default the last two: the transpose of each matrix in a stack."""
    x = as_tensor(x)
    axes = list(range(x.ndim))
    a = ops._axis_number("swapaxes", axis1, x.ndim)
    b = ops._axis_number("swapaxes", axis2, x.ndim)
    axes[a], axes[b] = b, a
    return ops.Transpose.apply(x, axes=axes)


# Primitives of issue 26 (one-line calls into the registry).
def abs(x: ArrayLike) -> Tensor:
    """|x|; gradient sign(x), and 0 at 0, where x and -x tie and share it."""
    return ops.Abs.apply(x)


def softplus(x: ArrayLike) -> Tensor:
    """ln(1 + e^x), stable for any x (np.logaddexp); gradient sigmoid(x)."""
    return ops.Softplus.apply(x)


def where(condition: ArrayLike, x: ArrayLike, y: ArrayLike) -> Tensor:
    """x where ``condition`` holds, else y (broadcasting, as np.where); each
    chosen element's gradient goes to the input it came from."""
    return ops.Where.apply(condition, x, y)


def clone(x: ArrayLike) -> Tensor:
    """A copy with its own memory, in the graph (gradient 1), as torch.clone."""
    return ops.Clone.apply(x)


@_composite((POSITIVE,), "()->()")
def sqrt(x: ArrayLike) -> Tensor:
    """√x, as x ** 0.5; gradient 1/(2√x), infinite at 0."""
    return as_tensor(x, "sqrt") ** 0.5


def _pairwise(op: str, x: ArrayLike, y: ArrayLike, reduce: Callable) -> Tensor:
    """``reduce`` over x and y stacked, after broadcasting them together: ties
    then share the gradient as they do in ``max``."""
    x, y = as_tensors((x, y), op)
    try:
        shape = np.broadcast_shapes(x.shape, y.shape)
    except ValueError:
        raise ShapeError(
            f"{op}: shapes {x.shape} and {y.shape} do not broadcast together; "
            f"compared from the last axis, each pair of sizes must be equal or 1."
        ) from None
    return reduce(stack([x.broadcast_to(shape), y.broadcast_to(shape)]), axis=0)


@_composite((DISTINCT, BETWEEN_DISTINCT), "(),()->()")
def maximum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """The larger of x and y, elementwise (np.maximum); g goes to the larger.

    Ties share g equally, as in ``max`` (and PyTorch's maximum).
    """
    return _pairwise("maximum", x, y, max)


@_composite((DISTINCT, BETWEEN_DISTINCT), "(),()->()")
def minimum(x: ArrayLike, y: ArrayLike) -> Tensor:
    """The smaller of x and y, elementwise (np.minimum); ties share g."""
    return _pairwise("minimum", x, y, min)


@_composite((DISTINCT,), "()->()", param_domains={"axis": AXES, "keepdims": FLAG})
@torch_keywords
def min(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Minimum over ``axis``, as -max(-x): g goes to the minima, ties share it."""
    return -ops.Max.apply(-as_tensor(x, "min"), axis=axis, keepdims=keepdims)


@_composite(
    (DISTINCT,), "()->()", param_domains={"min": LOWER_BOUND, "max": UPPER_BOUND}
)
def clip(x: ArrayLike, min: float | None = None, max: float | None = None) -> Tensor:
    """x limited to [min, max] (either may be None), as np.clip and torch.clamp.

    The gradient is 1 strictly inside and 0 at and beyond a bound, as relu's
    at its kink: ``clip(x, 0)`` is ``relu(x)``, derivative included.
    """
    x = as_tensor(x, "clip")
    if min is None and max is None:
        raise DomainError("clip: give min, max or both; with neither nothing is cut.")
    try:
        low = -np.inf if min is None else float(min)
        high = np.inf if max is None else float(max)
    except (TypeError, ValueError):
        raise DTypeError(
            f"clip: the bounds must be numbers or None, got min={min!r}, max={max!r}."
        ) from None
    if not low <= high:
        raise DomainError(f"clip: min={min!r} is above max={max!r}; give min <= max.")
    inside = (x.data > low) & (x.data < high)
    return ops.Where.apply(inside, x, np.clip(x.data, low, high))


@_composite((AWAY_FROM(0),), "()->()", param_domains={"negative_slope": SLOPE})
def leaky_relu(x: ArrayLike, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, else negative_slope·x; at 0 the slope of the left side
    (as relu's 0 there)."""
    x = as_tensor(x, "leaky_relu")
    return ops.Where.apply(x.data > 0, x, x * negative_slope)


def _as_float(x: Tensor) -> Tensor:
    """Integer tensors as floats, so that x - max(x) cannot wrap around."""
    return x if x.dtype.kind == "f" else x.astype(ops._float_dtype(x.data))


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple:
    return tuple(n for i, n in enumerate(shape) if i not in axes)


@_composite((REAL,), "()->()", param_domains={"axis": AXES, "keepdims": FLAG})
@torch_keywords
def logsumexp(x: ArrayLike, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log Σ e^x over ``axis``, shifted by the maximum (a constant) so that
    nothing overflows; its gradient is softmax(x)."""
    x = _as_float(as_tensor(x, "logsumexp"))
    shift = ops.Max.apply(x.detach(), axis=axis, keepdims=True)
    out = (x - shift).exp().sum(axis=axis, keepdims=True).log() + shift
    axes = ops._normalize_axes("logsumexp", axis, x.ndim)
    return out if keepdims else out.reshape(_reduced_shape(x.shape, axes))


@_composite(
    (REAL,), "()->()", param_domains={"axis": AXES, "ddof": DDOF, "keepdims": FLAG}
)
@torch_keywords
def var(
    x: ArrayLike, axis: Any = None, ddof: int = 0, keepdims: bool = False
) -> Tensor:
    """Variance over ``axis``: Σ (x - mean)² / (n - ddof).

    ddof=0 by default, as np.var; PyTorch's default is correction=1 (the
    unbiased estimate): pass ``ddof=1`` or ``correction=1`` for it.
    """
    x = _as_float(as_tensor(x, "var"))
    axes = ops._normalize_axes("var", axis, x.ndim)
    n = int(np.prod([x.shape[a] for a in axes]))
    try:
        ddof = operator.index(ddof)
    except TypeError:
        raise DTypeError(f"var: ddof must be an integer, got {ddof!r}.") from None
    if not 0 <= ddof < n:
        raise DomainError(
            f"var: ddof={ddof} with {n} element(s) along axis {axis!r} of shape "
            f"{x.shape}; it needs 0 <= ddof < {n} (n - ddof is the divisor)."
        )
    centered = x - mean(x, axis=axes, keepdims=True)
    return (centered**2).sum(axis=axes, keepdims=keepdims) / (n - ddof)


@_composite(
    (DISTINCT,), "()->()", param_domains={"axis": AXES, "ddof": DDOF, "keepdims": FLAG}
)
@torch_keywords
def std(
    x: ArrayLike, axis: Any = None, ddof: int = 0, keepdims: bool = False
) -> Tensor:
    """Standard deviation, √var (ddof=0 by default, as np.std; PyTorch's
    default is correction=1). Its gradient is infinite where all values agree."""
    return var(x, axis=axis, ddof=ddof, keepdims=keepdims) ** 0.5


def _arg(op: str, pick: Callable, x: ArrayLike, axis: Any, keepdims: bool) -> Tensor:
    x = as_tensor(x, op)
    if x.size == 0:
        raise ShapeError(
            f"{op}: the tensor of shape {x.shape} is empty: there is no element "
            f"to point at."
        )
    if axis is not None:
        axis = ops._axis_number(op, axis, x.ndim, none=True)
    return Tensor(pick(x.data, axis=axis, keepdims=bool(keepdims)))


@_composite((DISTINCT,), "()->()", param_domains={"axis": AXIS, "keepdims": FLAG})
@torch_keywords
def argmax(x: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The index of the maximum along ``axis`` (of the flattened x if None),
    as np.argmax: an integer tensor, with no gradient."""
    return _arg("argmax", np.argmax, x, axis, keepdims)


@_composite((DISTINCT,), "()->()", param_domains={"axis": AXIS, "keepdims": FLAG})
@torch_keywords
def argmin(x: ArrayLike, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The index of the minimum along ``axis``, as np.argmin; no gradient."""
    return _arg("argmin", np.argmin, x, axis, keepdims)


# Losses of issue 26


def _same_shapes(op: str, y: Tensor, t: Tensor) -> None:
    """Refuse targets of another shape: broadcasting (N, 1) logits against (N,)
    targets would silently compare every sample with every target."""
    if y.shape != t.shape:
        raise ShapeError(
            f"{op}: the input has shape {y.shape} but the targets {t.shape}; they "
            f"must match (for (N, 1) scores and (N,) targets use y.reshape(-1))."
        )


@_composite((REAL, UNIT_INTERVAL), "(n?,c?),(n?,c?)->()", batched=False)
def binary_cross_entropy_with_logits(z: ArrayLike, t: ArrayLike) -> Tensor:
    """Mean binary cross entropy of sigmoid(z) against targets t in [0, 1].

    Computed as mean(softplus(z) - t·z), which is the same loss written so
    that it stays finite: at z = ±800 its value and gradient sigmoid(z) - t
    are exact, where log(sigmoid(z)) would be log(0).
    """
    z = as_tensor(z, "binary_cross_entropy_with_logits")
    t = as_tensor(_target(t, z), "binary_cross_entropy_with_logits")
    _same_shapes("binary_cross_entropy_with_logits", z, t)
    return mean(ops.Softplus.apply(z) - t * z)


#: PyTorch clamps binary_cross_entropy's logs at -100; so do we.
LOG_FLOOR = -100.0


def _clamped_log(p: Tensor) -> Tensor:
    """log p, but LOG_FLOOR (gradient 0) where p < e^-100: no log(0)."""
    safe = p.data > np.exp(LOG_FLOOR)
    return ops.Where.apply(safe, ops.Where.apply(safe, p, 1.0).log(), LOG_FLOOR)


@_composite((OPEN_PROBABILITIES, UNIT_INTERVAL), "(n?,c?),(n?,c?)->()", batched=False)
def binary_cross_entropy(p: ArrayLike, t: ArrayLike) -> Tensor:
    """Mean of -[t log p + (1 - t) log(1 - p)] for probabilities p in [0, 1].

    Each log is clamped at -100, as PyTorch's, so p = 0 or 1 gives a finite
    loss, but no gradient through the clamped log: on scores, use
    ``binary_cross_entropy_with_logits``, which stays exact.
    """
    p = as_tensor(p, "binary_cross_entropy")
    t = as_tensor(_target(t, p), "binary_cross_entropy")
    _same_shapes("binary_cross_entropy", p, t)
    if p.size and not ((p.data >= 0) & (p.data <= 1)).all():
        raise DomainError(
            f"binary_cross_entropy: the input holds values outside [0, 1] (from "
            f"{p.data.min():g} to {p.data.max():g}); it takes probabilities. For "
            f"scores, use binary_cross_entropy_with_logits."
        )
    return -mean(t * _clamped_log(p) + (1 - t) * _clamped_log(1 - p))


@_composite((REAL, TARGETS), "(n,c),(n)->()", batched=False)
def nll_loss(log_probs: ArrayLike, t: ArrayLike) -> Tensor:
    """Mean negative log-likelihood: -Σ t log_probs / N, for log-probabilities
    (N, C) and labels (or rows of class weights), as torch's nll_loss.

    ``nll_loss(log_softmax(x), t)`` is ``softmax_cross_entropy(x, t)``.
    """
    y = as_tensor(log_probs, "nll_loss")
    t = as_tensor(_target(t, y), "nll_loss")
    rows = y.reshape(1, y.size) if y.ndim == 1 else y
    targets = check_targets(y.data, t.data, "nll_loss", "log-probabilities")
    n = rows.shape[0]
    if targets.dtype.kind in "iu":
        return -rows[np.arange(n), targets].sum() / n
    return -(t.reshape(rows.shape) * rows).sum() / n


# ---------------------------------------------------------------- convolution
@_composite(
    (REAL, REAL, REAL),
    "(n,c,h,w),(f,c,kh,kw),(f)->(n,f,h,w)",
    param_domains={"stride": STRIDE, "pad": PADDING},
    batched=False,
)
def conv2d(
    x: ArrayLike,
    w: ArrayLike,
    b: ArrayLike | None = None,
    stride: Any = 1,
    pad: Any = 0,
) -> Tensor:
    """Convolve NCHW images x with filters w (F, C, KH, KW), plus a bias b (F,).

    As in the book and PyTorch it is a cross-correlation (the filters are not
    flipped), computed as one matrix product: im2col(x) @ w as rows. The
    output is (N, F, OH, OW) with OH = (H + 2·pad - KH) // stride + 1.

    >>> conv2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2))).numpy()[0, 0]
    array([[4., 4.],
           [4., 4.]])
    """
    x, w = as_tensor(x, "conv2d"), as_tensor(w, "conv2d")
    _check_filters(x.shape, w.shape)
    win = ops.windows("conv2d", x.shape, w.shape[2:], stride, pad)
    filters = w.shape[0]
    cols = ops.Im2col.apply(x, size=win.kernel, stride=win.stride, pad=win.pad)
    out = cols @ w.reshape(filters, -1).T  # (N·OH·OW, F)
    if b is not None:
        b = as_tensor(b, "conv2d")
        if b.shape != (filters,):
            raise ShapeError(
                f"conv2d: the bias has shape {b.shape}, but w {w.shape} has "
                f"{filters} filters; b must have shape ({filters},), one per filter."
            )
        out = out + b
    return out.reshape(x.shape[0], *win.out, filters).transpose(0, 3, 1, 2)


def _check_filters(x: tuple[int, ...], w: tuple[int, ...]) -> None:
    """Clear errors for the shapes learners get wrong, channels-last above all."""
    if len(w) != 4:
        raise ShapeError(
            f"conv2d: the filters w have shape {w} ({len(w)}-D); w must be 4-D "
            f"(F, C, KH, KW): F filters of C channels, KH x KW each."
        )
    ops.check_images("conv2d", x)
    if x[1] == w[1]:
        return
    if x[3] == w[1]:
        fix = ops.CHANNELS_LAST.format(op="conv2d")
    else:
        fix = f"give w {x[1]} channels (shape ({w[0]}, {x[1]}, {w[2]}, {w[3]}))"
    raise ShapeError(
        f"conv2d: x {x} has {x[1]} channels (axis 1) but the filters w {w} "
        f"have {w[1]}; {fix}."
    )


def _pool(op: str, x: ArrayLike, size: Any, stride: Any, pad: Any) -> tuple:
    """x as a Tensor and its pooling windows, checked."""
    x = as_tensor(x, op)
    kernel = ops.pair(op, "the window size", size, 1)
    w = ops.windows(op, x.shape, kernel, kernel if stride is None else stride, pad)
    if any(2 * p > k for p, k in zip(w.pad, w.kernel)):
        raise DomainError(
            f"{op}: pad {w.pad} is more than half the window {kernel}, so a "
            f"window could hold padding alone; use pad <= "
            f"{tuple(k // 2 for k in kernel)} (PyTorch's rule)."
        )
    return x, w


def _tiles(x: Tensor, w: ops.Windows) -> Tensor | None:
    """x as (N, C, OH, KH, OW, KW) tiles, if the windows tile it exactly (the
    stride is the window, no padding, no row or column left over); else None.

    A reshape, so no copy of the windows is kept in the graph: this is what
    keeps a SimpleConvNet step's peak memory near the book's (issue 23).
    """
    n, c, h, wd = x.shape
    (kh, kw), (oh, ow) = w.kernel, w.out
    if w.stride != w.kernel or any(w.pad) or (oh * kh, ow * kw) != (h, wd):
        return None
    return x.reshape(n, c, oh, kh, ow, kw)


def _rows(x: Tensor, w: ops.Windows) -> Tensor:
    """x's pooling windows, copied as rows (N, OH·OW, C, KH·KW)."""
    n, c = x.shape[:2]
    cols = ops.Im2col.apply(x, size=w.kernel, stride=w.stride, pad=w.pad)
    return cols.reshape(n, w.out[0] * w.out[1], c, -1)


def _pooled(rows: Tensor, w: ops.Windows) -> Tensor:
    """One value per window, (N, OH·OW, C), back to NCHW."""
    n, _, c = rows.shape
    return rows.reshape(n, *w.out, c).transpose(0, 3, 1, 2)


@_composite(
    (DISTINCT,),
    "(n,c,h,w)->(n,c,h,w)",
    param_domains={"size": WINDOW, "stride": POOL_STRIDE, "pad": POOL_PADDING},
    batched=False,
)
def max_pool2d(x: ArrayLike, size: Any, stride: Any = None, pad: Any = 0) -> Tensor:
    """The maximum of each ``size`` window of NCHW images (stride: the size).

    The gradient goes to each window's maximum; ties share it as ``max``
    does. Padding is as PyTorch's: padded cells never win.

    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2).numpy()[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    """
    x, w = _pool("max_pool2d", x, size, stride, pad)
    tiles = _tiles(x, w)
    if tiles is not None:
        return tiles.max(axis=(3, 5))
    rows = _rows(x, w)
    if any(w.pad):  # padded cells must never win
        ones = np.ones((1, 1, *x.shape[2:]))
        real = ops.Im2col.apply(ones, size=w.kernel, stride=w.stride, pad=w.pad).data
        real = real[:, None, :] == 1
        if x.dtype.kind == "f":  # -inf there, added so the gradient flows
            rows = rows + np.where(real, 0, -np.inf).astype(x.dtype)
        else:  # integers and booleans get no gradient: the lowest value there
            lowest = False if x.dtype == bool else np.iinfo(x.dtype).min
            rows = Tensor(np.where(real, rows.data, lowest))
    return _pooled(rows.max(axis=-1), w)


@_composite(
    (REAL,),
    "(n,c,h,w)->(n,c,h,w)",
    param_domains={"size": WINDOW, "stride": POOL_STRIDE, "pad": POOL_PADDING},
    batched=False,
)
def avg_pool2d(x: ArrayLike, size: Any, stride: Any = None, pad: Any = 0) -> Tensor:
    """The mean of each ``size`` window of NCHW images (stride: the size).

    Padded zeros count in the mean, as with PyTorch's default
    (``count_include_pad=True``).
    """
    x, w = _pool("avg_pool2d", x, size, stride, pad)
    tiles = _tiles(x, w)
    if tiles is not None:
        return mean(tiles, axis=(3, 5))
    return _pooled(mean(_rows(x, w), axis=-1), w)


@_composite((REAL,), "(n,c,h)->(n,c,h)")
def flatten(x: ArrayLike) -> Tensor:
    """Each sample as one row: (N, ...) to (N, features), between conv and affine."""
    x = as_tensor(x, "flatten")
    if x.ndim == 0:
        raise ShapeError(
            "flatten: a 0-d tensor has no batch axis; flatten keeps axis 0 (the "
            "samples) and joins the others into one."
        )
    return x.reshape(x.shape[0], int(np.prod(x.shape[1:])))


#: Every differentiable op, primitive or composite, by name: what the property
#: tests (ours, and any test of the whole library) iterate over.
ALL_OPS: Mapping[str, Any] = MappingProxyType({**ops.REGISTRY, **COMPOSITES})
