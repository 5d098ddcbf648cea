"""``Tensor``: a NumPy array that remembers how it was computed.

Every method that computes something is a one-line call of an op from
``tinygrad_edu.ops`` (or a composite from ``functional``); the engine does the
backward walk. The hot path (``_constant``) skips validation:
only data coming from users goes through ``__init__``'s checks.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_edu.errors import DTypeError

_NUMERIC_KINDS = "biuf"
_new_object = object.__new__  # without the lookup of __new__ on every op


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    >>> import numpy as np
    >>> from tinygrad_edu import Tensor
    >>> x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    Tensor([2., 4., 6.])
    """

    __slots__ = (
        "__weakref__",
        "_node",
        "_retains_grad",
        "data",
        "grad",
        "name",
        "requires_grad",
    )
    # Make ``ndarray + Tensor`` call Tensor.__radd__ instead of broadcasting
    # element by element into an object array.
    __array_ufunc__ = None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        *,
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        try:
            array = np.asarray(data, dtype=dtype)
        except (ValueError, TypeError) as error:
            raise DTypeError(
                f"Tensor: cannot make a numeric array from {type(data).__name__} "
                f"data ({error}); pass numbers, nested lists of numbers or an ndarray."
            ) from None
        if array.dtype.kind == "c":
            raise DTypeError(
                f"Tensor: complex data ({array.dtype}) is not supported; gradients "
                f"here are of real functions. Pass the real part (x.real) or the "
                f"real and imaginary parts as two tensors."
            )
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise DTypeError(
                f"Tensor: data of dtype {array.dtype} ({type(data).__name__}) is not "
                f"numeric; pass numbers, nested lists of numbers or a numeric ndarray."
            )
        if requires_grad and array.dtype.kind != "f":
            raise DTypeError(
                f"Tensor: requires_grad=True needs floating-point data, got "
                f"{array.dtype}; gradients of integers and booleans do not exist. "
                f"Use float data, e.g. Tensor([1.0, 2.0]) or dtype=np.float64."
            )
        self.data = array
        self.grad: Tensor | None = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._node = None
        self._retains_grad = False

    @staticmethod
    def _constant(data: np.ndarray, node: Any = None) -> Tensor:
        """Wrap an array the library made itself, without checks.

        With a ``node`` it is that recorded op's output (and requires grad);
        without, a constant. (A staticmethod: binding a classmethod costs a
        fifth of this on every op.)
        """
        t = _new_object(Tensor)
        t.data = data
        t.grad = None
        t.requires_grad = node is not None
        t.name = None
        t._node = node
        t._retains_grad = False
        return t

    # -- constructors ---------------------------------------------------------
    @classmethod
    def zeros(
        cls, *shape: int, requires_grad: bool = False, dtype: Any = np.float64
    ) -> Tensor:
        """A tensor of zeros, e.g. ``Tensor.zeros(2, 3)``."""
        return cls(np.zeros(_shape_arg(shape), dtype=dtype), requires_grad)

    @classmethod
    def ones(
        cls, *shape: int, requires_grad: bool = False, dtype: Any = np.float64
    ) -> Tensor:
        """A tensor of ones, e.g. ``Tensor.ones(2, 3)``."""
        return cls(np.ones(_shape_arg(shape), dtype=dtype), requires_grad)

    @classmethod
    def randn(
        cls,
        *shape: int,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        rng: np.random.Generator | int | None = None,
    ) -> Tensor:
        """Standard normal samples; ``rng`` (Generator or seed) makes them repeat."""
        generator = np.random.default_rng(rng)
        samples = generator.standard_normal(_shape_arg(shape))  # float64
        return cls(samples.astype(dtype, copy=False), requires_grad)

    # -- properties -----------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """The size of each axis, as NumPy's ``shape``."""
        return self.data.shape

    @property
    def ndim(self) -> int:
        """The number of axes."""
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements."""
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype; gradients always have the same one."""
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors the user made (not computed by a recorded op)."""
        return self._node is None

    @property
    def T(self) -> Tensor:
        """The transpose (axes reversed), recorded like ``transpose()``."""
        return self.transpose()

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise DTypeError(
                f"item() needs a tensor with one element, this one has shape "
                f"{self.shape}; use .numpy() for the whole array."
            )
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extras = []
        if self.dtype != np.float64 and self.dtype.kind == "f":
            extras.append(f"dtype={self.dtype}")
        if self._node is not None:
            extras.append(f"op={self._node.op_name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return f"Tensor({', '.join([body, *extras])})"

    # -- autograd -------------------------------------------------------------
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
    ) -> None:
        """Accumulate the gradient of this tensor into every leaf's ``.grad``.

        ``gradient`` is required unless the tensor has one element. The graph
        is freed afterwards unless ``retain_graph`` (default: ``create_graph``).
        """
        engine.backward(self, gradient, retain_graph, create_graph)

    def draw(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        **to_dot_kwargs: Any,
    ) -> Path:
        """Render the graph that produced this tensor: ``viz.draw(self, ...)``."""
        from tinygrad_edu import viz  # graphviz is imported only for drawing

        return viz.draw(self, path, format, **to_dot_kwargs)

    def retain_grad(self) -> Tensor:
        """Keep ``.grad`` on this non-leaf tensor too (leaves always keep theirs)."""
        self._retains_grad = True
        return self

    def detach(self) -> Tensor:
        """The same data, cut off from the graph."""
        return Tensor._constant(self.data)

    def _accumulate(self, grad: Tensor) -> None:
        if self.grad is None:
            if grad._node is None and grad.data.base is not None:
                # A view (a broadcast, a transpose) shares memory with another
                # gradient or with the caller's array: .grad gets its own.
                grad = Tensor._constant(grad.data.copy())
            self.grad = grad
        else:
            self.grad = self.grad + grad

    # -- operators ------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(other, self)

    def __pow__(self, exponent: Any) -> Tensor:
        return ops.Pow.apply(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return ops.Pow.apply(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.Matmul.apply(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.Matmul.apply(other, self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.Getitem.apply(self, index=_plain_index(index))

    # -- elementwise ----------------------------------------------------------
    def exp(self) -> Tensor:
        """e**x, elementwise."""
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        """Natural logarithm, elementwise; needs x > 0."""
        return ops.Log.apply(self)

    def sigmoid(self) -> Tensor:
        """1 / (1 + e**-x), stable for any x (sigmoid(-1000) is 0, no warning)."""
        return ops.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent, elementwise."""
        return ops.Tanh.apply(self)

    def relu(self) -> Tensor:
        """max(x, 0), elementwise; its derivative at 0 is taken as 0."""
        return ops.Relu.apply(self)

    def astype(self, dtype: Any) -> Tensor:
        """The same values in another dtype; the gradient is cast back."""
        return ops.Cast.apply(self, dtype=dtype)

    # -- linear algebra -------------------------------------------------------
    def matmul(self, other: Any) -> Tensor:
        """Matrix product, as ``np.matmul`` (and ``@``): 1-D, 2-D and batched."""
        return ops.Matmul.apply(self, other)

    def dot(self, other: Any) -> Tensor:
        """``np.dot`` semantics for 1-D and 2-D operands (the book's ``np.dot``)."""
        return functional.dot(self, other)

    # -- reductions -----------------------------------------------------------
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (None: all; an int or a tuple), as ``np.sum``."""
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``, as ``np.mean``: the sum times 1/n."""
        return functional.mean(self, axis=axis, keepdims=keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """Maximum over ``axis``; k tied maxima each receive 1/k of the gradient."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    # -- shape ----------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape: ``reshape(2, 3)``, ``reshape((2, 3))``."""
        return ops.Reshape.apply(self, shape=_shape_arg(shape))

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes (reverse them if none are given), as ``np.transpose``."""
        return ops.Transpose.apply(self, axes=_shape_arg(axes) if axes else None)

    def broadcast_to(self, *shape: Any) -> Tensor:
        """A read-only broadcast view; backward sums the gradient back."""
        return ops.BroadcastTo.apply(self, shape=_shape_arg(shape))

    def sum_to(self, *shape: Any) -> Tensor:
        """Sum down to ``shape`` (which broadcasts to this shape): the adjoint of
        ``broadcast_to``.
        """
        return ops.SumTo.apply(self, shape=_shape_arg(shape))

    # -- softmax and losses ---------------------------------------------------
    def softmax(self, axis: int = -1) -> Tensor:
        """e**x / Σ e**x along ``axis``, shifted by the maximum: it cannot overflow."""
        return ops.Softmax.apply(self, axis=axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        """log(softmax(x)) by log-sum-exp: finite even where softmax underflows to 0."""
        return ops.LogSoftmax.apply(self, axis=axis)

    def softmax_cross_entropy(self, target: Any) -> Tensor:
        """Mean cross entropy of softmax(self) against the targets.

        Targets are class labels (N,) or one-hot/probability rows (N, C). Fused
        and stable (log-sum-exp): the gradient is (softmax - one_hot) / N.
        """
        return ops.SoftmaxCrossEntropy.apply(self, target)


def _shape_arg(shape: tuple) -> tuple:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _plain_index(index: Any) -> Any:
    """Indices may hold Tensors (e.g. labels); NumPy wants their arrays."""
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    return index


# The engine, ops and composites all build on Tensor: import them once it exists.
from tinygrad_edu import engine, functional, ops  # noqa: E402
