"""Numerical differentiation, and checks of backprop against it.

Central differences, (f(x+h) - f(x-h)) / 2h, have error O(h²) where the
forward difference (f(x+h) - f(x)) / h has O(h): at h = 1e-4 that is about
1e-8 instead of 1e-4. ``gradcheck`` works in float64, where eps = 1e-6 balances
that truncation error against rounding error (about 1e-16 / eps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tinygrad_edu.engine import grad
from tinygrad_edu.errors import DomainError, DTypeError, TinygradEduError
from tinygrad_edu.functional import concatenate
from tinygrad_edu.recording import enable_grad, no_grad
from tinygrad_edu.tensor import Tensor


class GradcheckError(TinygradEduError, AssertionError):
    """Backprop and the numerical derivative disagree."""


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference (f(x+h) - f(x-h)) / 2h: the derivative of f at x.

    >>> round(numerical_diff(lambda x: x**2, 3.0), 6)
    6.0
    """
    return (f(x + h) - f(x - h)) / (2 * h)


def numerical_gradient(
    f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-4
) -> np.ndarray:
    """Gradient of the scalar f at x (any shape), one element at a time.

    As in the book, ``f`` receives ``x`` itself, changed in place (``f`` may
    ignore its argument and read ``x`` through a closure, as ``net.loss``
    reads ``net.params``); each element is put back even if ``f`` raises.

    ``x`` must be a writable float64 (or wider) array. Because it is perturbed
    in place it cannot be widened behind your back, and in float32 ``x + h``
    loses the step (at x = 1e4 it rounds back to x and the gradient comes out
    0), so float16/float32 are refused with the fix: ``x.astype(np.float64)``.

    >>> numerical_gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0])).round(6)
    array([6., 8.])
    """
    if not isinstance(x, np.ndarray):
        raise DTypeError(
            f"numerical_gradient: x must be an ndarray (it is changed in place and "
            f"passed to f), got {type(x).__name__}; use np.asarray(x, dtype=float)."
        )
    if x.dtype.kind != "f":
        raise DTypeError(
            f"numerical_gradient: x has dtype {x.dtype}; it must be floating point. "
            f"x[i] + h on an integer array is truncated back to an integer, so the "
            f"'gradient' comes out wrong (e.g. 25000 instead of 6). Use "
            f"x.astype(float)."
        )
    if np.finfo(x.dtype).eps > np.finfo(np.float64).eps:
        raise DTypeError(
            f"numerical_gradient: x has dtype {x.dtype}; it must be float64. x is "
            f"perturbed in place (f may read it through a closure), and in "
            f"{x.dtype} x[i] + h rounds most of the step away (at x = 1e4, "
            f"1e4 + 1e-4 == 1e4, so the gradient of x**2 comes out 0 instead of "
            f"2e4). Use x.astype(np.float64), and let f read that float64 array "
            f"(e.g. net.params[key] = net.params[key].astype(np.float64))."
        )
    if not x.flags.writeable:
        raise DomainError(
            "numerical_gradient: x is read-only, but it is perturbed in place; "
            "pass a writable copy (x.copy())."
        )
    if not h > 0:
        raise DomainError(f"numerical_gradient: h must be positive, got {h}.")
    rows = _central_differences(lambda: _scalar(f(x), "numerical_gradient"), x, h)
    return rows.reshape(x.shape).astype(x.dtype, copy=False)


def _central_differences(
    evaluate: Callable[[], Any], x: np.ndarray, h: float
) -> np.ndarray:
    """Row j: (evaluate() at x + h·e_j - at x - h·e_j) / 2h, for each element j.

    ``x`` is changed in place, one element at a time, and every element is put
    back even if ``evaluate`` raises. Shape (x.size, *evaluate's shape).
    """
    rows = []
    for index in np.ndindex(x.shape):
        original = x[index]
        try:
            x[index] = original + h
            plus = np.asarray(evaluate(), dtype=np.float64)
            x[index] = original - h
            minus = np.asarray(evaluate(), dtype=np.float64)
        finally:
            x[index] = original
        rows.append((plus - minus) / (2 * h))
    return np.array(rows, dtype=np.float64)


def _scalar(value: Any, where: str) -> float:
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.size != 1:
        raise DomainError(
            f"{where}: f must return a scalar, it returned shape {array.shape}; "
            f"reduce it (e.g. .sum()) first."
        )
    return float(array.reshape(()))


# ---------------------------------------------------------------- gradcheck


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    fast_mode: bool = False,
    raise_exception: bool = True,
    directions: int = 3,
    seed: int = 0,
    blame: bool = True,
) -> bool:
    """Check backprop's Jacobian of ``fn`` against central differences, in float64.

    ``fn`` maps Tensors to a Tensor of any shape. Inputs that are float Tensors
    with ``requires_grad`` are checked; they are copied to float64 first, so
    the caller's arrays are never touched. A mismatch raises
    ``GradcheckError`` naming the input, the worst element, and both values.

    ``fast_mode`` compares ``directions`` random projections vᵀJu (u, v random
    unit vectors) instead of the full Jacobian: O(1) evaluations of ``fn``
    instead of one per input element, at the price of reporting *that* a
    gradient is wrong but not *which element*.

    It works inside ``no_grad()`` too: recording is switched on for the
    backprop side, so a correct op is never reported as having gradient 0.

    With ``blame`` (the default), a failure also re-checks each op of the
    graph on its own and names the first whose backward is wrong, with the
    line of your code that created it (see ``diagnostics.blame``).

    >>> from tinygrad_edu import Tensor
    >>> gradcheck(lambda x: (x * x).sum(), [Tensor([1.0, 2.0], requires_grad=True)])
    True
    """
    leaves = _float64_copies(inputs)
    checked = _checked_inputs(leaves, "gradcheck")
    # Backprop needs a recorded graph even when the caller is inside no_grad();
    # the numerical evaluations switch recording off again (_evaluate).
    with enable_grad():
        try:
            if fast_mode:
                _check_directions(
                    fn, leaves, checked, eps, atol, rtol, directions, seed
                )
            else:
                _check_jacobian(fn, leaves, checked, eps, atol, rtol)
        except GradcheckError as error:
            if not raise_exception:
                return False
            if blame:
                from tinygrad_edu.diagnostics import blame as find_culprit

                culprit = find_culprit(fn, inputs, eps=eps, atol=atol, rtol=rtol)
                if culprit:
                    raise GradcheckError(f"{error}\nThe cause: {culprit}") from None
            raise
    return True


def _checked_inputs(leaves: list[Tensor], where: str) -> list[int]:
    checked = [i for i, t in enumerate(leaves) if t.requires_grad]
    if not checked:
        raise DomainError(
            f"{where}: no input requires grad; pass Tensors created with "
            f"requires_grad=True."
        )
    return checked


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor,
    grad_outputs: Any = None,
    **kwargs: Any,
) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, v) -> vᵀJ.

    The first derivatives are computed with ``create_graph=True`` and then
    checked like any function, so every op's backward rule is itself verified
    as a differentiable function. ``grad_outputs`` (v) is random if omitted.
    It behaves like ``gradcheck`` at the edges: no input requiring grad is a
    ``DomainError``, and an ``fn`` that ignores its inputs passes.

    >>> from tinygrad_edu import Tensor
    >>> gradgradcheck(lambda x: (x**3).sum(), [Tensor([1.0, 2.0], requires_grad=True)])
    True
    """
    leaves = _float64_copies(inputs)
    checked = _checked_inputs(leaves, "gradgradcheck")
    with no_grad():
        output = fn(*leaves)
    _require_output(output)
    if grad_outputs is None:
        rng = np.random.default_rng(kwargs.get("seed", 0))
        grad_outputs = rng.standard_normal(output.shape)
    v = Tensor(np.array(grad_outputs, dtype=np.float64), requires_grad=True)

    def first_derivatives(*args: Tensor) -> Tensor:
        *xs, v = args
        with enable_grad():  # gradcheck evaluates under no_grad; backprop needs a graph
            out = fn(*xs)
            if isinstance(out, Tensor) and out.requires_grad:
                grads = grad(out, [xs[i] for i in checked], v, create_graph=True)
            else:  # fn ignores its inputs: every derivative is 0, as in gradcheck
                grads = [None] * len(checked)
        flat = [
            g.reshape(-1) if g is not None else Tensor(np.zeros(xs[i].size))
            for i, g in zip(checked, grads)
        ]
        return flat[0] if len(flat) == 1 else concatenate(flat)

    return gradcheck(first_derivatives, [*leaves, v], **kwargs)


def _float64_copies(inputs: Sequence[Any] | Tensor) -> list[Tensor]:
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    copies = []
    for x in inputs:
        tensor = x if isinstance(x, Tensor) else Tensor(x)
        if tensor.dtype.kind == "f":
            copies.append(
                Tensor(
                    tensor.data.astype(np.float64),
                    tensor.requires_grad,
                    name=tensor.name,
                )
            )
        else:
            copies.append(Tensor(tensor.data.copy()))
    return copies


def _evaluate(fn: Callable[..., Tensor], leaves: list[Tensor]) -> np.ndarray:
    with no_grad():
        out = fn(*leaves)
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64)


def _numerical_jacobian(fn, leaves, i: int, eps: float, out_size: int) -> np.ndarray:
    """Rows d out / d x_i[j] by central differences: shape (x_i.size, out.size)."""
    rows = _central_differences(lambda: _evaluate(fn, leaves), leaves[i].data, eps)
    return rows.reshape(leaves[i].size, out_size)


def _analytic_jacobian(fn, leaves, checked) -> list[np.ndarray]:
    """Rows vᵀJ for each one-hot v by backprop: (x_i.size, out.size) per input."""
    output = fn(*leaves)
    _require_output(output)
    jacobians = [np.zeros((leaves[i].size, output.size)) for i in checked]
    if not output.requires_grad:  # fn does not depend on its inputs
        return jacobians
    for k in range(output.size):
        one_hot = np.zeros(output.size)
        one_hot[k] = 1.0
        grads = grad(
            output,
            [leaves[i] for i in checked],
            one_hot.reshape(output.shape),
            retain_graph=True,
        )
        for jacobian, i, g in zip(jacobians, checked, grads):
            if g is not None:
                _check_gradient_shape(g, leaves[i], i)
                jacobian[:, k] = g.data.reshape(-1)
    return jacobians


def _check_jacobian(fn, leaves, checked, eps, atol, rtol) -> None:
    analytic = _analytic_jacobian(fn, leaves, checked)
    for i, a in zip(checked, analytic):
        n = _numerical_jacobian(fn, leaves, i, eps, a.shape[1])
        excess = np.abs(a - n) - (atol + rtol * np.abs(n))
        excess[np.isnan(excess)] = np.inf  # a NaN on either side is a failure
        if excess.size and excess.max() > 0:
            j, k = np.unravel_index(np.argmax(excess), excess.shape)
            element = np.unravel_index(j, leaves[i].shape)
            raise GradcheckError(
                f"gradcheck: backprop and central differences disagree for "
                f"{_describe_input(leaves, i)} at element {tuple(map(int, element))}"
                f" (output element {int(k)}): analytic {a[j, k]:.10g}, numerical "
                f"{n[j, k]:.10g}, difference {abs(a[j, k] - n[j, k]):.3g} > "
                f"atol + rtol*|numerical| = {atol + rtol * abs(n[j, k]):.3g}."
            )


def _check_directions(fn, leaves, checked, eps, atol, rtol, directions, seed) -> None:
    rng = np.random.default_rng(seed)
    output = fn(*leaves)
    _require_output(output)
    probes = []  # (v, u, vᵀJu by backprop), all before any input is perturbed
    for _ in range(directions):
        # Unit vectors: the step eps·u then has length eps whatever the input
        # size, so truncation and rounding error match the elementwise check.
        v = _unit([rng.standard_normal(output.shape)])[0]
        u = _unit([rng.standard_normal(leaves[i].shape) for i in checked])
        if output.requires_grad:
            grads = grad(output, [leaves[i] for i in checked], v, retain_graph=True)
        else:
            grads = [None] * len(checked)
        analytic = 0.0
        for i, g, direction in zip(checked, grads, u):
            if g is not None:
                _check_gradient_shape(g, leaves[i], i)
                analytic += float(np.sum(g.data * direction))
        probes.append((v, u, analytic))
    del output  # its graph keeps the inputs read-only while it lives
    for v, u, analytic in probes:
        originals = [leaves[i].data.copy() for i in checked]
        try:
            for i, direction in zip(checked, u):
                leaves[i].data += eps * direction
            plus = _evaluate(fn, leaves)
            for i, direction in zip(checked, u):
                leaves[i].data -= 2 * eps * direction
            minus = _evaluate(fn, leaves)
        finally:
            for i, original in zip(checked, originals):
                leaves[i].data[...] = original
        numerical = float(np.sum(v * (plus - minus) / (2 * eps)))
        if not abs(analytic - numerical) <= atol + rtol * abs(numerical):
            raise GradcheckError(
                f"gradcheck (fast_mode): the directional derivative vᵀJu disagrees: "
                f"analytic {analytic:.10g}, numerical {numerical:.10g}, difference "
                f"{abs(analytic - numerical):.3g} over inputs "
                f"{', '.join(_describe_input(leaves, i) for i in checked)}. Run "
                f"without fast_mode to find the element."
            )


def _unit(parts: list[np.ndarray]) -> list[np.ndarray]:
    """Scale the parts of one vector together to Euclidean length 1."""
    norm = np.sqrt(sum(float(np.sum(p * p)) for p in parts))
    return [p / norm for p in parts] if norm > 0 else parts


def _require_output(output: Any) -> None:
    if not isinstance(output, Tensor):
        raise DTypeError(
            f"gradcheck: fn must return a Tensor, it returned {type(output).__name__}."
        )


def _check_gradient_shape(g: Tensor, x: Tensor, i: int) -> None:
    if g.shape != x.shape:
        raise GradcheckError(
            f"gradcheck: the gradient of input {i} has shape {g.shape}, but the "
            f"input has shape {x.shape}."
        )


def _describe_input(leaves: list[Tensor], i: int) -> str:
    name = f" '{leaves[i].name}'" if leaves[i].name else ""
    return f"input {i}{name} of shape {leaves[i].shape}"
