"""Diagnostics that show a learner *where* and *why*.

- ``blame(fn, inputs)``: when a gradient check fails, find the op whose
  backward rule is wrong, by checking each recorded node on its own.
- ``explain(loss)``: run backward and report every step: the op, the gradient
  arriving from above, the local derivative (as numbers for elementwise ops)
  and what flows on to the inputs.
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
from tinygrad_edu.domains import Domain, alternatives
from tinygrad_edu.engine import grad
from tinygrad_edu.errors import DomainError, DTypeError, GraphError
from tinygrad_edu.function import Function
from tinygrad_edu.numerical import (
    _describe_failure,
    _describe_second_order,
    _first_order_check,
    _float64_copies,
    _second_order_check,
)
from tinygrad_edu.recording import enable_grad, no_grad, recording_sites
from tinygrad_edu.tensor import Tensor

# ---------------------------------------------------------------- blame

#: An op whose own check uses this fraction of its tolerance is suspect when
#: no op fails outright: a correct op's central differences agree to within
#: about a millionth of it.
SUSPECT_FROM = 0.1


@dataclass
class Blame:
    """The op of a graph that explains a failed gradient check.

    ``kind`` says how: ``"wrong"`` (its backward fails its own check),
    ``"not recorded"`` (its backward cannot be differentiated again),
    ``"not twice differentiable"`` (it says so), or ``"amplified"`` (no op
    fails on its own; this one came closest, and its small error grows
    downstream). ``only_op``: the graph holds no other op.
    """

    op_name: str
    created_at: str
    input_shapes: list[tuple[int, ...]]
    detail: str
    kind: str = "wrong"
    only_op: bool = False

    def __str__(self) -> str:
        shapes = ", ".join(str(s) for s in self.input_shapes)
        op = f"'{self.op_name}' (created at {self.created_at}, inputs {shapes})"
        if self.kind == "amplified":
            return (
                f"no single op fails on its own; the error grows downstream of "
                f"{op}, the op that came closest to failing its own check: "
                f"{self.detail}"
            )
        if self.kind == "wrong":
            return f"the backward of {op} is wrong: {self.detail}"
        return f"the backward of {op} {self.detail}"


def blame(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor,
    *,
    order: int = 1,
    **tolerances: Any,
) -> Blame | None:
    """Check each op of ``fn``'s graph on its own; return the one to blame.

    The graph is recorded once (in float64, remembering where each op was
    created); then every node's derivatives are compared with central
    differences *at the node's own inputs*, in the order the ops ran: first
    derivatives (``order=1``), or second ones (``order=2``: is the backward
    recorded, and is its own derivative right?). Points at a kink of an op
    are skipped: no derivative exists there.

    The first op that fails is returned. If none fails but one came close
    (``SUSPECT_FROM`` of its tolerance), it is returned as ``"amplified"``:
    its small error grows downstream until the whole check fails. ``None``
    means every op's backward agrees.
    """
    leaves = _float64_copies(inputs)
    with recording_sites():
        output = fn(*leaves)
    if not isinstance(output, Tensor) or output._node is None:
        return None
    nodes = [computed._node for computed in engine.topological_order(output)]
    suspect: tuple[float, Blame] | None = None
    for node in nodes:
        kind, detail, ratio = _check_node(node, order, tolerances)
        found = Blame(
            node.op_name,
            getattr(node, "created_at", "<unknown>"),
            [tuple(t.shape) for t in node.inputs],
            detail,
            kind or "amplified",
            only_op=len(nodes) == 1,
        )
        if kind:
            return found
        if ratio >= SUSPECT_FROM and (suspect is None or ratio > suspect[0]):
            suspect = (ratio, found)
    return suspect[1] if suspect else None


def _check_node(node: Function, order: int, tolerances: dict) -> tuple:
    """(kind, detail, ratio): why the node is to blame (kind None if it is
    not), and how close its own check came to failing."""
    local_inputs = [
        Tensor(t.data.astype(np.float64), requires_grad=True)
        if t.requires_grad and t.dtype.kind == "f"
        else Tensor(t.data)
        for t in node.inputs
    ]
    op, params = type(node), node.kwargs

    def local(*xs: Tensor) -> Tensor:
        return op.apply(*xs, **params)

    keywords = dict(tolerances, kinks="skip")
    keywords["fast_mode"] = sum(t.size for t in local_inputs) > 2_000
    if order == 1:
        outcome, leaves, _ = _first_order_check(local, local_inputs, **keywords)
        describe = _describe_failure
    else:
        if not getattr(op, "twice_differentiable", True):
            return "not twice differentiable", _DECLARED_ONCE, 0.0
        unrecorded = _unrecorded_gradient(local, local_inputs)
        if unrecorded:
            return "not recorded", unrecorded, 0.0
        outcome, leaves, checked, _ = _second_order_check(
            local, local_inputs, None, **keywords
        )

        def describe(probe: Any, inputs: list[Tensor]) -> str:
            return _describe_second_order(probe, inputs, checked)

    if outcome.failure is not None:
        return "wrong", describe(outcome.failure, leaves), outcome.failure.ratio
    closest = outcome.closest
    if closest is None:
        return None, "", 0.0
    detail = f"{describe(closest, leaves)} ({closest.ratio:.0%} of its threshold)"
    return None, detail, closest.ratio


_DECLARED_ONCE = (
    "declares twice_differentiable = False: its gradient cannot be "
    "differentiated again, so a second-order check through it cannot pass. "
    "Leave it out of such checks (second_order=False)."
)


def _unrecorded_gradient(fn: Callable[..., Tensor], xs: list[Tensor]) -> str | None:
    """Why ``fn``'s backward cannot be differentiated again, if it cannot.

    Recorded with create_graph=True, a gradient is linear in the upstream
    gradient, so it requires grad whenever it is not zero: unless the rule
    returned an ndarray or computed it from ``.data``.
    """
    differentiable = [x for x in xs if x.requires_grad]
    with enable_grad():
        out = fn(*xs)
        if not differentiable or not out.requires_grad:
            return None
        rng = np.random.default_rng(0)
        upstream = Tensor(rng.standard_normal(out.shape), requires_grad=True)
        grads = grad(out, differentiable, upstream, create_graph=True)
    for g in grads:
        if g is not None and not g.requires_grad and np.any(g.data != 0):
            return (
                "is not recorded: with create_graph=True it returned a gradient "
                "that does not depend on the upstream gradient (an ndarray, or a "
                "Tensor computed from .data), so the engine cannot differentiate "
                "it again."
            )
    return None


def nearest_kink(
    fn: Callable[..., Tensor], inputs: Sequence[Any] | Tensor
) -> str | None:
    """The op of ``fn``'s graph with an input at one of its declared kinks.

    Ops declare their kinks in their domains (``AWAY_FROM(0)`` for relu;
    ties for ``DISTINCT`` inputs such as max's). Returns a description of
    the op whose input comes nearest a kink, if one is within ``KINK_WITHIN``.
    """
    leaves = _float64_copies(inputs)
    with recording_sites():
        output = fn(*leaves)
    if not isinstance(output, Tensor) or output._node is None:
        return None
    nearest = None
    for computed in engine.topological_order(output):
        node = computed._node
        for domains in alternatives(type(node).domain or ()):
            for i, (t, domain) in enumerate(zip(node.inputs, domains)):
                found = _kink_distance(domain, t.data)
                if found and (nearest is None or found[0] < nearest[0]):
                    nearest = (*found, node, i)
    if nearest is None or nearest[0] > KINK_WITHIN:
        return None
    distance, element, value, kink, node, i = nearest
    return (
        f"'{node.op_name}' (created at {getattr(node, 'created_at', '<unknown>')})"
        f" has input {i} at element {element} equal to {value:.6g}, "
        f"{distance:.2g} from its kink at {kink:.6g}"
    )


#: How close to a declared kink an op's input must be for ``nearest_kink``.
KINK_WITHIN = 1e-4


def _kink_distance(domain: Domain, array: np.ndarray) -> tuple | None:
    """(distance, element, value, kink) of the element nearest a kink."""
    values = np.asarray(array, dtype=np.float64)
    if values.size == 0 or values.dtype.kind != "f":
        return None
    best = None
    for point in domain.avoid:
        flat = int(np.argmin(np.abs(values - point)))
        found = (abs(float(values.flat[flat]) - point), flat, point)
        best = found if best is None or found[0] < best[0] else best
    if domain.kind == "distinct" and values.size > 1:
        order = np.argsort(values, axis=None)
        gaps = np.diff(values.flat[order])
        at = int(np.argmin(gaps))
        found = (float(gaps[at]), int(order[at]), float(values.flat[order[at + 1]]))
        best = found if best is None or found[0] < best[0] else best
    if best is None:
        return None
    distance, flat, kink = best
    element = tuple(int(n) for n in np.unravel_index(flat, values.shape))
    return distance, element, float(values.flat[flat]), kink


# ---------------------------------------------------------------- explain


@dataclass
class Step:
    """One node of the backward pass, in the order the engine ran it.

    ``local_factors[i]`` is the local derivative the rule applied for input
    ``i``, element by element: ``input_grads[i] / upstream``, for elementwise
    ops (``elementwise``) whose gradient for that input has the upstream's
    shape. It is NaN where the gradient from above is 0 (nothing shows the
    factor there), and None for inputs that need no gradient and for the other
    ops, whose rule is a vector-Jacobian product with no per-element factor.
    """

    number: int
    op_name: str
    rule: str
    upstream: np.ndarray
    input_grads: list[np.ndarray | None]
    local_factors: list[np.ndarray | None] = field(default_factory=list)
    elementwise: bool = False
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    #: The ``name_scope`` labels the op was recorded in, outermost first: a
    #: module (``Linear(3→4)``) or a composite (``mean``, whose ``sum`` and
    #: ``mul`` are the steps inside it).
    scope: tuple[str, ...] = ()

    def input_lines(self) -> list[str]:
        """One line per input: the local factor and the gradient it gives."""
        lines = []
        for i, g in enumerate(self.input_grads):
            factor = self.local_factors[i] if i < len(self.local_factors) else None
            shape = self.input_shapes[i] if i < len(self.input_shapes) else None
            if g is None:
                lines.append(f"input {i}: not needed")
                continue
            shown = f"gradient {summarize(g)}"
            if shape is not None and g.shape != shape:  # broadcast in the forward
                shown += f", summed to shape {shape}"
            if factor is not None:
                lines.append(
                    f"input {i}: local factor {_summarize_factor(factor)} → {shown}"
                )
            else:
                kind = _NOT_UPSTREAM_SHAPED if self.elementwise else _VJP
                lines.append(f"input {i}: {shown}  ({kind})")
        return lines


_VJP = "a vector-Jacobian product: no per-element factor"
_NOT_UPSTREAM_SHAPED = "not the shape of the gradient from above: no per-element factor"


@dataclass(repr=False)
class Explanation:
    """The backward pass, step by step: text with ``str()`` and ``repr()``, HTML in
    notebooks. The repr is the text too, so that ``explain(loss)`` typed at a
    prompt shows the steps, not the fields of a dataclass."""

    steps: list[Step] = field(default_factory=list)

    def __str__(self) -> str:
        lines = []
        for step, entered in zip(self.steps, _entered_scopes(self.steps)):
            for depth, label in entered:  # a frame: "in mean:", steps indented
                lines.append(f"{'    ' * depth}in {label}:")
            indent = "    " * len(step.scope)
            lines.append(f"{indent}step {step.number}: {step.op_name}  ({step.rule})")
            lines.append(f"{indent}    gradient from above: {summarize(step.upstream)}")
            lines.extend(f"{indent}    → {line}" for line in step.input_lines())
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        rows = "".join(
            "<tr>"
            f"<td>{s.number}</td><td>{html.escape(' › '.join(s.scope))}</td>"
            f"<td><b>{html.escape(s.op_name)}</b></td>"
            f"<td>{html.escape(s.rule)}</td>"
            f"<td><code>{html.escape(summarize(s.upstream))}</code></td>"
            f"<td><code>{'<br>'.join(map(html.escape, s.input_lines()))}</code></td>"
            "</tr>"
            for s in self.steps
        )
        return (
            "<table><tr><th>#</th><th>in</th><th>op</th><th>local derivative</th>"
            "<th>gradient from above</th>"
            f"<th>local factor → gradient, per input</th></tr>{rows}</table>"
        )


def statistics(array: np.ndarray) -> dict[str, float]:
    """Mean, min, max and norm as floats: the one summary of a large array.

    Booleans count as 0 and 1; NaN and inf show in the figures instead of
    raising warnings.
    """
    values = np.asarray(array, dtype=np.float64)
    with np.errstate(all="ignore"):
        return {
            "mean": float(values.mean()),
            "min": float(values.min()),
            "max": float(values.max()),
            "norm": float(np.linalg.norm(values.ravel())),
        }


def _entered_scopes(steps: list[Step]) -> list[list[tuple[int, str]]]:
    """For each step, the name scopes it enters that the step before was not in,
    as (depth, label). Compared by identity: two calls of ``mean`` are two frames."""
    entered, previous = [], ()
    for step in steps:
        same = 0
        while (
            same < min(len(previous), len(step.scope))
            and previous[same] is step.scope[same]
        ):
            same += 1
        entered.append([(d, step.scope[d]) for d in range(same, len(step.scope))])
        previous = step.scope
    return entered


def summarize(array: np.ndarray, max_elements: int = 6) -> str:
    """Small arrays in full; large ones as shape, norm and range."""
    array = np.asarray(array)
    if array.size <= max_elements:
        text = np.array2string(array, precision=4, suppress_small=True, separator=", ")
        return " ".join(text.split())  # one line: [[1., 2.], [3., 4.]]
    s = statistics(array)
    return (
        f"shape {array.shape}, norm {s['norm']:.4g}, "
        f"range [{s['min']:.4g}, {s['max']:.4g}]"
    )


def _summarize_factor(factor: np.ndarray, max_elements: int = 6) -> str:
    """Like ``summarize``, over the elements where the factor is defined."""
    defined = factor[~np.isnan(factor)]
    gaps = factor.size - defined.size
    note = f" (nan at {gaps}: the gradient from above is 0 there)" if gaps else ""
    if defined.size == 0:
        return "undefined (the gradient from above is 0)"
    if factor.size <= max_elements:
        return summarize(factor, max_elements) + note
    if np.all(defined == defined[0]):
        return f"{defined[0]:.4g} everywhere in shape {factor.shape}{note}"
    return (
        f"shape {factor.shape}, norm {np.linalg.norm(defined):.4g}, "
        f"range [{defined.min():.4g}, {defined.max():.4g}]{note}"
    )


def _is_elementwise(node: Function) -> bool:
    """Each output element depends only on the same element of each input:
    a gufunc signature of scalar core dims only, and no keyword parameters
    (``sum``, ``softmax`` and ``reshape`` declare ``()->()`` but take an axis
    or a shape)."""
    signature = type(node).signature
    if signature is None or type(node).param_domains:
        return False
    ins, out = signature.replace(" ", "").split("->")
    return set(ins.split(",")) == {"()"} and out == "()"


def _local_factor(grad_in: np.ndarray, upstream: np.ndarray) -> np.ndarray | None:
    """``grad_in / upstream`` elementwise, NaN where the upstream is 0."""
    if grad_in.shape != upstream.shape:
        return None
    factor = np.full(grad_in.shape, np.nan)
    with np.errstate(all="ignore"):
        np.divide(grad_in, upstream, out=factor, where=upstream != 0)
    return factor


def explain(
    loss: Tensor, gradient: Any = None, retain_graph: bool = False
) -> Explanation:
    """Run ``loss.backward()`` and return what each step did, in the engine's order.

    For each step: the op and its rule, the gradient from above and, per
    input, the gradient the rule sent on. For elementwise ops the local
    derivative is shown as numbers too, the factor the rule multiplied the
    gradient from above by (for ``x * x`` at 2: 2 for each input; for the
    sigmoid at 0: 0.25). Other ops (matmul, sum, softmax, ...) compute a
    vector-Jacobian product, which is not a per-element factor, so only their
    rule is shown. Small arrays appear in full, large ones as shape, norm and
    range. Steps recorded in a name scope, a module's or a composite's such as
    ``mean`` (a ``sum`` and a ``mul`` by 1/n), are indented under a frame,
    ``in mean:``.

    The order is the answer to "why a topological order?": every node runs
    only after all the gradients flowing into it have arrived.

    >>> from tinygrad_edu import Tensor
    >>> x = Tensor([2.0], requires_grad=True)
    >>> explain((x * x).sum() * 3.0)  # doctest: +NORMALIZE_WHITESPACE
    step 1: mul  (Multiplication: z = x * y; dz/dx = y, dz/dy = x.)
        gradient from above: 1.
        → input 0: local factor 3. → gradient 3.
        → input 1: not needed
    step 2: sum  (Sum over axes: y = Σ x; dy/dx = 1, so the gradient is broadcast back.)
        gradient from above: 3.
        → input 0: gradient [3.]  (a vector-Jacobian product: no per-element factor)
    step 3: mul  (Multiplication: z = x * y; dz/dx = y, dz/dy = x.)
        gradient from above: [3.]
        → input 0: local factor [2.] → gradient [6.]
        → input 1: local factor [2.] → gradient [6.]
    >>> x.grad  # 6 + 6: x is both inputs of the last step
    Tensor([12.])
    """
    if not loss.requires_grad:
        raise GraphError(
            "explain(): the tensor does not require grad, so there is no backward "
            "pass to explain; build it from Tensors with requires_grad=True."
        )
    shapes = {}  # the inputs are released by the walk: remember their shapes
    if loss._node is not None and loss._node.inputs is not None:
        for computed in engine.topological_order(loss):
            shapes[computed._node] = [tuple(t.shape) for t in computed._node.inputs]
    trace: list = []
    engine.backward(loss, gradient, retain_graph, trace=trace)
    steps = []
    for number, (node, upstream, input_grads) in enumerate(trace, 1):
        doc = (type(node).__doc__ or "").strip().splitlines()
        elementwise = _is_elementwise(node)
        grads = [
            None if g is None or not needed else np.asarray(_array(g))
            for g, needed in zip(input_grads, node.needs_input_grad)
        ]
        factors = [
            None if g is None or not elementwise else _local_factor(g, upstream.data)
            for g in grads
        ]
        steps.append(
            Step(
                number,
                node.op_name,
                doc[0] if doc else "no docstring",
                upstream.data,
                grads,
                factors,
                elementwise,
                shapes.get(node, []),
                node.scope,
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
        """Draw the V-curve (log-log, h growing to the right as on the tutorial's
        error-vs-h plot); save it to ``path`` if given; return the axes."""
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
    differences run in ``x``'s own dtype, so float32's V sits at far larger
    steps than float64's.

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
    with no_grad():
        for h in steps:
            shift = (h * direction).astype(data.dtype)
            plus = float(fn(Tensor(data + shift)).data)
            minus = float(fn(Tensor(data - shift)).data)
            errors.append(abs((plus - minus) / (2 * h) - backprop))
    return StepSweep(steps, np.array(errors), backprop, data.dtype)
