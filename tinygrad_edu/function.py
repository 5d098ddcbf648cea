"""``Function``: the public base class of every op, built-in or yours.

An op is a subclass with two static methods, in PyTorch's convention::

    forward(ctx, *arrays, **params) -> ndarray      # NumPy
    backward(ctx, grad) -> one gradient per input   # Tensor ops

``Op.apply(*inputs, **params)`` runs ``forward`` and, when recording is on and
some input requires a gradient, keeps the ``ctx`` as the graph node: it holds
the inputs, what ``forward`` saved, and the parameters. The same object is the
``ctx`` the rules see, so there is one thing to understand, not two.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, NoReturn

import numpy as np

from tinygrad_edu import engine
from tinygrad_edu.errors import DTypeError, ShapeError, TinygradEduError
from tinygrad_edu.tensor import Tensor

#: Every built-in op, by snake_case name; filled as ``tinygrad_edu.ops`` is
#: imported and exposed read-only as ``tinygrad_edu.ops.REGISTRY``.
_registry: dict[str, type[Function]] = {}

_BUILTIN_MODULE = "tinygrad_edu.ops"

#: The parameters of every node recorded without any: one shared, read-only
#: mapping instead of an empty dict per node.
_NO_PARAMS: Mapping[str, Any] = MappingProxyType({})

#: Every ``needs_input_grad`` of up to three inputs, as one shared tuple each:
#: a tuple of its own per node made the cyclic GC run more often in a big graph.
_SHARED_FLAGS = {
    flags: flags
    for arity in (1, 2, 3)
    for flags in itertools.product((False, True), repeat=arity)
}

_new_object = object.__new__  # without the lookup of __new__ on every op


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Function:
    """Base class for ops; subclass it to define your own.

    >>> import numpy as np
    >>> from tinygrad_edu import Function, Tensor
    >>> class Cube(Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x**3
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         (x,) = ctx.saved_tensors
    ...         return grad * 3 * x**2
    >>> x = Tensor([2.0], requires_grad=True)
    >>> Cube.apply(x).sum().backward()
    >>> x.grad
    Tensor([12.])
    """

    #: snake_case name used by the graph renderer, error messages and the registry.
    op_name: ClassVar[str] = "function"
    #: One domain per input (``tinygrad_edu.domains``); read by tests and docs.
    domain: ClassVar[tuple] = ()
    #: gufunc-style shape signature of the inputs, e.g. ``"(),()->()"``.
    signature: ClassVar[str | None] = None
    #: False if the signature's core dims take no extra broadcast (loop) axes.
    batched: ClassVar[bool] = True
    #: How the property tests draw the op's keyword parameters (see ``testing``).
    params: ClassVar[str | None] = None
    #: False (with a reason in the docstring) if backward is not differentiable.
    twice_differentiable: ClassVar[bool] = True

    # Slots keep a node small and make a per-node __dict__ appear only for ops
    # that store extra fields (ctx.axis = ...): fewer objects for the GC to scan.
    __slots__ = (  # noqa: RUF023 - the order in which apply() fills them
        "inputs",
        "needs_input_grad",
        "kwargs",
        "scope",
        "_saved",
        "_output",
        "__dict__",
    )

    inputs: tuple[Tensor, ...] | None
    needs_input_grad: tuple[bool, ...]
    kwargs: Mapping[str, Any]
    #: The ``engine.name_scope`` labels (module path) active when it was recorded.
    scope: tuple[str, ...]
    _saved: tuple[np.ndarray, ...]
    #: The node's output Tensor while the engine runs its rule, else None.
    _output: Tensor | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.op_name = _snake_case(cls.__name__)
        if cls.__module__ == _BUILTIN_MODULE:
            _registry[cls.op_name] = cls

    @staticmethod
    def forward(ctx: Function, *arrays: np.ndarray, **params: Any) -> np.ndarray:
        raise NotImplementedError("a Function subclass must define forward()")

    @staticmethod
    def backward(ctx: Function, grad: Tensor) -> Any:
        raise NotImplementedError("a Function subclass must define backward()")

    # -- what the rules use ---------------------------------------------------
    def save_for_backward(self, *arrays: np.ndarray) -> None:
        """Keep arrays for ``backward``; they come back as ``saved_tensors``."""
        self._saved = arrays

    @property
    def saved_tensors(self) -> tuple[Tensor, ...]:
        """The saved arrays as Tensors.

        An array that is an input or the output comes back as *that* Tensor, so
        with ``create_graph=True`` the rule stays connected to the graph and
        can be differentiated again.
        """
        inputs = self.inputs
        if inputs is None:
            raise engine._freed_graph_error(self)
        output = self._output  # set by the engine while this node's rule runs
        saved = []
        for array in self._saved:
            for tensor in inputs:
                if tensor.data is array:
                    break
            else:
                if output is not None and output.data is array:
                    tensor = output
                else:
                    tensor = Tensor._constant(array)
            saved.append(tensor)
        return tuple(saved)

    def release(self) -> None:
        """Drop the references that keep the graph's arrays alive."""
        self.inputs = None
        self._saved = ()

    # -- running the op -------------------------------------------------------
    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run the op on Tensors (or array-likes) and record it if needed."""
        # One and two operands without parameters (every op of a training step
        # but sum) are spelled out: each tuple, star-call and lookup here is paid
        # on every op, and a star-call with **params cost a tenth of a mul's
        # instructions by itself (callgrind). Operands become Tensors first, so
        # that only what forward raises is reported as the op's failure.
        if params or not 0 < len(inputs) < 3:
            spelled_out = 0  # operands passed to forward one by one; 0: star-call
            inputs = _as_tensors(cls, inputs)
            needs_input_grad = tuple([x.requires_grad for x in inputs])
        elif len(inputs) == 2:
            spelled_out = 2
            x, y = inputs
            if not isinstance(y, Tensor) and isinstance(x, Tensor):  # y * 0.5, x**2
                inputs = x, y = x, _as_tensor(cls, y, x)
            elif not isinstance(x, Tensor):  # 1 - y
                inputs = x, y = _as_tensors(cls, inputs)
            needs_input_grad = x.requires_grad, y.requires_grad
        else:
            spelled_out = 1
            (x,) = inputs
            if not isinstance(x, Tensor):
                inputs = (x,) = _as_tensors(cls, inputs)
            needs_input_grad = (x.requires_grad,)
        ctx = _new_object(cls)
        ctx._saved = ()
        ctx.kwargs = params or _NO_PARAMS
        try:
            if spelled_out == 2:
                data = cls.forward(ctx, x.data, y.data)
            elif spelled_out == 1:
                data = cls.forward(ctx, x.data)
            else:
                data = cls.forward(ctx, *[x.data for x in inputs], **params)
        except Exception as error:
            _forward_failed(ctx, inputs, error)
        if type(data) is not np.ndarray:  # NumPy returns scalars for 0-d results
            scalar, data = data, np.asarray(data)
            ctx._saved = tuple(data if a is scalar else a for a in ctx._saved)
        flags = engine._state.flags  # one thread-local lookup per op
        if flags.record_sites:  # debugging: detect_anomaly, blame
            ctx.created_at = engine.user_code_location()
            if flags.anomaly:
                engine.check_finite(data, "its output", ctx, inputs)
        if flags.grad_enabled and True in needs_input_grad:
            ctx.inputs = inputs
            ctx.needs_input_grad = _SHARED_FLAGS.get(needs_input_grad, needs_input_grad)
            ctx.scope = flags.scope
            ctx._output = None
            return Tensor._constant(data, ctx)
        return Tensor._constant(data)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"<{self.op_name}({args})>"


def _as_tensors(cls: type[Function], inputs: tuple) -> tuple[Tensor, ...]:
    """The operands as Tensors; Python numbers take the Tensors' float dtype."""
    for x in inputs:
        if not isinstance(x, Tensor):
            break
    else:
        return inputs  # Tensors already: the call's own tuple becomes the node's
    like = None
    for x in inputs:
        if isinstance(x, Tensor) and x.data.dtype.kind == "f":
            like = x
            break
    tensors = []  # a loop, not a comprehension: no function object per call
    for x in inputs:
        tensors.append(_as_tensor(cls, x, like))
    return tuple(tensors)


def _as_tensor(cls: type[Function], x: Any, like: Tensor | None) -> Tensor:
    """An operand as a Tensor; a Python number takes ``like``'s float dtype.

    ``x32 * 2.0`` stays float32, as NumPy's own rules for Python scalars say;
    a 0-d float64 array would silently upcast. A bad operand's error names the
    op it was passed to, not just the Tensor constructor.
    """
    if isinstance(x, Tensor):
        return x
    if (type(x) is float or type(x) is int) and like is not None:
        dtype = like.data.dtype
        if dtype.kind == "f":
            if x:  # 0.0 == -0.0 as a cache key, but their signs differ
                return _scalar_constant(x, dtype)
            return Tensor._constant(np.asarray(x, dtype=dtype))
    try:
        return Tensor(x)
    except TinygradEduError as error:
        problem = str(error).removeprefix("Tensor: ")
        raise type(error)(f"{cls.op_name}: {problem}") from None


def _forward_failed(
    ctx: Function, inputs: tuple[Tensor, ...], error: Exception
) -> NoReturn:
    """Raise what a failed forward means, naming the op and its operands."""
    if isinstance(error, TinygradEduError):
        raise error
    if isinstance(error, (ValueError, IndexError)):
        raise ShapeError(_describe(ctx, inputs, error)) from error
    if isinstance(error, TypeError):
        raise DTypeError(_describe(ctx, inputs, error)) from error
    if isinstance(error, FloatingPointError):  # NumPy raises only in detect_anomaly
        ctx.created_at = engine.user_code_location()
        problem = f"NumPy reported '{error}' in its forward pass"
        raise engine.anomaly_error(ctx, problem) from None
    raise error


@functools.lru_cache(maxsize=256)
def _scalar_constant(value: float, dtype: np.dtype) -> Tensor:
    """A Python number as a constant of ``dtype``, shared and read-only.

    ``y = y * 0.5`` in a loop then records one constant, not one per op: less
    work per op and one object fewer for the cyclic GC to scan in a big graph.
    """
    array = np.asarray(value, dtype=dtype)
    array.flags.writeable = False
    return Tensor._constant(array)


#: What to do about NumPy's own errors, by a phrase of its message. Matched only
#: once an op has failed, so the hot path pays nothing for the advice.
_NUMPY_HINTS = (
    (
        "could not be broadcast",
        "shapes broadcast when, compared from the last axis, each pair of sizes is "
        "equal or one of them is 1; reshape or transpose an operand to line them up",
    ),
    (
        "axis remapping",
        "broadcast_to can only add leading axes and stretch axes of size 1; the "
        "target shape needs at least as many axes as the tensor",
    ),
    (
        "out of bounds for axis",
        "an index must be smaller than the size of its axis (negative ones count "
        "from the end)",
    ),
    (
        "concatenation axis",
        "the shapes must be equal on every axis except the one being joined",
    ),
)


def _describe(ctx: Function, inputs: tuple[Tensor, ...], error: Exception) -> str:
    shapes = ", ".join(f"{t.shape} {t.dtype}" for t in inputs)
    args = "".join(f", {k}={v!r}" for k, v in ctx.kwargs.items())
    message = str(error).strip()
    for phrase, hint in _NUMPY_HINTS:
        if phrase in message:
            message = f"{message}; {hint}."
            break
    return f"{ctx.op_name}({shapes}{args}): {message}"
