"""The backward walk and the switch that turns graph recording on and off.

Recording is per thread: ``no_grad()`` in one thread never changes what another
thread records. The walk is iterative (no recursion limit) and linear in the
size of the graph.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ContextDecorator, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_edu.errors import AnomalyError, GraphError, ShapeError
from tinygrad_edu.tensor import Tensor

if TYPE_CHECKING:
    from tinygrad_edu.function import Function


class _Flags:
    """One thread's recording switches, in slots: an op reads them all after a
    single thread-local lookup (each costs several hundred instructions)."""

    __slots__ = ("anomaly", "grad_enabled", "record_sites", "scope")

    def __init__(self) -> None:
        self.grad_enabled = True
        self.scope: tuple[str, ...] = ()
        #: Remember, on each node, the line of the user's code that created it.
        self.record_sites = False
        #: Set by ``detect_anomaly``: check every result for NaN/inf too.
        self.anomaly = False


class _ThreadState(threading.local):
    """Per thread: ``__init__`` runs in each thread on its first use."""

    def __init__(self) -> None:
        self.flags = _Flags()


_state = _ThreadState()


def is_grad_enabled() -> bool:
    """True when ops applied in this thread are recorded for backward."""
    return _state.flags.grad_enabled


class _GradMode(ContextDecorator):
    """Sets recording on or off for a ``with`` block or a decorated function."""

    enabled: bool

    def __new__(cls, func: Callable | None = None) -> Any:
        # Both @no_grad() and bare @no_grad decorate, as in PyTorch.
        self = super().__new__(cls)
        return self if func is None else self(func)

    def __enter__(self) -> None:
        self._previous = _state.flags.grad_enabled
        _state.flags.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _state.flags.grad_enabled = self._previous

    def _recreate_cm(self) -> _GradMode:
        # A decorated function may run in several threads at once: give each
        # call its own instance so ``_previous`` is never shared.
        return type(self)()


class no_grad(_GradMode):
    """Do not record ops: for evaluation and parameter updates.

    >>> from tinygrad_edu import Tensor, no_grad
    >>> w = Tensor([1.0, 2.0], requires_grad=True)
    >>> with no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    enabled = False


class enable_grad(_GradMode):
    """Record ops again inside a ``no_grad`` block."""

    enabled = True


class detect_anomaly(ContextDecorator):
    """Raise at the first op whose forward or backward produces NaN or inf.

    Inside the block every op's result and every gradient a backward rule
    returns is checked, NumPy's divide/overflow/invalid warnings become errors,
    and each recorded node remembers the line of *your* code that created it,
    so the error names the op and the place. The checks cost a pass over each
    array: use it to debug, not to train.

    >>> from tinygrad_edu import Tensor, detect_anomaly
    >>> x = Tensor([0.0, 1.0], requires_grad=True)
    >>> with detect_anomaly():  # doctest: +ELLIPSIS
    ...     y = x.log()
    Traceback (most recent call last):
    tinygrad_edu.errors.AnomalyError: log (created at <doctest ...>:2) failed ...
    """

    def __enter__(self) -> None:
        self._previous = (_state.flags.anomaly, _state.flags.record_sites)
        self._errstate = np.errstate(divide="raise", over="raise", invalid="raise")
        self._errstate.__enter__()
        _state.flags.anomaly = _state.flags.record_sites = True

    def __exit__(self, *exc: object) -> None:
        _state.flags.anomaly, _state.flags.record_sites = self._previous
        self._errstate.__exit__(*exc)

    def _recreate_cm(self) -> detect_anomaly:
        return type(self)()


@contextmanager
def recording_sites() -> Iterator[None]:
    """Remember where each node is created (for diagnostics that name places)."""
    previous, _state.flags.record_sites = _state.flags.record_sites, True
    try:
        yield
    finally:
        _state.flags.record_sites = previous


_PACKAGE_DIR = str(Path(__file__).resolve().parent)


def user_code_location() -> str:
    """``file:line`` of the innermost caller outside tinygrad_edu itself."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


def non_finite(array: np.ndarray) -> str | None:
    """'nan' or 'inf' if a float array holds one (NaN first), else None."""
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return None
    return "nan" if np.isnan(array).any() else "inf"


def check_finite(
    array: np.ndarray, what: str, node: Function, inputs: Sequence[Tensor] = ()
) -> None:
    """Raise ``AnomalyError`` if a float array holds NaN or inf.

    If one of the op's ``inputs`` already held it, the op is not the cause, and
    the error says so instead of suggesting a log of 0.
    """
    bad = non_finite(array)
    if bad is None:
        return
    for index, tensor in enumerate(inputs):
        held = non_finite(tensor.data)
        if held:
            raise anomaly_error(
                node,
                f"{what} of shape {array.shape} holds {bad}, because input {index} "
                f"(shape {tensor.shape}) already held {held}",
                advice="The bad value came from earlier: from your data, or from "
                "an op computed outside detect_anomaly(). Check the inputs with "
                "np.isfinite(x).all().",
            )
    raise anomaly_error(node, f"{what} of shape {array.shape} holds {bad}")


def anomaly_error(
    node: Function,
    problem: str,
    advice: str = "Look at this op's inputs: a log of 0, a division by 0, an "
    "overflowing exp or a learning rate that is too large are the usual causes.",
) -> AnomalyError:
    created = getattr(node, "created_at", None) or user_code_location()
    return AnomalyError(
        f"{node.op_name} (created at {created}) failed the anomaly check: "
        f"{problem}. {advice}"
    )


class Scope(str):
    """A ``name_scope`` label. It equals its text, but its identity tells apart
    two blocks (or two modules) that carry the same text: five ``Linear(20→20)``
    layers are five clusters in a drawing, not one."""

    __slots__ = ()


class name_scope(ContextDecorator):  # used like a function, as no_grad is
    """Label the ops recorded inside the block (nested scopes form a path).

    ``nn.Module.__call__`` opens one per module, so a graph can be drawn with
    one cluster per module (``Linear(784→50)``). A plain string opens a new
    scope each time; pass the same ``Scope`` object to reopen one. A class,
    not a generator: models open a few per training step.
    """

    __slots__ = ("_entry",)

    def __init__(self, label: str) -> None:
        self._entry = label if isinstance(label, Scope) else Scope(label)

    def __enter__(self) -> None:
        _state.flags.scope = (*_state.flags.scope, self._entry)

    def __exit__(self, *exc: object) -> None:
        _state.flags.scope = _state.flags.scope[:-1]

    def _recreate_cm(self) -> name_scope:
        return self  # stateless: one decorated function, one scope (cluster)


def topological_order(root: Tensor) -> list[Tensor]:
    """The computed tensors reachable from ``root``, each before its inputs."""
    order = inputs_first(root)
    order.reverse()
    return order


def inputs_first(root: Tensor) -> list[Tensor]:
    """The computed tensors reachable from ``root``, each after its inputs.

    Depth-first post-order with an explicit stack: O(nodes + edges), no
    recursion, deterministic (inputs are visited in argument order). Tensors,
    not nodes, because a rule may need its node's output (``saved_tensors``)
    and a node keeps no reference to it: that would be a reference cycle.
    """
    order: list[Tensor] = []
    visited = {root._node}
    stack = [(root, iter(root._node.inputs))]
    while stack:
        tensor, pending_inputs = stack[-1]
        for x in pending_inputs:
            parent = x._node
            if parent is not None and parent not in visited:
                if parent.inputs is None:
                    raise _freed_graph_error(parent)
                visited.add(parent)
                stack.append((x, iter(parent.inputs)))
                break
        else:
            stack.pop()
            order.append(tensor)
    return order


def _freed_graph_error(node: Function) -> GraphError:
    return GraphError(
        f"backward through the graph a second time: the graph of "
        f"'{node.op_name}' was freed after the first backward(). Pass "
        f"retain_graph=True to the first backward() if you need to call it again."
    )


def backward(
    root: Tensor,
    grad: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    trace: list | None = None,
) -> None:
    """Accumulate d(root)/d(leaf) into ``.grad`` of every leaf that requires it.

    With a ``trace`` list, each step is appended to it as (node, the gradient
    of its output, what its rule returned): ``diagnostics.explain`` reads it.
    """
    _walk(root, grad, retain_graph, create_graph, capture=None, trace=trace)


def grad(
    output: Tensor,
    inputs: Sequence[Tensor],
    grad_output: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
) -> tuple[Tensor | None, ...]:
    """The gradients of ``output`` with respect to ``inputs``, leaving ``.grad`` alone.

    Like ``torch.autograd.grad``: with ``create_graph=True`` the results are
    themselves differentiable (Hessian-vector products, Newton's method).
    An input that ``output`` does not depend on gets ``None``.

    >>> from tinygrad_edu import Tensor, grad
    >>> x = Tensor(3.0, requires_grad=True)
    >>> (dx,) = grad(x**3, [x], create_graph=True)
    >>> grad(dx, [x])[0]  # d²(x³)/dx² = 6x
    Tensor(18.)
    """
    capture: dict[Tensor, Tensor | None] = {t: None for t in inputs}
    _walk(output, grad_output, retain_graph, create_graph, capture)
    return tuple(capture[t] for t in inputs)


def _walk(
    root: Tensor,
    grad: Any,
    retain_graph: bool | None,
    create_graph: bool,
    capture: dict | None,
    trace: list | None = None,
) -> None:
    """The backward pass: seed the root, run each node's rule once, in order.

    With ``capture`` None, leaf gradients accumulate into ``.grad``; otherwise
    the gradients of the tensors in ``capture`` are collected there instead.
    """
    if not root.requires_grad:
        raise GraphError(
            "backward() on a tensor that does not require grad: no input of the "
            "graph has requires_grad=True (or it was computed under no_grad()). "
            "Create the parameters with Tensor(..., requires_grad=True); to "
            "differentiate a gradient again, compute it with "
            "backward(create_graph=True) or grad(..., create_graph=True)."
        )
    seed = _seed_gradient(root, grad)
    if retain_graph is None:
        retain_graph = create_graph
    sink = Tensor._accumulate if capture is None else _collect_into(capture)
    if root._node is None:
        sink(root, seed)
        return
    # Computed tensors get their gradient only if they asked (retain_grad) or
    # grad() wants it: in a plain backward() no node's output is looked at.
    outputs_wanted = capture is not None
    if root._node.inputs is None:
        raise _freed_graph_error(root._node)
    # The walk makes no reference cycles, so the cyclic garbage collector has
    # nothing to find here; paused, it does not rescan a large live graph
    # again and again while gradients are allocated (2 s of a 1e6-op chain).
    # The switch is per process: other threads' collections wait for the walk.
    collecting = gc.isenabled()
    gc.disable()
    previous = _state.flags.grad_enabled
    _state.flags.grad_enabled = create_graph  # record the backward pass only if asked
    pending: list[Tensor] = []
    try:
        pending = inputs_first(root)  # taken from the end: the root first
        grads = {root._node: seed}
        anomaly = _state.flags.anomaly
        while pending:
            output = pending[-1]
            node = output._node
            grad_of_output = grads.pop(node, None)
            if grad_of_output is not None:  # None: every path to it was cut off
                input_grads = _backward_node(
                    output, grad_of_output, grads, sink, outputs_wanted, anomaly
                )
                if trace is not None:
                    trace.append((node, grad_of_output, input_grads))
            pending.pop()
            if not retain_graph:
                # Freed as soon as its rule has run, as PyTorch frees saved
                # tensors: the gradients still to come reuse the memory while
                # it is in cache, instead of taking fresh memory.
                node.release()
    finally:
        _state.flags.grad_enabled = previous
        if not retain_graph:  # after an error, what is left is freed as well
            for output in pending:
                output._node.release()
        if collecting:
            gc.enable()


def _collect_into(capture: dict) -> Callable[[Tensor, Tensor], None]:
    def collect(tensor: Tensor, grad: Tensor) -> None:
        if tensor in capture:
            previous = capture[tensor]
            capture[tensor] = grad if previous is None else previous + grad

    return collect


def _seed_gradient(root: Tensor, grad: Any) -> Tensor:
    if grad is None:
        if root.data.size != 1:
            raise GraphError(
                f"backward() on a tensor of shape {root.shape} needs the gradient "
                f"of the final result with respect to it: call "
                f"t.backward(gradient) with an array of shape {root.shape}, or "
                f"reduce to a scalar first, e.g. t.sum().backward()."
            )
        # One element, so ndmin=ndim is root's shape: 4x cheaper than np.ones.
        return Tensor._constant(np.array(1, dtype=root.dtype, ndmin=root.ndim))
    if not isinstance(grad, Tensor):  # a copy: .grad never aliases the caller
        grad = Tensor(np.array(grad, dtype=root.dtype))
    elif not grad.requires_grad:  # (a seed that requires grad is part of a graph)
        grad = Tensor._constant(grad.data.copy())
    if grad.shape != root.shape:
        raise ShapeError(
            f"backward(gradient): the gradient has shape {grad.shape} but the "
            f"tensor has shape {root.shape}; they must be equal."
        )
    return grad


def _backward_node(
    output: Tensor,
    grad: Tensor,
    grads: dict[Function, Tensor],
    sink: Callable[[Tensor, Tensor], None],
    outputs_wanted: bool,
    anomaly: bool,
) -> tuple:
    """Run the rule of output's node, hand each input its share; return what it gave."""
    node = output._node
    if outputs_wanted or output._retains_grad:
        sink(output, grad)
    node._output = output  # for saved_tensors, only while the rule runs
    try:
        input_grads = node.backward(node, grad)
    except AnomalyError as error:  # an op inside the rule found it: say where
        created = getattr(node, "created_at", None) or user_code_location()
        raise AnomalyError(
            f"{node.op_name} (created at {created}) failed the anomaly check in "
            f"its backward rule: {error}"
        ) from None
    except FloatingPointError as error:  # NumPy raises only under detect_anomaly
        raise anomaly_error(node, f"its backward pass raised: {error}") from None
    finally:
        node._output = None
    if type(input_grads) is not tuple:
        input_grads = (input_grads,)
    inputs = node.inputs
    if len(input_grads) != len(inputs):
        raise GraphError(
            f"backward of '{node.op_name}' returned {len(input_grads)} "
            f"gradient(s) for {len(inputs)} input(s); return one per input "
            f"(None for inputs without a gradient)."
        )
    if anomaly:
        for index, (needed, input_grad) in enumerate(
            zip(node.needs_input_grad, input_grads)
        ):
            if needed and input_grad is not None:
                data = input_grad.data if isinstance(input_grad, Tensor) else input_grad
                what = f"its backward's gradient for input {index}"
                check_finite(np.asarray(data), what, node)
    last_to_a_leaf = None
    needs_input_grad = node.needs_input_grad
    i = -1  # an index of our own: zip() costs as much again as this whole loop
    for tensor in inputs:
        i += 1
        input_grad = input_grads[i]
        if input_grad is None or not needs_input_grad[i]:
            continue
        if type(input_grad) is not Tensor or (
            (array := input_grad.data).shape != (expected := tensor.data).shape
            or (array.dtype is not expected.dtype and array.dtype != expected.dtype)
        ):
            input_grad = _fit_to_input(node, tensor, input_grad)
        parent = tensor._node
        if parent is None:
            if not input_grad.requires_grad and (
                input_grad is grad or input_grad is last_to_a_leaf
            ):
                # Passed through unchanged (add, ...) or given to two inputs: the
                # same array would become two .grads; a copy keeps them apart.
                input_grad = Tensor._constant(input_grad.data.copy())
            sink(tensor, input_grad)
            last_to_a_leaf = input_grad
        elif parent in grads:
            grads[parent] = grads[parent] + input_grad
        else:
            grads[parent] = input_grad
    return input_grads


def sum_to_shape(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``x`` down to ``shape``, which broadcasts to ``x.shape``: the adjoint
    of broadcasting, for the ``sum_to`` op and for the walk when not recording."""
    lead = x.ndim - len(shape)
    # Sum the axes where shape has a 1 (kept), then the leading ones (dropped):
    # what is left must be shape itself, or shape does not broadcast to x's.
    # Two reductions, not one and a reshape: the result is never a view, so
    # it needs no defensive copy when it becomes a .grad.
    out = x
    if 1 in shape:
        ones = tuple(
            lead + i
            for i, n in enumerate(shape)
            if n == 1 and lead + i >= 0 and x.shape[lead + i] != 1
        )
        if ones:
            out = np.add.reduce(out, axis=ones, keepdims=True)
    if lead > 0:
        out = np.add.reduce(out, axis=tuple(range(lead)))
    if lead < 0 or out.shape != shape:
        raise ShapeError(
            f"sum_to: cannot sum shape {x.shape} to {shape}: {shape} does not "
            f"broadcast to {x.shape}."
        )
    return out


def _fit_to_input(node: Function, tensor: Tensor, grad: Any) -> Tensor:
    """Sum a broadcast gradient back to the input's shape; keep the input's dtype.

    This is the one place where broadcasting is undone, so no rule has to.
    Recording (create_graph), it is the ``sum_to`` op, so that it can be
    differentiated again; otherwise plain NumPy, the training step's case.
    """
    if not isinstance(grad, Tensor):
        grad = Tensor(np.asarray(grad))
    if grad.shape != tensor.shape:
        try:
            if _state.flags.grad_enabled:
                grad = grad.sum_to(tensor.shape)
            else:
                grad = Tensor._constant(sum_to_shape(grad.data, tensor.shape))
        except ShapeError:
            raise GraphError(
                f"backward of '{node.op_name}' returned a gradient of shape "
                f"{grad.shape} for an input of shape {tensor.shape}; a gradient "
                f"must have the input's shape (or one it broadcasts to)."
            ) from None
    if grad.dtype != tensor.dtype:
        grad = grad.astype(tensor.dtype)
    return grad
