"""THE op registry: every primitive op once, its forward and backward side by side.

Forward rules compute with NumPy; backward rules compute with Tensor ops, so
that ``backward(create_graph=True)`` records them and gradients of gradients
work. Backward rules return gradients of the *output's* shape; the engine sums
them back to each input's shape (see ``engine.fit_to_input``). Ops made of
other ops (``mean``, ``stack``, ``dot``, the book's losses) live in
``functional`` as composites, not here. Every op here uses only what a user's
own ``Function`` can use.
"""

from __future__ import annotations

import operator
from types import MappingProxyType
from typing import Any, NamedTuple

import numpy as np

from tinygrad_edu.broadcasting import sum_to_shape
from tinygrad_edu.domains import (
    AWAY_FROM,
    AXES,
    AXIS,
    BROADCAST_SHAPE,
    CONDITION,
    DISTINCT,
    DTYPE,
    FLAG,
    IMAGE_SHAPE,
    INDEX,
    JOIN_AXIS,
    NEW_SHAPE,
    NONNEGATIVE_CONSTANT,
    NONZERO,
    PADDING,
    PERMUTATION,
    POSITIVE,
    REAL,
    SCATTER_INDEX,
    SCATTER_SHAPE,
    STRIDE,
    SUMMED_SHAPE,
    TARGETS,
    WHOLE_CONSTANT,
    WINDOW,
)
from tinygrad_edu.errors import DomainError, DTypeError, ShapeError
from tinygrad_edu.function import Function, _registry
from tinygrad_edu.targets import check_targets
from tinygrad_edu.tensor import Tensor

ELEMENTWISE = "()->()"
BROADCASTING = "(),()->()"


def _float_dtype(x: np.ndarray) -> np.dtype:
    """x's dtype if floating, else the float dtype NumPy's exp gives it (uint8 →
    float16, int64 → float64): integer inputs are computed as floats, as
    ``x - max(x)`` in uint8 would wrap around."""
    return x.dtype if x.dtype.kind == "f" else np.result_type(x.dtype, np.float16)


# ----------------------------------------------------------------- elementwise


class Add(Function):
    """Addition: z = x + y; dz/dx = dz/dy = 1."""

    domain = (REAL, REAL)
    signature = BROADCASTING

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """Subtraction: z = x - y; dz/dx = 1, dz/dy = -1."""

    domain = (REAL, REAL)
    signature = BROADCASTING

    @staticmethod
    def forward(ctx, x, y):
        return x - y

    @staticmethod
    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    """Multiplication: z = x * y; dz/dx = y, dz/dy = x."""

    domain = (REAL, REAL)
    signature = BROADCASTING

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        return (grad * y if need_x else None), (grad * x if need_y else None)


class Div(Function):
    """Division: z = x / y; dz/dx = 1/y, dz/dy = -x/y**2 = -z/y."""

    domain = (REAL, NONZERO)
    signature = BROADCASTING

    @staticmethod
    def forward(ctx, x, y):
        out = x / y
        ctx.save_for_backward(y, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        y, out = ctx.saved_tensors
        grad_x = grad / y
        return grad_x, (-grad_x * out if ctx.needs_input_grad[1] else None)


class Neg(Function):
    """Negation: y = -x; dy/dx = -1."""

    domain = (REAL,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """Power: z = x ** y; dz/dx = y x**(y-1), dz/dy = z ln x (needs x >= 0)."""

    domain = (
        (REAL, WHOLE_CONSTANT),  # x ** 2 and x ** 0, at x = 0 too
        (POSITIVE, REAL),  # both differentiable
        (NONNEGATIVE_CONSTANT, POSITIVE),  # d/dy at x = 0
    )
    signature = BROADCASTING

    @staticmethod
    def forward(ctx, x, y):
        out = x**y
        ctx.save_for_backward(x, y, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, y, out = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        grad_x = grad_y = None
        if need_x:
            # Where y = 0 the derivative in x is 0, but y * x**(y-1) makes it
            # 0 * x**-1: NaN at x = 0, and its own derivative overflows for tiny
            # x. There the exponent is moved off -1 (x**0 = 1). If y is itself
            # differentiated, only x = 0 is moved: d/dy needs x**(y-1) at y = 0.
            at_zero = y.data == 0
            if need_y:
                at_zero = at_zero & (x.data == 0)
            grad_x = grad * y * x ** (y - 1 + Tensor(at_zero))
        if need_y:
            if (x.data < 0).any():
                raise DomainError(
                    "pow: the gradient with respect to the exponent y needs a base "
                    "x >= 0; for x < 0, x ** y is defined only at whole numbers y, "
                    "so it has no derivative in y. Detach the exponent or use a "
                    "non-negative base."
                )
            # d/dy x**y = x**y ln x, which is 0 where x = 0 (and x**y = 0): ln 1
            # stands in for ln 0 there, so no -inf (and no 0 * -inf) arises.
            grad_y = grad * out * (x + Tensor(x.data == 0)).log()
        return grad_x, grad_y


class Exp(Function):
    """Exponential: y = e**x; dy/dx = e**x = y."""

    domain = (REAL,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class Log(Function):
    """Natural logarithm: y = ln x; dy/dx = 1/x."""

    domain = (POSITIVE,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.log(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad / x


class Sigmoid(Function):
    """Logistic sigmoid: y = 1 / (1 + e**-x); dy/dx = y (1 - y)."""

    domain = (REAL,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        # 1 / (1 + e**-x) is exact at both ends: for x < -709, e**-x overflows
        # to inf and 1/inf is the right 0, so only the warning is silenced. In
        # place, in one buffer: a large layer's sigmoid makes no temporaries.
        out = np.empty(x.shape, _float_dtype(x))
        np.negative(x, out=out)
        with np.errstate(over="ignore"):
            np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out * (1 - out)


class Tanh(Function):
    """Hyperbolic tangent: y = tanh x; dy/dx = 1 - y**2."""

    domain = (REAL,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (1 - out * out)


class Relu(Function):
    """Rectified linear unit: y = max(x, 0); dy/dx = 1 if x > 0 else 0 (0 at 0)."""

    domain = (AWAY_FROM(0),)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        out = np.maximum(x, 0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_arrays
        return grad * Tensor(out > 0)


class Cast(Function):
    """Change of dtype: y = x; the gradient is cast back to x's dtype.

    A cast to an integer or boolean dtype has no gradient: its result does not
    require grad, so the graph ends there.
    """

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"dtype": DTYPE}

    @staticmethod
    def forward(ctx, x, *, dtype):
        ctx.input_dtype = x.dtype
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            raise DTypeError(
                f"cast: {dtype!r} is not a NumPy dtype; use e.g. np.float32 or "
                f"'float64'."
            ) from None
        return x.astype(dtype, copy=False)

    @staticmethod
    def backward(ctx, grad):
        return grad.astype(ctx.input_dtype)


# ------------------------------------------------------------ linear algebra


class Matmul(Function):
    """Matrix product (np.matmul, 1-D and batched): z = x @ w; vjp g @ wᵀ, xᵀ @ g."""

    domain = (REAL, REAL)
    signature = "(n?,k),(k,m?)->(n?,m?)"

    @staticmethod
    def forward(ctx, x, w):
        misfit = _matmul_misfit(x, w)
        if misfit:
            raise ShapeError(misfit)
        # Each operand's gradient reads only the other operand: keep just
        # what backward will read (the batch, and not W, for dL/dW).
        need_x, need_w = ctx.needs_input_grad
        ctx.save_for_backward(x if need_w else None, w if need_x else None)
        ctx.ndims = x.ndim, w.ndim
        return x @ w

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        x_ndim, w_ndim = ctx.ndims
        # A 1-D x is a row and a 1-D w a column: then the matrix rule applies,
        # and the engine sums the batch axes an input was broadcast along.
        shape = grad.shape  # the axes a 1-D operand dropped, put back as size 1
        if w_ndim == 1:
            shape = (*shape, 1)
        if x_ndim == 1:
            shape = (*shape[:-1], 1, shape[-1])
        gm = grad if shape == grad.shape else grad.reshape(shape)
        grad_x = grad_w = None
        if w is not None:  # x needs a gradient
            wm = w.reshape(-1, 1) if w_ndim == 1 else w
            grad_x = gm @ wm.mT
            if x_ndim == 1:
                grad_x = grad_x.reshape(grad_x.shape[:-2] + grad_x.shape[-1:])
        if x is not None:  # w needs a gradient
            xm = x.reshape(1, -1) if x_ndim == 1 else x
            grad_w = xm.mT @ gm
            if w_ndim == 1:
                grad_w = grad_w.reshape(grad_w.shape[:-1])
        return grad_x, grad_w


def _matmul_misfit(x: np.ndarray, w: np.ndarray) -> str | None:
    """What is wrong with matmul's operands if it is their rank or inner sizes
    (the common mistakes), with the fix; None if those fit."""
    if x.ndim == 0 or w.ndim == 0:
        return (
            f"matmul: operands of shapes {x.shape} and {w.shape}; matmul needs "
            f"at least 1-D operands. Use * to multiply by a scalar."
        )
    inner_w = w.shape[-2] if w.ndim > 1 else w.shape[0]
    if x.shape[-1] == inner_w:
        return None
    fix = (
        "Check the order of the operands or transpose one (w.T)."
        if x.ndim > 1 or w.ndim > 1
        else "Two vectors need the same length."
    )
    return (
        f"matmul: shapes {x.shape} @ {w.shape} do not fit: the last axis of "
        f"the left operand ({x.shape[-1]}) must equal the "
        f"{'second-to-last' if w.ndim > 1 else 'only'} axis of the right "
        f"one ({inner_w}). {fix}"
    )


# ---------------------------------------------------------------- reductions


def _as_shape(op: str, shape: Any) -> tuple[int, ...]:
    """A shape argument as a tuple of ints, or an error that shows the form."""
    try:
        return tuple(operator.index(n) for n in shape)
    except TypeError:
        raise DTypeError(
            f"{op}: shape must be a sequence of integers such as (2, 3), got {shape!r}."
        ) from None


def _axis_number(op: str, axis: Any, ndim: int, none: bool = False) -> int:
    """One axis as a non-negative int, or an error that says the valid range
    (and, with ``none``, that None means every axis)."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise DTypeError(
            f"{op}: an axis must be an integer, got {type(axis).__name__} {axis!r}."
        ) from None
    if not -ndim <= a < ndim:
        valid = f"an axis in [{-ndim}, {ndim - 1}]" if ndim else "no axis"
        if none:
            valid = f"{valid} or None (every axis)" if ndim else "None"
        raise DomainError(
            f"{op}: axis {a} is out of range for a tensor with {ndim} "
            f"dimension(s); use {valid}."
        )
    return a % ndim


def _normalize_axes(op: str, axis: Any, ndim: int) -> tuple[int, ...]:
    """Axes (None, an int or a sequence) as a sorted tuple of non-negative ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = [axis] if np.ndim(axis) == 0 else list(axis)
    normalized = [_axis_number(op, a, ndim, none=True) for a in axes]
    if len(set(normalized)) != len(normalized):
        raise DomainError(f"{op}: axis {axis!r} names an axis twice; give each once.")
    return tuple(sorted(normalized))


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """Sum over axes: y = Σ x; dy/dx = 1, so the gradient is broadcast back."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"axis": AXES, "keepdims": FLAG}

    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.input_shape = x.shape
        ctx.axes = _normalize_axes("sum", axis, x.ndim)
        return np.sum(x, axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, grad):
        kept = _kept_shape(ctx.input_shape, ctx.axes)
        return grad.reshape(kept).broadcast_to(ctx.input_shape)


class Max(Function):
    """Maximum over axes: y = max x; dy/dx = 1 at the maximum, 0 elsewhere.

    Ties share the gradient equally: with k equal maxima each receives g/k,
    so the gradient sums to g whichever element NumPy would have picked.
    """

    domain = (DISTINCT,)
    signature = ELEMENTWISE
    param_domains = {"axis": AXES, "keepdims": FLAG}

    @staticmethod
    def forward(ctx, x, *, axis=None, keepdims=False):
        ctx.axes = _normalize_axes("max", axis, x.ndim)
        empty = [a for a in ctx.axes if x.shape[a] == 0]
        if empty:  # (other empty axes are fine: a (0, 3) batch has (0,) maxima)
            raise ShapeError(
                f"max: axis {empty[0]} of the tensor of shape {x.shape} is empty, "
                f"so there is no maximum along it."
            )
        out = np.max(x, axis=ctx.axes, keepdims=True)
        ctx.save_for_backward(x, out)
        return out if keepdims else out.reshape(np.delete(x.shape, ctx.axes))

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_arrays
        is_max = x == out
        ties = np.sum(is_max, axis=ctx.axes, keepdims=True, dtype=x.dtype)
        # Each maximum's share, grad / ties, spread by the boolean mask: one
        # array of x's size is made, not a float share and then a product.
        return grad.reshape(ties.shape) / Tensor(ties) * Tensor(is_max)


# --------------------------------------------------------------------- shape


class Reshape(Function):
    """Reshape (same elements, new shape); the gradient is reshaped back."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"shape": NEW_SHAPE}

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.input_shape = x.shape
        shape = _as_shape("reshape", shape)
        try:
            return np.reshape(x, shape)
        except ValueError:
            raise ShapeError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                f"elements) to {shape}; the number of elements must stay the same "
                f"(one axis may be -1 to infer it)."
            ) from None

    @staticmethod
    def backward(ctx, grad):
        return grad.reshape(ctx.input_shape)


class Transpose(Function):
    """Permute axes (reverse them when axes=None); the gradient is permuted back."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"axes": PERMUTATION}

    @staticmethod
    def forward(ctx, x, *, axes=None):
        if axes is not None:
            axes = tuple(_axis_number("transpose", a, x.ndim) for a in axes)
            if sorted(axes) != list(range(x.ndim)):
                raise DomainError(
                    f"transpose: axes {axes} are not a permutation of the "
                    f"{x.ndim} axes; name each axis once, e.g. "
                    f"{tuple(reversed(range(x.ndim)))}."
                )
        ctx.axes = axes
        return x.transpose(axes)

    @staticmethod
    def backward(ctx, grad):
        if ctx.axes is None:
            return grad.transpose()
        return grad.transpose(np.argsort(ctx.axes).tolist())


class BroadcastTo(Function):
    """Broadcast to a larger shape (a read-only view); the gradient is summed back."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"shape": BROADCAST_SHAPE}

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.input_shape = x.shape
        return np.broadcast_to(x, _as_shape("broadcast_to", shape))

    @staticmethod
    def backward(ctx, grad):
        return grad.sum_to(ctx.input_shape)


class SumTo(Function):
    """Sum a broadcast array back to ``shape``: the adjoint of broadcast_to."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"shape": SUMMED_SHAPE}

    @staticmethod
    def forward(ctx, x, *, shape):
        ctx.input_shape = x.shape
        return sum_to_shape(x, _as_shape("sum_to", shape))

    @staticmethod
    def backward(ctx, grad):
        return grad.broadcast_to(ctx.input_shape)


class Getitem(Function):
    """Indexing x[index] (slices, integer arrays, masks); the gradient scatters back.

    Repeated indices accumulate: x[[0, 0]] sends both gradients to x[0].
    """

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"index": INDEX}

    @staticmethod
    def forward(ctx, x, *, index):
        ctx.input_shape = x.shape
        return x[index]

    @staticmethod
    def backward(ctx, grad):
        return ScatterAdd.apply(grad, shape=ctx.input_shape, index=ctx.kwargs["index"])


class ScatterAdd(Function):
    """y = zeros(shape); y[index] += x (repeats add up): the adjoint of getitem."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"shape": SCATTER_SHAPE, "index": SCATTER_INDEX}

    @staticmethod
    def forward(ctx, x, *, shape, index):
        out = np.zeros(_as_shape("scatter_add", shape), dtype=x.dtype)
        np.add.at(out, index, x)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad[ctx.kwargs["index"]]


class Concatenate(Function):
    """Join tensors along an axis; each input's gradient is its slice of grad."""

    domain = (REAL, REAL, REAL)
    signature = "(),(),()->()"
    param_domains = {"axis": JOIN_AXIS}

    @staticmethod
    def forward(ctx, *xs, axis=0):
        if not xs:
            raise ShapeError("concatenate: needs at least one tensor.")
        if xs[0].ndim == 0:
            raise ShapeError(
                "concatenate: 0-d tensors have no axis to join along; use stack."
            )
        ctx.axis = _axis_number("concatenate", axis, xs[0].ndim)
        ctx.sizes = [x.shape[ctx.axis] if x.ndim else 0 for x in xs]
        return np.concatenate(xs, axis=ctx.axis)

    @staticmethod
    def backward(ctx, grad):
        grads, start = [], 0
        for size, needed in zip(ctx.sizes, ctx.needs_input_grad):
            index = (slice(None),) * ctx.axis + (slice(start, start + size),)
            grads.append(grad[index] if needed else None)
            start += size
        return tuple(grads)


# ------------------------------------------------------------- image windows


class Windows(NamedTuple):
    """Where the windows of a convolution or pooling lie on an NCHW image.

    ``kernel``, ``stride`` and ``pad`` are (rows, columns) pairs; ``out`` is
    the number of window positions along each, rounded down like PyTorch's:
    rows and columns that no whole window reaches are left out.
    """

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    out: tuple[int, int]


def pair(op: str, name: str, value: Any, smallest: int) -> tuple[int, int]:
    """An int or a pair of ints, each at least ``smallest``, as a pair."""
    values = value if isinstance(value, (tuple, list, np.ndarray)) else [value] * 2
    try:
        first, second = (operator.index(v) for v in values)
    except (TypeError, ValueError):
        raise DTypeError(
            f"{op}: {name} must be an integer or a pair of integers (rows, "
            f"columns), got {value!r}."
        ) from None
    if min(first, second) < smallest:
        raise DomainError(
            f"{op}: {name} {value!r} is too small; it must be at least "
            f"{smallest}{' (a step of 0 does not move)' if smallest else ''}."
        )
    return first, second


#: The fix when an image batch looks (N, H, W, C), as image files store pixels.
CHANNELS_LAST = (
    "x looks channels-last (N, H, W, C), as image files store pixels; {op} "
    "takes (N, C, H, W): use x.transpose(0, 3, 1, 2)"
)


def check_images(op: str, shape: tuple[int, ...]) -> None:
    """A clear error unless ``shape`` is that of a batch of images (N, C, H, W)."""
    if len(shape) != 4:
        raise ShapeError(
            f"{op}: the input has shape {shape} ({len(shape)}-D), but {op} takes "
            f"a batch of images, 4-D (N, C, H, W); one grey image of H x W is "
            f"x.reshape(1, 1, H, W)."
        )


def windows(
    op: str, shape: tuple[int, ...], size: Any, stride: Any = 1, pad: Any = 0
) -> Windows:
    """The windows of ``size`` over an image of ``shape`` (N, C, H, W), checked:
    a clear error if the image is not 4-D or one window does not fit."""
    check_images(op, shape)
    kernel = pair(op, "the window size", size, 1)
    stride_ = pair(op, "stride", stride, 1)
    pad_ = pair(op, "pad", pad, 0)
    padded = [n + 2 * p for n, p in zip(shape[2:], pad_)]
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        fix = (
            f"use a smaller window or more padding (pad={max(kernel) // 2} keeps "
            f"the size with stride 1)"
        )
        # (N, H, W, C) read as (N, C, H, W): an image C = 1 or 3 pixels wide,
        # with more "channels" (H) and "rows" (W) than that?
        if shape[3] in (1, 3) and min(shape[1], shape[2]) > shape[3]:
            fix = CHANNELS_LAST.format(op=op)
        raise ShapeError(
            f"{op}: the window {kernel[0]}x{kernel[1]} is larger than the image "
            f"{shape[2]}x{shape[3]} padded by {pad_} ({padded[0]}x{padded[1]}); "
            f"{fix}."
        )
    out = tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel, stride_))
    return Windows(kernel, stride_, pad_, out)


def _window_view(x: np.ndarray, w: Windows) -> np.ndarray:
    """x padded with zeros, as (N, C, out_h, out_w, kh, kw) windows: a view."""
    (ph, pw), (sh, sw), (oh, ow) = w.pad, w.stride, w.out
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    view = np.lib.stride_tricks.sliding_window_view(x, w.kernel, axis=(2, 3))
    return view[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]


class Im2col(Function):
    """Image windows as rows: cols[(n,i,j), (c,u,v)] = x_pad[n, c, i·sh+u, j·sw+v].

    Linear in x, so its gradient is its adjoint, col2im, which adds each
    window's gradient back where the window was taken.
    """

    domain = (REAL,)
    signature = "(n,c,h,w)->(n,c,h,w)"
    batched = False
    param_domains = {"size": WINDOW, "stride": STRIDE, "pad": PADDING}

    @staticmethod
    def forward(ctx, x, *, size, stride=1, pad=0):
        w = windows("im2col", x.shape, size, stride, pad)
        ctx.input_shape = x.shape
        n, c = x.shape[:2]
        cols = _window_view(x, w).transpose(0, 2, 3, 1, 4, 5)
        return cols.reshape(n * w.out[0] * w.out[1], c * w.kernel[0] * w.kernel[1])

    @staticmethod
    def backward(ctx, grad):
        return Col2im.apply(grad, shape=ctx.input_shape, **ctx.kwargs)


class Col2im(Function):
    """Rows of windows added back into an image of ``shape``: the adjoint of im2col.

    Where windows overlap their values add up; padding is cut off.
    """

    domain = (REAL,)
    signature = "(m,k)->(m,k)"
    batched = False
    param_domains = {
        "shape": IMAGE_SHAPE,
        "size": WINDOW,
        "stride": STRIDE,
        "pad": PADDING,
    }

    @staticmethod
    def forward(ctx, cols, *, shape, size, stride=1, pad=0):
        shape = _as_shape("col2im", shape)
        w = windows("col2im", shape, size, stride, pad)
        n, c, h, wd = shape
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = w
        expected = (n * oh * ow, c * kh * kw)
        if cols.shape != expected:
            raise ShapeError(
                f"col2im: columns of shape {cols.shape} do not come from an image "
                f"of shape {shape} with {kh}x{kw} windows, stride {w.stride} and "
                f"pad {w.pad}: im2col makes {expected}."
            )
        windows_ = cols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
        out = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=cols.dtype)
        for u in range(kh):  # a loop over the window's cells, not the pixels
            for v in range(kw):
                out[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] += windows_[
                    :, :, u, v
                ]
        return out[:, :, ph : ph + h, pw : pw + wd]

    @staticmethod
    def backward(ctx, grad):
        params = {k: v for k, v in ctx.kwargs.items() if k != "shape"}
        return Im2col.apply(grad, **params)


# --------------------------------------------------------- softmax and losses


class Softmax(Function):
    """Softmax along an axis: y = e**x / Σ e**x; vjp: y * (g - Σ g y)."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"axis": AXIS}

    @staticmethod
    def forward(ctx, x, *, axis=-1):
        axis = ctx.axis = _axis_number(ctx.op_name, axis, x.ndim)
        x = x.astype(_float_dtype(x), copy=False)
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))  # shifted: no overflow
        out = e / np.sum(e, axis=axis, keepdims=True)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return out * (grad - (grad * out).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    """Log of softmax, by log-sum-exp: y = x - log Σ e**x; vjp: g - softmax(x) Σ g."""

    domain = (REAL,)
    signature = ELEMENTWISE
    param_domains = {"axis": AXIS}

    @staticmethod
    def forward(ctx, x, *, axis=-1):
        axis = ctx.axis = _axis_number(ctx.op_name, axis, x.ndim)
        out = _log_softmax(x, axis)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad - out.exp() * grad.sum(axis=ctx.axis, keepdims=True)


def _log_softmax(x: np.ndarray, axis: int) -> np.ndarray:
    x = x.astype(_float_dtype(x), copy=False)
    shifted = x - np.max(x, axis=axis, keepdims=True)  # log-sum-exp: no overflow
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


class SoftmaxCrossEntropy(Function):
    """Mean cross entropy of softmax(x) against t: L = -Σ t log softmax(x) / N.

    dL/dx = (softmax(x) Σ_c t - t) / N, where Σ_c t = 1 for labels (one-hot t);
    dL/dt = -log softmax(x) / N for rows of class weights, which are inputs
    like any other. Fused for stability: log-sum-exp, never log(0).
    """

    domain = (REAL, TARGETS)
    signature = "(n,c),(n)->()"
    batched = False

    @staticmethod
    def forward(ctx, x, t):
        targets = check_targets(x, t)
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        n = len(rows)
        # Classes first, (C, N), so NumPy reduces along long contiguous rows
        # rather than N short rows of C entries.
        shifted = rows.T.astype(_float_dtype(x), order="C")  # a copy, (C, N) in memory
        shifted -= shifted.max(axis=0)  # log-sum-exp: no overflow
        probs = np.exp(shifted)
        total = probs.sum(axis=0)
        probs /= total
        log_p = shifted - np.log(total)
        if targets.dtype.kind == "f":
            loss = -np.sum(targets.T * log_p) / n
            ctx.one_hot = None
            ctx.save_for_backward(x, t)
        else:  # labels: pick each row's class
            loss = -np.sum(log_p[targets, np.arange(n)]) / n
            # Made now, so the graph keeps no reference to the caller's labels.
            ctx.one_hot = np.zeros(rows.shape, dtype=log_p.dtype)
            ctx.one_hot[np.arange(n), targets] = 1
            ctx.save_for_backward(x)
        ctx.probs = probs.T  # (N, C), for the rule
        return np.asarray(loss, dtype=log_p.dtype)

    @staticmethod
    def backward(ctx, grad):
        x, *t = ctx.saved_tensors  # the targets, if they are class weights
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        n = rows.shape[0]
        scale = grad / n
        probs = ctx.reuse(ctx.probs, lambda: rows.softmax(axis=-1))
        grad_t = None
        if ctx.one_hot is not None:
            grad_rows = (probs - Tensor(ctx.one_hot)) * scale
        else:
            weights = t[0].reshape(rows.shape)
            grad_rows = (probs * weights.sum(axis=-1, keepdims=True) - weights) * scale
            if ctx.needs_input_grad[1]:
                grad_t = (-rows.log_softmax(axis=-1) * scale).reshape(t[0].shape)
        return (grad_rows if x.ndim == 2 else grad_rows.reshape(x.shape)), grad_t


# ------------------------------------------ for PyTorch users (issue 26)


class Abs(Function):
    """Absolute value: y = |x|; dy/dx = sign(x), 0 at 0 (maximum(x, -x) at a tie)."""

    domain = (AWAY_FROM(0),)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_arrays
        return grad * Tensor(np.sign(x))


class Softplus(Function):
    """Softplus: y = ln(1 + e**x), a smooth relu; dy/dx = sigmoid(x).

    Forward by np.logaddexp(0, x): no overflow at x = 800, where the formula
    as written gives inf, and exact where e**x is below rounding.
    """

    domain = (REAL,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x.astype(_float_dtype(x), copy=False))

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x.sigmoid()


class Where(Function):
    """Choice: z = x where the condition holds, else y; the gradient goes to
    the chosen input (the condition has none)."""

    domain = (CONDITION, REAL, REAL)
    signature = "(),(),()->()"

    @staticmethod
    def forward(ctx, condition, x, y):
        ctx.mask = condition.astype(bool, copy=False)
        return np.where(ctx.mask, x, y)

    @staticmethod
    def backward(ctx, grad):
        _, need_x, need_y = ctx.needs_input_grad
        grad_x = grad * Tensor(ctx.mask) if need_x else None
        grad_y = grad * Tensor(~ctx.mask) if need_y else None
        return None, grad_x, grad_y


class Clone(Function):
    """A copy with its own memory: y = x; dy/dx = 1."""

    domain = (REAL,)
    signature = ELEMENTWISE

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad


#: Every op above, by snake_case name. Frozen: users' ops are not added here.
REGISTRY = MappingProxyType(dict(_registry))
