"""``Tensor``: a NumPy array that remembers how it was computed.

Every method that computes something is a one-line call of an op from
``tinygrad_edu.ops`` (or a composite from ``functional``); the engine does the
backward walk. A Tensor shares memory with the array it was made from, as
``np.asarray`` does: ``Tensor(a)`` and ``a`` are one array.
"""

from __future__ import annotations

import functools
import inspect
import operator
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_edu._random import generator
from tinygrad_edu.errors import (
    DomainError,
    DTypeError,
    GraphError,
    NumPyOnTensorError,
    ShapeError,
    TinygradEduError,
)
from tinygrad_edu.recording import is_grad_enabled

_NUMERIC_KINDS = "biuf"


# ------------------------------------------ for PyTorch users (issue 26)

#: PyTorch's keyword names, and the NumPy names this library uses for them.
TORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims", "correction": "ddof"}
#: Where PyTorch's ``dim=`` changes what comes back: ``x.max(dim=1)`` is a pair
#: (values, indices) there, so ``_, i = x.max(dim=1)`` would silently unpack
#: two rows of ours. Refused, with the two spellings that say which is meant.
DIM_GIVES_INDICES = {"max": "argmax", "min": "argmin"}


def torch_keywords(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let ``fn`` take PyTorch's keyword names too (``dim=`` for ``axis=``, ...),
    for the NumPy names it has. Its signature, as ``inspect`` shows it, stays
    the NumPy one: that is the name the docs use."""
    names = inspect.signature(fn).parameters
    aliases = {t: n for t, n in TORCH_KEYWORDS.items() if n in names}

    @functools.wraps(fn)
    def accepting_torch_names(*args: Any, **kwargs: Any) -> Any:
        if kwargs and not aliases.keys().isdisjoint(kwargs):
            if "dim" in kwargs and fn.__name__ in DIM_GIVES_INDICES:
                raise DTypeError(
                    f"{fn.__name__}(dim=...) is ambiguous: PyTorch returns (values, "
                    f"indices), NumPy's axis= the values. Use {fn.__name__}(axis=...) "
                    f"for the values and {DIM_GIVES_INDICES[fn.__name__]}(axis=...) "
                    f"for the indices."
                )
            for torch_name in aliases.keys() & kwargs.keys():
                name = aliases[torch_name]
                if name in kwargs:
                    raise DTypeError(
                        f"{fn.__name__}() got both {name}= and {torch_name}= "
                        f"(PyTorch's name for {name}); pass one of them."
                    )
                kwargs[name] = kwargs.pop(torch_name)
        return fn(*args, **kwargs)

    return accepting_torch_names


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
        "_requires_grad",
        "_retains_grad",
        "data",
        "grad",
        "name",
    )

    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any
    ) -> Any:
        """``ndarray + Tensor`` runs as the Tensor's reflected operator (not as an
        object array of Tensors); any other NumPy ufunc (``np.exp(t)``) cannot
        record the op, so it is refused with the Tensor method to use."""
        reflected = _REFLECTED.get(ufunc)
        # By identity: == on Tensors compares elementwise.
        if (
            reflected
            and method == "__call__"
            and not kwargs
            and len(inputs) == 2
            and inputs[1] is self
        ):
            return getattr(self, reflected)(inputs[0])
        raise NumPyOnTensorError(_numpy_on_tensor(ufunc, method, kwargs))

    def __array_function__(
        self, func: Any, types: Any, args: tuple, kwargs: dict[str, Any]
    ) -> Any:
        """NumPy's functions given a Tensor (``np.sum(t)``, ``np.dot(x, w)``).

        The reductions that call the Tensor method of their name (``np.sum``,
        ``np.mean``, ``np.max``, ...) run it, so they stay in the graph. Any
        other function runs on the values; a float result computed from a
        Tensor that requires grad is refused, since the function cannot record
        the op and the gradient would be lost without a word. Integer and
        boolean results (``np.argmax``, ``np.allclose``) have no gradient to lose.
        """
        if func in _NUMPY_REDUCTIONS:
            return func._implementation(*args, **kwargs)
        result = func(*_values(args), **_values(kwargs))
        lost = is_grad_enabled() and _requires_grad_in((args, kwargs))
        if lost and _is_float(result):
            raise NumPyOnTensorError(_numpy_function_on_tensor(func))
        return result

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
        self.data = array
        self.grad: Tensor | None = None
        self.name = name
        self._node = None
        self._retains_grad = False
        self.requires_grad = requires_grad

    @staticmethod
    def _wrap(data: np.ndarray, node: Any = None) -> Tensor:
        """A Tensor around an array the library made itself, without checks.

        With a ``node`` it is that recorded op's output (and requires grad).
        """
        t = object.__new__(Tensor)
        t.data = data
        t.grad = None
        t.name = None
        t._node = node
        t._requires_grad = node is not None
        t._retains_grad = False
        return t

    # -- constructors ---------------------------------------------------------
    @classmethod
    def zeros(
        cls, *shape: int, requires_grad: bool = False, dtype: Any = np.float64
    ) -> Tensor:
        """A tensor of zeros, e.g. ``Tensor.zeros(2, 3)``."""
        return cls(np.zeros(_shape_arg(shape, "Tensor.zeros"), dtype), requires_grad)

    @classmethod
    def ones(
        cls, *shape: int, requires_grad: bool = False, dtype: Any = np.float64
    ) -> Tensor:
        """A tensor of ones, e.g. ``Tensor.ones(2, 3)``."""
        return cls(np.ones(_shape_arg(shape, "Tensor.ones"), dtype), requires_grad)

    @classmethod
    def randn(
        cls,
        *shape: int,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        rng: np.random.Generator | int | None = None,
    ) -> Tensor:
        """Standard normal samples; ``rng`` (Generator or seed) makes them
        repeat; None draws from NumPy's global state (``manual_seed``)."""
        draw = generator(rng, "Tensor.randn").standard_normal
        samples = np.asarray(draw(_shape_arg(shape, "Tensor.randn")))
        return cls(samples.astype(dtype, copy=False), requires_grad)

    # -- creation helpers PyTorch users reach for (issue 26) -------------------
    @classmethod
    def rand(
        cls,
        *shape: int,
        requires_grad: bool = False,
        dtype: Any = np.float64,
        rng: np.random.Generator | int | None = None,
    ) -> Tensor:
        """Uniform samples in [0, 1); ``rng`` as for ``randn``."""
        draw = generator(rng, "Tensor.rand").random
        samples = np.asarray(draw(_shape_arg(shape, "Tensor.rand")))
        return cls(samples.astype(dtype, copy=False), requires_grad)

    @classmethod
    def full(
        cls, shape: Any, fill_value: float, *, requires_grad: bool = False, dtype=None
    ) -> Tensor:
        """``shape`` filled with ``fill_value``: ``Tensor.full((2, 3), 0.5)``."""
        return cls(
            np.full(_shape_arg((shape,), "Tensor.full"), fill_value, dtype),
            requires_grad,
        )

    @classmethod
    def zeros_like(cls, other: Any, *, requires_grad: bool = False) -> Tensor:
        """Zeros of the shape and dtype of ``other`` (a Tensor or an array)."""
        return cls(np.zeros_like(_array_of(other)), requires_grad)

    @classmethod
    def ones_like(cls, other: Any, *, requires_grad: bool = False) -> Tensor:
        """Ones of the shape and dtype of ``other`` (a Tensor or an array)."""
        return cls(np.ones_like(_array_of(other)), requires_grad)

    @classmethod
    def arange(
        cls, start: float, stop: float | None = None, step: float = 1, *, dtype=None
    ) -> Tensor:
        """Evenly spaced values in [start, stop), as ``np.arange`` (integers for
        integer arguments, as in NumPy and PyTorch)."""
        return cls(np.arange(start, stop, step, dtype=dtype))

    @classmethod
    def eye(cls, n: int, m: int | None = None, *, dtype: Any = np.float64) -> Tensor:
        """The n×m identity matrix (square if ``m`` is None), as ``np.eye``."""
        return cls(np.eye(n, m, dtype=dtype))

    # -- properties -----------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether ``backward()`` computes a gradient for this tensor.

        Only floating-point tensors can require grad: integers and booleans
        have no derivatives.
        """
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and self.data.dtype.kind != "f":
            raise DTypeError(
                f"Tensor: requires_grad=True needs floating-point data, got "
                f"{self.data.dtype}; gradients of integers and booleans do not "
                f"exist. Use float data, e.g. Tensor([1.0, 2.0]) or "
                f"dtype=np.float64."
            )
        if not value and self._node is not None:
            raise GraphError(
                f"requires_grad=False on a tensor computed by "
                f"'{self._node.op_name}': it is part of a graph. Use t.detach() "
                f"for the same values without a graph."
            )
        self._requires_grad = bool(value)

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

    @property
    def mT(self) -> Tensor:
        """The transpose of each matrix in a stack: the last two axes swapped."""
        n = self.ndim
        if n < 2:
            raise ShapeError(
                f"mT: a tensor of shape {self.shape} is not a matrix; mT swaps the "
                f"last two axes. Make a row or a column first: reshape(1, -1) or "
                f"reshape(-1, 1)."
            )
        return ops.Transpose.apply(self, axes=(*range(n - 2), n - 1, n - 2))

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

    # -- Python's protocols, as NumPy answers them ----------------------------
    def __len__(self) -> int:
        if self.ndim == 0:
            raise DTypeError("len() of a 0-d tensor: it has no axis to count.")
        return len(self.data)

    def __iter__(self) -> Iterator[Tensor]:
        """The rows (``t[0]``, ``t[1]``, ...), recorded like indexing."""
        return (self[i] for i in range(len(self)))

    def __contains__(self, value: Any) -> bool:
        return bool((self.data == _array_of(value)).any())

    def __bool__(self) -> bool:
        return bool(self._one_value("bool()"))

    def __float__(self) -> float:
        return float(self._one_value("float()"))

    def __int__(self) -> int:
        return int(self._one_value("int()"))

    def _one_value(self, what: str) -> np.ndarray:
        if self.data.size != 1:
            raise ShapeError(
                f"{what} of a tensor of shape {self.shape} is ambiguous: it has "
                f"{self.data.size} elements. Reduce it first, e.g. "
                f"t.numpy().any(), t.numpy().all() or t.sum()."
            )
        return self.data.reshape(())

    # Comparisons are elementwise, as in NumPy, and have no gradient: their
    # results are boolean tensors. Tensors stay hashable by identity.
    __hash__ = object.__hash__

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(np.equal, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare(np.not_equal, self, other)

    def __lt__(self, other: Any) -> Tensor:
        return _compare(np.less, self, other)

    def __le__(self, other: Any) -> Tensor:
        return _compare(np.less_equal, self, other)

    def __gt__(self, other: Any) -> Tensor:
        return _compare(np.greater, self, other)

    def __ge__(self, other: Any) -> Tensor:
        return _compare(np.greater_equal, self, other)

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

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place and return the tensor (to freeze a
        parameter: ``w.requires_grad_(False)``; optimizers then skip it)."""
        self.requires_grad = requires_grad
        return self

    def detach(self) -> Tensor:
        """The same data (shared, not copied), cut off from the graph."""
        return Tensor(self.data)

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
        """The same values in another dtype; the gradient is cast back.

        A cast to an integer or boolean dtype ends the graph: its result does
        not require grad.
        """
        return ops.Cast.apply(self, dtype=dtype)

    # -- linear algebra -------------------------------------------------------
    def matmul(self, other: Any) -> Tensor:
        """Matrix product, as ``np.matmul`` (and ``@``): 1-D, 2-D and batched."""
        return ops.Matmul.apply(self, other)

    def dot(self, other: Any) -> Tensor:
        """``np.dot`` semantics for 1-D and 2-D operands (the book's ``np.dot``)."""
        return functional.dot(self, other)

    # -- reductions -----------------------------------------------------------
    # ``out`` and ``dtype`` are there for NumPy: np.sum(t), np.mean(t),
    # np.max(t) and the others of _NUMPY_REDUCTIONS call these methods with them.
    @torch_keywords
    def sum(self, axis: Any = None, keepdims: bool = False, **numpy: Any) -> Tensor:
        """Sum over ``axis`` (None: all; an int or a tuple), as ``np.sum``."""
        _only_defaults("sum", numpy)
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    @torch_keywords
    def mean(self, axis: Any = None, keepdims: bool = False, **numpy: Any) -> Tensor:
        """Mean over ``axis``, as ``np.mean``: the sum times 1/n."""
        _only_defaults("mean", numpy)
        return functional.mean(self, axis=axis, keepdims=keepdims)

    @torch_keywords
    def max(self, axis: Any = None, keepdims: bool = False, **numpy: Any) -> Tensor:
        """Maximum over ``axis``; k tied maxima each receive 1/k of the gradient."""
        _only_defaults("max", numpy)
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    # -- shape ----------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """The same elements in a new shape: ``reshape(2, 3)``, ``reshape((2, 3))``."""
        return ops.Reshape.apply(self, shape=_shape_arg(shape))

    def transpose(self, *axes: Any) -> Tensor:
        """Permute the axes (reverse them if none are given), as ``np.transpose``.

        Two separate axes, ``transpose(0, 1)``, are refused: NumPy reads them as
        a permutation (a 2-D tensor stays as it is), PyTorch swaps them. Say
        which you mean: ``swapaxes(0, 1)`` or ``transpose((1, 0))``/``permute``.
        """
        if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
            a, b = axes
            raise DomainError(
                f"transpose({a}, {b}) is ambiguous: NumPy reads two axes as a "
                f"permutation (for a 2-D tensor transpose(0, 1) changes nothing), "
                f"PyTorch swaps them. Use swapaxes({a}, {b}) to swap two axes, "
                f"or permute({a}, {b}) / transpose(({a}, {b})) for a permutation."
            )
        return ops.Transpose.apply(self, axes=_shape_arg(axes) if axes else None)

    def permute(self, *axes: Any) -> Tensor:
        """PyTorch's name for ``transpose`` with every axis given, in the new order:
        ``x.permute(0, 2, 1)``."""
        return ops.Transpose.apply(self, axes=_shape_arg(axes))

    def swapaxes(self, axis1: int = -2, axis2: int = -1) -> Tensor:
        """Exchange two axes, as ``np.swapaxes`` (and PyTorch's ``transpose(a, b)``)."""
        return functional.swapaxes(self, axis1, axis2)

    def broadcast_to(self, *shape: Any) -> Tensor:
        """A read-only broadcast view; backward sums the gradient back."""
        return ops.BroadcastTo.apply(self, shape=_shape_arg(shape))

    def sum_to(self, *shape: Any) -> Tensor:
        """Sum down to ``shape`` (which broadcasts to this shape): the adjoint of
        ``broadcast_to``.
        """
        return ops.SumTo.apply(self, shape=_shape_arg(shape))

    # -- softmax and losses ---------------------------------------------------
    @torch_keywords
    def softmax(self, axis: int = -1) -> Tensor:
        """e**x / Σ e**x along ``axis``, shifted by the maximum: it cannot overflow."""
        return ops.Softmax.apply(self, axis=axis)

    @torch_keywords
    def log_softmax(self, axis: int = -1) -> Tensor:
        """log(softmax(x)) by log-sum-exp: finite even where softmax underflows to 0."""
        return ops.LogSoftmax.apply(self, axis=axis)

    def softmax_cross_entropy(self, target: Any) -> Tensor:
        """Mean cross entropy of softmax(self) against the targets.

        Targets are class labels (N,) or rows of class weights (N, C): one-hot,
        probabilities, or any finite weights (an all-zero row counts for
        nothing; the loss is linear in the weights, so its gradient is right for
        any, and targets with ``requires_grad`` are differentiated too). Fused and
        stable (log-sum-exp).
        """
        target = as_tensor(target, "softmax_cross_entropy")  # an int stays a label
        return ops.SoftmaxCrossEntropy.apply(self, target)

    # -- for PyTorch users (issue 26): one-line calls, as above -----------------
    def abs(self) -> Tensor:
        """|x|, elementwise; its derivative at 0 is taken as 0."""
        return ops.Abs.apply(self)

    def sqrt(self) -> Tensor:
        """√x, elementwise (x ** 0.5); needs x >= 0."""
        return functional.sqrt(self)

    def softplus(self) -> Tensor:
        """ln(1 + e**x), stable for any x; its derivative is sigmoid(x)."""
        return ops.Softplus.apply(self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        """Limit to [min, max] (either may be None), as ``np.clip``; gradient 1
        strictly inside, 0 at and beyond a bound."""
        return functional.clip(self, min, max)

    def clamp(self, min: float | None = None, max: float | None = None) -> Tensor:
        """PyTorch's name for ``clip``."""
        return functional.clip(self, min, max)

    def maximum(self, other: Any) -> Tensor:
        """The larger of self and other, elementwise; ties share the gradient."""
        return functional.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        """The smaller of self and other, elementwise; ties share the gradient."""
        return functional.minimum(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        """self where ``condition`` holds, else ``other`` (``torch.Tensor.where``)."""
        return ops.Where.apply(condition, self, other)

    @torch_keywords
    def min(self, axis: Any = None, keepdims: bool = False, **numpy: Any) -> Tensor:
        """Minimum over ``axis``; k tied minima each receive 1/k of the gradient."""
        _only_defaults("min", numpy)
        return functional.min(self, axis=axis, keepdims=keepdims)

    @torch_keywords
    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the maximum along ``axis`` (flattened if None); no gradient."""
        return functional.argmax(self, axis=axis, keepdims=keepdims)

    @torch_keywords
    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        """Index of the minimum along ``axis`` (flattened if None); no gradient."""
        return functional.argmin(self, axis=axis, keepdims=keepdims)

    @torch_keywords
    def logsumexp(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        """log Σ e**x over ``axis``, without overflow; its gradient is softmax."""
        return functional.logsumexp(self, axis=axis, keepdims=keepdims)

    @torch_keywords
    def var(
        self, axis: Any = None, ddof: int = 0, keepdims: bool = False, **numpy: Any
    ) -> Tensor:
        """Variance over ``axis``; ddof=0 as NumPy (PyTorch: correction=1)."""
        _only_defaults("var", numpy)
        return functional.var(self, axis=axis, ddof=ddof, keepdims=keepdims)

    @torch_keywords
    def std(
        self, axis: Any = None, ddof: int = 0, keepdims: bool = False, **numpy: Any
    ) -> Tensor:
        """Standard deviation over ``axis``; ddof=0 as NumPy (PyTorch: 1)."""
        _only_defaults("std", numpy)
        return functional.std(self, axis=axis, ddof=ddof, keepdims=keepdims)

    def clone(self) -> Tensor:
        """A copy with its own memory that stays in the graph (gradient 1);
        ``detach()`` is the opposite: shared memory, out of the graph."""
        return ops.Clone.apply(self)

    def view(self, *shape: Any) -> Tensor:
        """PyTorch's name for ``reshape``. NumPy arrays never need to be
        contiguous for it, so it works wherever reshape does."""
        return self.reshape(*shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Axes start_dim..end_dim joined into one; all of them by default, to
        1-D as ``ndarray.flatten()`` and ``torch.flatten``. ``flatten(1)`` keeps
        the batch axis: ``functional.flatten(x)``, the layer between conv and
        affine."""
        if self.ndim == 0:
            return self.reshape(1)
        start = ops._axis_number("flatten", start_dim, self.ndim)
        end = ops._axis_number("flatten", end_dim, self.ndim)
        if start > end:
            raise DomainError(
                f"flatten: start_dim={start_dim} comes after end_dim={end_dim} for "
                f"a tensor of shape {self.shape}; give start_dim <= end_dim."
            )
        shape = self.shape
        return self.reshape(*shape[:start], -1, *shape[end + 1 :])

    @torch_keywords
    def squeeze(self, axis: Any = None) -> Tensor:
        """Drop axes of size 1 (all of them if ``axis`` is None), as
        ``np.squeeze``: naming an axis of another size is an error, where
        PyTorch would silently leave it."""
        axes = ops._normalize_axes("squeeze", axis, self.ndim)
        if axis is None:
            axes = tuple(a for a in axes if self.shape[a] == 1)
        wrong = [a for a in axes if self.shape[a] != 1]
        if wrong:
            raise ShapeError(
                f"squeeze: axis {wrong[0]} of shape {self.shape} has size "
                f"{self.shape[wrong[0]]}, not 1; only axes of size 1 can be dropped."
            )
        return self.reshape(*(n for i, n in enumerate(self.shape) if i not in axes))

    @torch_keywords
    def unsqueeze(self, axis: int) -> Tensor:
        """A new axis of size 1 at ``axis`` (-1: last), as ``np.expand_dims``."""
        ndim = self.ndim + 1
        new = ops._axis_number("unsqueeze", axis, ndim)
        return self.reshape(*self.shape[:new], 1, *self.shape[new:])

    def tolist(self) -> Any:
        """The values as nested Python lists (a number for a 0-d tensor)."""
        return self.data.tolist()


def as_tensor(value: Any, where: str = "Tensor", like: Any = None) -> Tensor:
    """``value`` as a Tensor: a Tensor as it is, anything else wrapped (no copy).

    A Python number takes the float dtype ``like`` if given, so ``x32 * 2.0``
    stays float32, as NumPy's rules for Python scalars say. A value that is not
    numeric is reported as an error of ``where`` (the op it was passed to).
    """
    if isinstance(value, Tensor):
        return value
    if like is not None and isinstance(value, (int, float)):
        return _constant(value, like)
    try:
        return Tensor(value)
    except TinygradEduError as error:
        problem = str(error).removeprefix("Tensor: ")
        raise type(error)(f"{where}: {problem}") from None


def _constant(value: float, dtype: np.dtype) -> Tensor:
    """A Python number as a read-only constant, one Tensor per number and dtype.

    ``y = y * 0.5`` in a loop then makes no array and no Tensor per op: a long
    graph holds fewer objects for Python's cyclic garbage collector to scan
    again and again while it grows (docs/performance.md).
    """
    if value == 0:  # 0.0 and -0.0 are one cache key but differ in sign
        return _read_only_tensor(value, dtype)
    return _cached_constant(value, dtype)


def _read_only_tensor(value: float, dtype: np.dtype) -> Tensor:
    array = np.asarray(value, dtype=dtype)
    array.setflags(write=False)
    return Tensor._wrap(array)


_cached_constant = functools.lru_cache(maxsize=256)(_read_only_tensor)


def as_tensors(values: Sequence[Any], where: str) -> tuple[Tensor, ...]:
    """The operands of an op as Tensors; Python numbers take their float dtype."""
    for v in values:
        if not isinstance(v, Tensor):
            break
    else:
        return tuple(values)
    like = None
    for v in values:
        if isinstance(v, Tensor) and v.data.dtype.kind == "f":
            like = v.data.dtype
            break
    return tuple([as_tensor(v, where, like) for v in values])


def _array_of(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


#: NumPy's operator ufuncs, and the Tensor method for ``array <op> tensor``.
_REFLECTED = {
    np.add: "__radd__",
    np.subtract: "__rsub__",
    np.multiply: "__rmul__",
    np.true_divide: "__rtruediv__",
    np.power: "__rpow__",
    np.matmul: "__rmatmul__",
    np.equal: "__eq__",
    np.not_equal: "__ne__",
    np.less: "__gt__",
    np.less_equal: "__ge__",
    np.greater: "__lt__",
    np.greater_equal: "__le__",
}


def _numpy_on_tensor(ufunc: np.ufunc, method: str, kwargs: dict[str, Any]) -> str:
    """Why ``np.<ufunc>`` cannot take a Tensor, and what to write instead."""
    name = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
    if "out" in kwargs:  # array += tensor
        return (
            f"{name}(..., out=array) was given a Tensor: a Tensor cannot be written "
            f"into a NumPy array in place. Write array += tensor.data for the "
            f"values, or compute with Tensors (array = tensor + array)."
        )
    if method == "__call__" and hasattr(Tensor, ufunc.__name__):
        fix = f"the Tensor method t.{ufunc.__name__}()"
    else:
        fix = "Tensor methods and operators (see tinygrad_edu.functional)"
    return (
        f"{name}() was called on a Tensor. A NumPy function cannot record the op, "
        f"so no gradient could flow through it: use {fix}, or give {name} the "
        f"array t.data for a plain result that needs no gradient."
    )


#: NumPy functions that call the Tensor method of their name with NumPy's
#: own arguments (``out``, ``dtype``) at their defaults.
_NUMPY_REDUCTIONS = {np.sum, np.mean, np.max, np.amax, np.min, np.amin, np.var, np.std}


def _values(obj: Any) -> Any:
    """``obj`` with every Tensor in it (in lists, tuples, dicts) as its array."""
    if isinstance(obj, Tensor):
        return obj.data
    if isinstance(obj, (list, tuple)):
        return type(obj)(_values(x) for x in obj)
    if isinstance(obj, dict):
        return {k: _values(v) for k, v in obj.items()}
    return obj


def _requires_grad_in(obj: Any) -> bool:
    if isinstance(obj, Tensor):
        return obj.requires_grad
    if isinstance(obj, (list, tuple)):
        return any(map(_requires_grad_in, obj))
    if isinstance(obj, dict):
        return any(map(_requires_grad_in, obj.values()))
    return False


def _is_float(result: Any) -> bool:
    if isinstance(result, (list, tuple)):
        return any(map(_is_float, result))
    return isinstance(result, (np.ndarray, np.generic)) and result.dtype.kind in "fc"


def _numpy_function_on_tensor(func: Any) -> str:
    """Why ``np.<func>`` cannot take a Tensor that requires grad, and the fix."""
    name = func.__name__
    if hasattr(Tensor, name):
        fix = f"the Tensor method t.{name}(...)"
    elif hasattr(functional, name):
        fix = f"tinygrad_edu.functional.{name}(...)"
    else:
        fix = "Tensor methods and operators (see tinygrad_edu.functional)"
    return (
        f"np.{name}() was given a Tensor that requires grad. A NumPy function "
        f"cannot record the op, so the gradient through its result would be lost "
        f"without a word: use {fix}, or give np.{name} the arrays (t.data), or "
        f"call it under no_grad(), for a plain result that needs no gradient."
    )


def _compare(ufunc: np.ufunc, x: Tensor, other: Any) -> Tensor:
    other = _array_of(other)
    if isinstance(other, (str, bytes)) or other is None:
        return NotImplemented
    return Tensor(ufunc(x.data, other))


def _only_defaults(method: str, numpy_args: dict[str, Any]) -> None:
    """NumPy's own ``out``/``dtype`` arguments, accepted only at their defaults."""
    for name, value in numpy_args.items():
        if name not in ("out", "dtype"):
            raise DTypeError(
                f"{method}() got an unexpected keyword argument {name!r}; it takes "
                f"axis and keepdims."
            )
        if value is not None:
            raise DTypeError(
                f"{method}(): {name}={value!r} is not supported; a tensor's "
                f"{method} returns a new tensor (use .astype() to change dtype)."
            )


def _shape_arg(shape: tuple, where: str | None = None) -> tuple:
    """Accept both ``f(2, 3)`` and ``f((2, 3))``; with ``where``, check the sizes."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if where is not None:
        try:
            shape = tuple(operator.index(n) for n in shape)
        except TypeError:
            raise DTypeError(
                f"{where}: the shape must be integers, e.g. {where}(2, 3); got "
                f"{shape!r}."
            ) from None
        if any(n < 0 for n in shape):
            raise ShapeError(
                f"{where}: the shape {shape} has a negative size; sizes are 0 or more."
            )
    return tuple(shape)


def _plain_index(index: Any) -> Any:
    """Indices as NumPy takes them: a Tensor or a list becomes its array.

    (A list becomes an array here, not later, so that changing the list after
    the forward pass cannot change what backward scatters to.)
    """
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        array = np.asarray(index)
        return array.astype(np.intp) if array.size == 0 else array  # [] is float
    return index


# The engine, ops and composites all build on Tensor: import them once it exists.
from tinygrad_edu import engine, functional, ops  # noqa: E402
