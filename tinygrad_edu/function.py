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

import operator
import re
import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from tinygrad_edu.anomaly import anomaly_error, check_finite, user_code_location
from tinygrad_edu.errors import (
    DomainError,
    DTypeError,
    GraphError,
    ShapeError,
    TinygradEduError,
)
from tinygrad_edu.recording import switches
from tinygrad_edu.tensor import Tensor, as_tensors

#: Every built-in op, by snake_case name; filled as ``tinygrad_edu.ops`` is
#: imported and exposed read-only as ``tinygrad_edu.ops.REGISTRY``.
_registry: dict[str, type[Function]] = {}

_BUILTIN_MODULE = "tinygrad_edu.ops"


#: Each ``needs_input_grad`` pattern seen, e.g. (True, False), as its own key.
_flag_tuples: dict[tuple[bool, ...], tuple[bool, ...]] = {}

_data = operator.attrgetter("data")
_requires_grad = operator.attrgetter("_requires_grad")


def _snake_case(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Function:
    """Base class for ops; subclass it to define your own.

    ``forward`` gets NumPy arrays and returns one; ``backward`` gets the
    gradient of the output as a Tensor and returns one gradient per input,
    computed with Tensor ops, so that it can be differentiated again.
    ``ctx.saved_tensors`` gives back what ``forward`` saved, as Tensors.

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
    #: The keyword parameters the op takes, by name, each with the ``Param``
    #: (``tinygrad_edu.domains``) that says which values it accepts.
    param_domains: ClassVar[Mapping[str, Any]] = {}
    #: False (with a reason in the docstring) if backward is not differentiable.
    twice_differentiable: ClassVar[bool] = True

    # A node of a big graph is one of many objects: slots keep it small.
    __slots__ = (
        "__dict__",  # what an op keeps for its rule (ctx.axis = ...)
        "_distinct",
        "_holds",
        "_output",
        "_saved",
        "inputs",
        "kwargs",
        "needs_input_grad",
        "scope",
    )

    inputs: tuple[Tensor, ...] | None
    needs_input_grad: tuple[bool, ...]
    kwargs: Mapping[str, Any]
    #: The ``name_scope`` labels (module path) active when it was recorded.
    scope: tuple[str, ...]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for rule in ("forward", "backward"):
            if rule in cls.__dict__ and not isinstance(
                cls.__dict__[rule], staticmethod
            ):
                raise DTypeError(
                    f"{cls.__name__}.{rule} must be a @staticmethod: it receives "
                    f"ctx (the node) as its first argument, not self. Put "
                    f"@staticmethod above 'def {rule}(ctx, ...)'."
                )
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
    def save_for_backward(self, *arrays: Any) -> None:
        """Keep arrays for ``backward``; they come back as ``saved_tensors``.

        Save the arrays ``forward`` was given, or the one it returns, to have
        them back as the graph's own Tensors (see ``saved_tensors``).
        """
        self._saved = arrays

    @property
    def saved_arrays(self) -> tuple[Any, ...]:
        """What ``forward`` saved, as it saved it: for values a rule only reads
        (a mask, the position of a maximum), never for what it differentiates."""
        return self._saved

    @property
    def saved_tensors(self) -> tuple[Tensor, ...]:
        """What ``forward`` saved, as Tensors.

        The array ``forward`` received as input i comes back as input i's
        Tensor, and the array it returned as the output Tensor, so that under
        ``create_graph=True`` the rule stays connected to the graph and can be
        differentiated again. Anything else comes back as a constant, and
        None (for what forward chose not to keep) as None.
        """
        if self.inputs is None:
            raise freed_graph_error(self)
        # By object, position by position: forward got one array per input,
        # distinct even where two inputs share their data (see apply).
        arguments = self._distinct or [x.data for x in self.inputs]
        output = self._output  # set by the engine while this node's rule runs
        tensors = []
        for saved in self._saved:
            if saved is None:
                tensors.append(None)
                continue
            found = None
            for tensor, argument in zip(self.inputs, arguments):
                if saved is argument:
                    found = tensor
                    break
            if found is None:
                is_output = output is not None and saved is output.data
                found = output if is_output else Tensor(saved)
            tensors.append(found)
        return tuple(tensors)

    def reuse(self, array: np.ndarray, recompute: Callable[[], Tensor]) -> Tensor:
        """A value ``forward`` computed (a softmax, say), for the rule to use.

        When the backward pass is not recorded it is the array itself; when it
        is (``create_graph=True``), ``recompute()`` computes it again with
        Tensor ops, so that the rule can be differentiated again.
        """
        return recompute() if switches().grad_enabled else Tensor(array)

    def release(self) -> None:
        """Drop the references that keep the graph's arrays alive (and read-only)."""
        self.inputs = None
        self._saved = ()
        self._distinct = self._holds = None

    # -- running the op -------------------------------------------------------
    @classmethod
    def apply(cls, *inputs: Any, **params: Any) -> Tensor:
        """Run the op on Tensors (or array-likes) and record it if needed."""
        inputs = as_tensors(inputs, cls.op_name)
        state = switches()
        # Recorded if recording is on and some input requires a gradient.
        if state.grad_enabled:
            flags = tuple(map(_requires_grad, inputs))
            # One tuple per pattern, shared by the nodes: fewer new objects
            # per op, so the cyclic garbage collector runs less often.
            needs_input_grad = _flag_tuples.setdefault(flags, flags)
        else:
            needs_input_grad = (False,) * len(inputs)
        recording = True in needs_input_grad
        arguments = tuple(map(_data, inputs))
        distinct = None  # set only where two inputs share an array
        if recording and len(set(map(id, arguments))) < len(arguments):
            arguments = distinct = _distinct(arguments)
        ctx = cls()
        ctx._saved = ()
        ctx.kwargs = params
        ctx.needs_input_grad = needs_input_grad  # forward saves what will be read
        try:
            data = cls.forward(ctx, *arguments, **params)
        except TinygradEduError:
            raise
        except Exception as error:
            translated = _forward_error(ctx, inputs, error)
            if translated is None:
                raise
            raise translated from error
        if type(data) is not np.ndarray:  # NumPy returns scalars for 0-d results
            returned, data = data, np.asarray(data)
            ctx._saved = tuple([data if s is returned else s for s in ctx._saved])
        # A no-op (astype to the dtype it has) returns its input: the output
        # gets a view, so that it is never a user's array itself (those are
        # kept read-only while a rule will read them; a .grad is never one).
        for argument in arguments:
            if data is argument:
                data = data.view()
        if state.record_sites:  # debugging: detect_anomaly, blame
            ctx.created_at = user_code_location()
            if state.anomaly:
                check_finite(data, "its output", ctx, inputs)
        # Only a float result has a gradient: a cast to int ends the graph there.
        if not recording or data.dtype.kind != "f":
            return Tensor._wrap(data)
        ctx.inputs, ctx._distinct = inputs, distinct
        ctx.scope = state.scope
        ctx._output = None
        ctx._holds = freeze_inputs(ctx)
        return Tensor._wrap(data, ctx)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"<{self.op_name}({args})>"


def _distinct(arguments: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """One distinct array object per input, for a node that will be recorded.

    Two inputs may share one array (``x * x.detach()``, two Tensors made from
    one ndarray). The later one then gets a view of it, so that
    ``saved_tensors`` can tell by object which input an array was.
    """
    distinct: list[np.ndarray] = []
    for array in arguments:
        if any(array is earlier for earlier in distinct):
            array = array.view()
        distinct.append(array)
    return tuple(distinct)


def freed_graph_error(node: Function) -> GraphError:
    """What using a graph after ``backward()`` freed it means, and the fix."""
    return GraphError(
        f"the graph of '{node.op_name}' was freed by backward(), so it cannot be "
        f"used again (a second backward, grad() or drawing it). Pass "
        f"retain_graph=True to the first backward() to keep it."
    )


# ------------------------------------------------------------ saved arrays


class _Hold:
    """Keeps an array's memory read-only while some node's rule will read it.

    Changing a saved array between forward and backward would silently change
    the gradient; read-only, the change fails loudly instead. There is one hold
    per array that owns its memory, and every node that needs the memory keeps
    a reference to it, so the memory becomes writable again when the last of
    them is released by ``backward()`` or dropped with its graph: Python's
    reference count is the counter, and there is no lock. Views of the memory
    that a node saved are made read-only with it and writable after it (NumPy
    refuses a writable view of read-only memory).
    """

    __slots__ = ("__weakref__", "entry", "owner", "views")

    def __init__(self, owner: np.ndarray) -> None:
        owner.setflags(False)  # write=False (positional: kwargs are slow)
        self.owner, self.views = owner, []
        self.entry = _holds[id(owner)] = weakref.ref(self)

    def __del__(self) -> None:
        if _holds.get(id(self.owner)) is self.entry:  # not a newer hold's
            del _holds[id(self.owner)]
        self.owner.setflags(True)
        for view in self.views:
            view.setflags(True)


#: The live hold of each array kept read-only, by id() (the hold keeps the
#: array alive, so the id stays that array's while the entry is live).
_holds: dict[int, weakref.ref] = {}


def check_writable(array: np.ndarray, what: str) -> None:
    """An error that says what to do if ``array`` cannot be changed in place
    (``what`` names it, e.g. "SGD.step: params[0]"): a live graph holds it
    read-only, or it was read-only already."""
    if array.flags.writeable:
        return
    owner = array.base if type(array.base) is np.ndarray else array
    ref = _holds.get(id(owner))
    if ref is not None and ref() is not None:
        raise GraphError(
            f"{what} is read-only while a recorded graph that will read it is "
            f"alive: a result computed from it and kept without calling "
            f"backward() on it (a loss kept for logging, say). Call backward() "
            f"on it, delete it, or compute it under no_grad()."
        )
    raise DomainError(
        f"{what} is a read-only array and cannot be changed in place; use a "
        f"writable copy (array.copy())."
    )


def freeze_inputs(node: Function) -> list[_Hold] | None:
    """Make read-only, while ``node`` lives, what its rule will read and the
    user can still reach and change: the saved arrays of its leaf inputs, the
    memory saved views share (an input's own array, if the view was made for
    an aliased operand), and array parameters such as an index. An input the
    rule does not read (b in x + b) stays writable; an array that was
    read-only already is not ours to make writable.

    Most nodes of a deep graph save nothing of the user's: for them this is a
    check per saved array, with no list made.
    """
    holds = None
    for saved in node._saved:
        if type(saved) is not np.ndarray:
            continue
        reachable = type(saved.base) is np.ndarray
        for x in node.inputs:
            if saved is x.data and x._node is None:
                reachable = True
                break
        if reachable:
            holds = _freeze(saved, holds)
    for value in node.kwargs.values():
        for array in value if type(value) is tuple else (value,):
            if type(array) is np.ndarray:
                holds = _freeze(array, holds)
    return holds


def _freeze(array: np.ndarray, holds: list[_Hold] | None) -> list[_Hold] | None:
    """Keep ``array`` read-only for one more node: ``holds``, the node's list,
    with the hold of its memory (unless someone else made that read-only)."""
    owner = array.base if type(array.base) is np.ndarray else array
    ref = _holds.get(id(owner))
    hold = None if ref is None else ref()
    if hold is None:
        if not owner.flags.writeable:
            return holds
        hold = _Hold(owner)
    if array is not owner and array.flags.writeable:
        array.setflags(False)
        hold.views.append(array)
    if holds is None:
        return [hold]
    holds.append(hold)
    return holds


# ------------------------------------------------------------ forward errors

#: NumPy's ValueError for int ** negative int, which is a dtype problem.
_INTEGER_POWER = "Integers to negative integer powers"

#: What to do about NumPy's own errors, by a phrase of its message.
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
        _INTEGER_POWER,
        "make the base a float first: x.astype(float) ** -1",
    ),
    (
        "concatenation axis",
        "the shapes must be equal on every axis except the one being joined",
    ),
)


def _forward_error(
    ctx: Function, inputs: tuple[Tensor, ...], error: Exception
) -> TinygradEduError | None:
    """What a failed forward means, naming the op and its operands (None: an
    error of the op's own code, raised as it is)."""
    if isinstance(error, TypeError) or _INTEGER_POWER in str(error):
        return DTypeError(_describe(ctx, inputs, error))
    if isinstance(error, (ValueError, IndexError)):
        return ShapeError(_describe(ctx, inputs, error))
    if isinstance(error, FloatingPointError):  # NumPy raises only in detect_anomaly
        ctx.created_at = user_code_location()
        return anomaly_error(ctx, f"NumPy reported '{error}' in its forward pass")
    return None


def _describe(ctx: Function, inputs: tuple[Tensor, ...], error: Exception) -> str:
    shapes = ", ".join(f"{t.shape} {t.dtype}" for t in inputs)
    args = "".join(f", {k}={v!r}" for k, v in ctx.kwargs.items())
    message = str(error).strip().rstrip(".")
    for phrase, hint in _NUMPY_HINTS:
        if phrase in message:
            message = f"{message}; {hint}."
            break
    return f"{ctx.op_name}({shapes}{args}): {message}"
