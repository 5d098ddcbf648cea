"""The backward walk: ``backward()`` and ``grad()``.

The walk visits the recorded graph once, from the output back to the leaves,
in topological order: every node runs its rule only after all the gradients
flowing into it have arrived. It is iterative (no recursion limit) and linear
in the size of the graph.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_edu.anomaly import anomaly_error, check_gradients, user_code_location
from tinygrad_edu.broadcasting import sum_to_shape
from tinygrad_edu.errors import (
    AnomalyError,
    DTypeError,
    GraphError,
    NumPyOnTensorError,
    ShapeError,
)
from tinygrad_edu.recording import switches
from tinygrad_edu.tensor import Tensor, as_tensor

if TYPE_CHECKING:
    from tinygrad_edu.function import Function


def topological_order(root: Tensor) -> list[Tensor]:
    """The computed tensors reachable from ``root``, each after its inputs.

    Depth-first post-order with an explicit stack: O(nodes + edges), no
    recursion, deterministic (inputs are visited in argument order). Tensors,
    not nodes, because a rule may need its node's output (``saved_tensors``)
    and a node keeps no reference to it: that would be a reference cycle.
    The backward walk takes them from the end: ``root`` first.
    """
    from tinygrad_edu.function import freed_graph_error

    if root._node.inputs is None:
        raise freed_graph_error(root._node)
    order: list[Tensor] = []
    visited = {root._node}
    stack = [(root, iter(root._node.inputs))]
    while stack:
        tensor, pending_inputs = stack[-1]
        for x in pending_inputs:
            parent = x._node
            if parent is not None and parent not in visited:
                if parent.inputs is None:
                    raise freed_graph_error(parent)
                visited.add(parent)
                stack.append((x, iter(parent.inputs)))
                break
        else:
            stack.pop()
            order.append(tensor)
    return order


def backward(
    root: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    trace: list | None = None,
) -> None:
    """Accumulate d(root)/d(leaf) into ``.grad`` of every leaf that requires it.

    With a ``trace`` list, each step is appended to it as (node, the gradient
    of its output, what its rule returned): ``diagnostics.explain`` reads it.
    """
    _walk(root, gradient, retain_graph, create_graph, _accumulate, "backward()", trace)


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
    captured: dict[Tensor, Tensor | None] = {t: None for t in inputs}

    def capture(tensor: Tensor, gradient: Tensor) -> None:
        if tensor in captured:
            previous = captured[tensor]
            captured[tensor] = gradient if previous is None else previous + gradient

    _walk(output, grad_output, retain_graph, create_graph, capture, "grad()")
    return tuple(captured[t] for t in inputs)


def _accumulate(tensor: Tensor, gradient: Tensor) -> None:
    """Add a gradient into ``tensor.grad``, which never shares memory with it."""
    if tensor.grad is None:
        if gradient._node is None and gradient.data.base is not None:
            # A view (a broadcast, a transpose) shares memory with another
            # gradient or with the caller's array: .grad gets its own.
            gradient = Tensor(gradient.data.copy())
        tensor.grad = gradient
    else:
        tensor.grad = tensor.grad + gradient


def _walk(
    root: Tensor,
    gradient: Any,
    retain_graph: bool | None,
    create_graph: bool,
    sink: Callable[[Tensor, Tensor], None],
    caller: str,
    trace: list | None = None,
) -> None:
    """The backward pass: seed the root, run each node's rule once, in order.

    ``sink`` receives the gradient of every leaf (and of every tensor that
    asked with ``retain_grad``, and, for ``grad()``, of every tensor).
    """
    if not root.requires_grad:
        again = (
            "grad(..., create_graph=True)"
            if caller == "grad()"
            else ("backward(create_graph=True)")
        )
        raise GraphError(
            f"{caller} on a tensor that does not require grad: no input of the "
            f"graph has requires_grad=True (or it was computed under no_grad()). "
            f"Create the parameters with Tensor(..., requires_grad=True); to "
            f"differentiate a gradient again, compute it with {again}."
        )
    seed = _seed(root, gradient, caller)
    if retain_graph is None:
        retain_graph = create_graph
    if root._node is None:
        sink(root, seed)
        return
    every_output = sink is not _accumulate  # grad() may ask for any tensor
    # The walk makes no reference cycles, so the cyclic garbage collector has
    # nothing to find; paused, it does not rescan a large live graph again and
    # again while the order and the gradients are allocated.
    collecting = gc.isenabled()
    gc.disable()
    state = switches()
    previous, state.grad_enabled = state.grad_enabled, create_graph
    pending: list[Tensor] = []
    try:
        pending = topological_order(root)  # taken from the end: the root first
        grads = {root._node: seed}
        while pending:
            output = pending[-1]
            node = output._node
            upstream = grads.pop(node, None)
            if upstream is not None:  # None: every path to it was cut off
                if every_output or output._retains_grad:
                    sink(output, upstream)
                input_grads = _run_rule(node, output, upstream, state.anomaly)
                if trace is not None:
                    trace.append((node, upstream, input_grads))
                _pass_on(node, input_grads, upstream, grads, sink)
            pending.pop()
            if not retain_graph:  # freed as soon as its rule has run
                node.release()
    finally:
        state.grad_enabled = previous
        if not retain_graph:  # after an error, what is left is freed as well
            for output in pending:
                output._node.release()
        if collecting:
            gc.enable()


def _seed(root: Tensor, gradient: Any, caller: str) -> Tensor:
    """The gradient the walk starts from: 1 for a one-element root."""
    argument = "backward(gradient)" if caller == "backward()" else "grad(grad_output)"
    if gradient is None:
        if root.data.size != 1:
            raise GraphError(
                f"{caller} on a tensor of shape {root.shape} needs the gradient of "
                f"the final result with respect to it: call {argument} with one of "
                f"shape {root.shape}, or reduce to a scalar first, e.g. "
                f"t.sum().backward()."
            )
        return Tensor(np.ones(root.shape, dtype=root.dtype))
    if isinstance(gradient, Tensor) and gradient.requires_grad:
        seed = gradient  # part of a graph itself (create_graph)
    else:  # a copy: .grad never aliases the caller's array
        seed = as_tensor(gradient, argument)
        if seed.dtype.kind not in "iuf":
            raise DTypeError(
                f"{argument}: the gradient has dtype {seed.dtype}; pass numbers of "
                f"shape {root.shape}."
            )
        seed = Tensor(seed.data.astype(root.dtype, copy=True))
    if seed.shape != root.shape:
        raise ShapeError(
            f"{argument}: the gradient has shape {seed.shape} but the tensor has "
            f"shape {root.shape}; they must be equal."
        )
    return seed


def _run_rule(node: Function, output: Tensor, upstream: Tensor, anomaly: bool) -> tuple:
    """Call the node's backward rule; its answer as one entry per input (checked
    to be finite under ``detect_anomaly``)."""
    node._output = output  # for saved_tensors, only while the rule runs
    try:
        input_grads = node.backward(node, upstream)
    except AnomalyError as error:  # an op inside the rule found it: say where
        created = getattr(node, "created_at", None) or user_code_location()
        raise AnomalyError(
            f"{node.op_name} (created at {created}) failed the anomaly check in "
            f"its backward rule: {error}"
        ) from None
    except FloatingPointError as error:  # NumPy raises only under detect_anomaly
        raise anomaly_error(node, f"its backward pass raised: {error}") from None
    except NumPyOnTensorError as error:
        raise GraphError(
            f"backward of '{node.op_name}': {error} A backward rule computes "
            f"with Tensor operations so that it can be differentiated again."
        ) from None
    finally:
        node._output = None
    if not isinstance(input_grads, tuple):
        input_grads = (input_grads,)
    if len(input_grads) != len(node.inputs):
        raise GraphError(
            f"backward of '{node.op_name}' returned {len(input_grads)} "
            f"gradient(s) for {len(node.inputs)} input(s); return one per input "
            f"(None for inputs without a gradient)."
        )
    if anomaly:
        check_gradients(node, input_grads)
    return input_grads


def _pass_on(
    node: Function,
    input_grads: tuple,
    upstream: Tensor,
    grads: dict[Function, Tensor],
    sink: Callable[[Tensor, Tensor], None],
) -> None:
    """Hand each input its share: a leaf's goes to the sink, a computed
    tensor's is added to what its node has received so far."""
    given_to_a_leaf = []
    for tensor, needed, input_grad in zip(
        node.inputs, node.needs_input_grad, input_grads
    ):
        if input_grad is None or not needed:
            continue
        input_grad = fit_to_input(node, tensor, input_grad)
        parent = tensor._node
        if parent is None:
            in_a_graph = input_grad.requires_grad and switches().grad_enabled
            if not in_a_graph and (
                input_grad is upstream
                or id(input_grad) in given_to_a_leaf
                or any(input_grad.data is x.data for x in node.inputs)
            ):
                # Passed through unchanged (add, ...), given to two inputs, or an
                # input's own array: it would become a .grad shared with another
                # .grad or a tensor; a copy keeps them apart.
                input_grad = Tensor(input_grad.data.copy())
            sink(tensor, input_grad)
            given_to_a_leaf.append(id(input_grad))
        elif parent in grads:
            grads[parent] = grads[parent] + input_grad
        else:
            grads[parent] = input_grad


def fit_to_input(node: Function, tensor: Tensor, grad: Any) -> Tensor:
    """A rule's gradient as the input's: summed back over broadcast axes, in
    the input's dtype.

    This is the one place where broadcasting is undone, so no rule has to.
    When the backward pass is recorded it uses the ``sum_to`` op, so that it
    can be differentiated again; otherwise NumPy sums directly.
    """
    if not isinstance(grad, Tensor):
        grad = Tensor(np.asarray(grad))
    if grad.data.shape != tensor.data.shape:
        try:
            if switches().grad_enabled:
                grad = grad.sum_to(tensor.shape)
            else:
                grad = Tensor(sum_to_shape(grad.data, tensor.shape))
        except ShapeError:
            raise GraphError(
                f"backward of '{node.op_name}' returned a gradient of shape "
                f"{grad.shape} for an input of shape {tensor.shape}; a gradient "
                f"must have the input's shape (or one it broadcasts to)."
            ) from None
    if grad.data.dtype != tensor.data.dtype:
        grad = grad.astype(tensor.dtype)
    return grad
