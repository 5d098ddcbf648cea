"""Diagnostics that show a learner *where* and *why*.

- ``blame(fn, inputs)``: when a gradient check fails, find the op whose
  backward rule is wrong, by checking each recorded node on its own.
- ``explain(loss)``: run backward and report every step: the op, the gradient
  arriving from above, the local derivative and what flows on to the inputs.
- ``step_size_sweep(fn, x)``: the error of the numerical derivative for step
  sizes from 1e-1 to 1e-12, the truncation/rounding V-curve; ``default_step``.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_edu import engine
from tinygrad_edu.errors import DomainError, DTypeError, GraphError
from tinygrad_edu.function import Function
from tinygrad_edu.numerical import GradcheckError, _float64_copies, gradcheck
from tinygrad_edu.tensor import Tensor

# ---------------------------------------------------------------- blame


@dataclass
class Blame:
    """The first recorded op whose backward disagrees with central differences."""

    op_name: str
    created_at: str
    input_shapes: list[tuple[int, ...]]
    detail: str

    def __str__(self) -> str:
        shapes = ", ".join(str(s) for s in self.input_shapes)
        return (
            f"the backward of '{self.op_name}' (created at {self.created_at}, inputs "
            f"{shapes}) is wrong: {self.detail}"
        )


def blame(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor,
    **tolerances: Any,
) -> Blame | None:
    """Check each op of ``fn``'s graph on its own; return the first that is wrong.

    The graph is recorded once (in float64, remembering where each op was
    created); then every node's vector-Jacobian product is compared with
    central differences *at the node's own inputs*, in the order the ops ran.
    ``None`` means every op's backward agrees.
    """
    leaves = _float64_copies(inputs)
    with engine.recording_sites():
        output = fn(*leaves)
    if not isinstance(output, Tensor) or output._node is None:
        return None
    for computed in reversed(engine.topological_order(output)):
        node = computed._node
        problem = _check_node(node, tolerances)
        if problem:
            return Blame(
                node.op_name,
                getattr(node, "created_at", "<unknown>"),
                [tuple(t.shape) for t in node.inputs],
                problem,
            )
    return None


def _check_node(node: Function, tolerances: dict) -> str | None:
    local_inputs = [
        Tensor(t.data.astype(np.float64), requires_grad=True)
        if t.requires_grad and t.dtype.kind == "f"
        else Tensor(t.data)
        for t in node.inputs
    ]
    op, params = type(node), node.kwargs

    def local(*xs: Tensor) -> Tensor:
        return op.apply(*xs, **params)

    big = sum(t.size for t in local_inputs) > 2_000
    try:
        gradcheck(local, local_inputs, fast_mode=big, blame=False, **tolerances)
    except GradcheckError as error:
        return str(error).removeprefix("gradcheck: ")
    return None


# ---------------------------------------------------------------- explain


@dataclass
class Step:
    """One node of the backward pass, in the order the engine ran it."""

    number: int
    op_name: str
    rule: str
    upstream: np.ndarray
    input_grads: list[np.ndarray | None]


@dataclass
class Explanation:
    """The backward pass, step by step; text with ``str()``, HTML in notebooks."""

    steps: list[Step] = field(default_factory=list)

    def __str__(self) -> str:
        lines = []
        for step in self.steps:
            lines.append(f"step {step.number}: {step.op_name}  ({step.rule})")
            lines.append(f"    gradient from above: {summarize(step.upstream)}")
            for i, g in enumerate(step.input_grads):
                shown = "not needed" if g is None else summarize(g)
                lines.append(f"    → input {i}: {shown}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>"
            f"<td>{s.number}</td><td><b>{html.escape(s.op_name)}</b></td>"
            f"<td>{html.escape(s.rule)}</td>"
            f"<td><code>{html.escape(summarize(s.upstream))}</code></td>"
            f"<td><code>{'<br>'.join(map(_input_html, s.input_grads))}</code></td>"
            "</tr>"
            for s in self.steps
        )
        return (
            "<table><tr><th>#</th><th>op</th><th>local derivative</th>"
            f"<th>gradient from above</th><th>to the inputs</th></tr>{rows}</table>"
        )


def _input_html(g: np.ndarray | None) -> str:
    return "not needed" if g is None else html.escape(summarize(g))


def summarize(array: np.ndarray, max_elements: int = 6) -> str:
    """Small arrays in full; large ones as shape, norm and range."""
    array = np.asarray(array)
    if array.size <= max_elements:
        return np.array2string(array, precision=4, suppress_small=True, separator=", ")
    return (
        f"shape {array.shape}, norm {np.linalg.norm(array):.4g}, "
        f"range [{array.min():.4g}, {array.max():.4g}]"
    )


def explain(
    loss: Tensor, gradient: Any = None, retain_graph: bool = False
) -> Explanation:
    """Run ``loss.backward()`` and return what each step did, in the engine's order.

    The order is the answer to "why a topological order?": every node runs
    only after all the gradients flowing into it have arrived.

    >>> from tinygrad_edu import Tensor
    >>> x = Tensor([2.0], requires_grad=True)
    >>> print(explain((x * x).sum()))  # doctest: +NORMALIZE_WHITESPACE
    step 1: sum  (Sum over axes: y = Σ x; dy/dx = 1, so the gradient is broadcast back.)
        gradient from above: 1.
        → input 0: [1.]
    step 2: mul  (Multiplication: z = x * y; dz/dx = y, dz/dy = x.)
        gradient from above: [1.]
        → input 0: [2.]
        → input 1: [2.]
    >>> x.grad
    Tensor([4.])
    """
    if not loss.requires_grad:
        raise GraphError(
            "explain(): the tensor does not require grad, so there is no backward "
            "pass to explain; build it from Tensors with requires_grad=True."
        )
    trace: list = []
    engine.backward(loss, gradient, retain_graph, trace=trace)
    steps = []
    for number, (node, upstream, input_grads) in enumerate(trace, 1):
        doc = (type(node).__doc__ or "").strip().splitlines()
        steps.append(
            Step(
                number,
                node.op_name,
                doc[0] if doc else "no docstring",
                upstream.data,
                [None if g is None else np.asarray(_array(g)) for g in input_grads],
            )
        )
    return Explanation(steps)


def _array(g: Any) -> np.ndarray:
    return g.data if isinstance(g, Tensor) else g


# ---------------------------------------------------------------- step sizes


def default_step(dtype: Any) -> float:
    """The numerical-differentiation step for a dtype.

    The book's 1e-4 for float64 (the bottom of the V-curve is wide there);
    for less precise types the cube root of machine epsilon, where truncation
    error (∝ h²) and rounding error (∝ eps/h) balance: ~5e-3 for float32.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise DTypeError(
            f"default_step: dtype {dtype} is not floating point; numerical "
            f"derivatives of integer arrays round the step away. Use float data."
        )
    return max(1e-4, float(np.finfo(dtype).eps) ** (1 / 3))


@dataclass
class StepSweep:
    """Errors of the central difference against backprop, one per step size."""

    steps: np.ndarray
    errors: np.ndarray
    backprop: float
    dtype: np.dtype

    @property
    def best_step(self) -> float:
        return float(self.steps[np.argmin(self.errors)])

    def plot(self, path: str | Path | None = None, ax: Any = None) -> Any:
        """Draw the V-curve (log-log); save it to ``path`` if given; return the axes."""
        from matplotlib.figure import Figure

        figure = None
        if ax is None:
            figure = Figure(figsize=(6, 4), layout="constrained")
            ax = figure.subplots()
        ax.loglog(self.steps, np.maximum(self.errors, 1e-18), "o-")
        ax.axvline(default_step(self.dtype), linestyle=":", color="grey")
        ax.set(
            xlabel="step h",
            ylabel="|numerical - backprop|",
            title=f"central difference error ({self.dtype})",
        )
        ax.invert_xaxis()
        if path is not None:
            (figure or ax.figure).savefig(path, dpi=100)
        return ax


def step_size_sweep(
    fn: Callable[[Tensor], Tensor],
    x: Any,
    steps: Sequence[float] | None = None,
    *,
    seed: int = 0,
) -> StepSweep:
    """Central differences of ``fn`` at ``x`` along a random direction, per step h.

    The error falls like h² (truncation) until rounding, which grows like
    eps/h, takes over: a V on a log-log plot whose bottom is the best h. The
    differences run in ``x``'s own dtype, so float32's V sits far to the left
    of float64's.

    >>> import numpy as np
    >>> sweep = step_size_sweep(lambda x: x.exp().sum(), np.array([1.0, 2.0]))
    >>> 1e-8 < sweep.best_step < 1e-1
    True
    """
    data = np.array(x.data if isinstance(x, Tensor) else x)
    default_step(data.dtype)  # integer data: the error that explains why
    steps = np.logspace(-1, -12, 12) if steps is None else np.asarray(steps, float)
    if np.any(steps <= 0):
        raise DomainError(f"step_size_sweep: steps must be positive, got {steps}.")
    direction = np.random.default_rng(seed).standard_normal(data.shape)
    direction /= np.linalg.norm(direction)
    point = Tensor(data, requires_grad=True)
    out = fn(point)
    if out.size != 1:
        raise DomainError(
            f"step_size_sweep: fn must return a scalar, got shape {out.shape}; "
            f"reduce it (e.g. .sum()) first."
        )
    out.backward()
    backprop = float(np.sum(point.grad.data.astype(np.float64) * direction))
    errors = []
    with engine.no_grad():
        for h in steps:
            shift = (h * direction).astype(data.dtype)
            plus = float(fn(Tensor(data + shift)).data)
            minus = float(fn(Tensor(data - shift)).data)
            errors.append(abs((plus - minus) / (2 * h) - backprop))
    return StepSweep(steps, np.array(errors), backprop, data.dtype)
