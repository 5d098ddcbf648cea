"""Numerical differentiation, and checks of backprop against it.

Central differences, (f(x+h) - f(x-h)) / 2h, have error O(h²) where the
forward difference (f(x+h) - f(x)) / h has O(h): at h = 1e-4 that is about
1e-8 instead of 1e-4. ``gradcheck`` works in float64, where eps = 1e-6 balances
that truncation error against rounding error (about 1e-16 / eps).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinygrad_edu.engine import grad
from tinygrad_edu.errors import DomainError, DTypeError, TinygradEduError
from tinygrad_edu.functional import concatenate
from tinygrad_edu.recording import enable_grad, no_grad
from tinygrad_edu.tensor import Tensor


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
    plus, minus = _evaluations_around(evaluate, x, h)
    return (plus - minus) / (2 * h)


def _scalar(value: Any, where: str) -> float:
    array = value.data if isinstance(value, Tensor) else np.asarray(value)
    if array.size != 1:
        raise DomainError(
            f"{where}: f must return a scalar, it returned shape {array.shape}; "
            f"reduce it (e.g. .sum()) first."
        )
    return float(array.reshape(()))


# ---------------------------------------------------------------- gradcheck

#: The full check's absolute tolerance per Jacobian element.
DEFAULT_ATOL = 1e-5
#: A full check holds (input elements × output elements) matrices; above this
#: many bytes it is refused before anything is allocated, pointing at the
#: cheap modes (``gradgradcheck`` of n parameters needs about 40·n² bytes).
FULL_CHECK_MAX_BYTES = 2**28
#: What ``gradcheck`` does at a kink: raise ``KinkError`` or skip the element.
KINKS = ("raise", "skip")


class GradcheckError(TinygradEduError, AssertionError):
    """Backprop and the numerical derivative disagree."""


class KinkError(GradcheckError):
    """The point sits at a kink of ``fn`` (relu at 0, max at a tie): the slopes
    from the left and from the right differ, so there is no derivative to check
    and the central difference is only their mean. Not a wrong gradient: move
    the point off the kink, or pass ``kinks="skip"``."""


@dataclass
class _Probe:
    """One comparison of backprop with central differences.

    ``element`` is None for a random direction (``fast_mode``), ``output`` None
    when the output was projected on a random vector v (``fast_mode``,
    ``sample``). ``left``/``right`` are the one-sided slopes; ``kink`` is set
    when they differ by more than shrinking the step explains.
    """

    input: int
    element: tuple[int, ...] | None
    output: int | None
    analytic: float
    numerical: float = 0.0
    threshold: float = 0.0
    tolerance: str = "atol + rtol*|numerical|"
    left: float = 0.0
    right: float = 0.0
    kink: bool = False

    @property
    def ratio(self) -> float:
        """The difference as a fraction of the threshold: above 1 fails."""
        difference = abs(self.analytic - self.numerical)
        if np.isnan(difference):
            return np.inf
        if self.threshold > 0:
            return difference / self.threshold
        return np.inf if difference > 0 else 0.0


@dataclass
class _Outcome:
    """What one check found: the first wrong probe, the first kink (when kinks
    raise), and the passing probe that came closest to its threshold (for
    ``blame``)."""

    failure: _Probe | None = None
    kink: _Probe | None = None
    closest: _Probe | None = None

    def note(self, probe: _Probe) -> None:
        """Keep the probe that came closest to its threshold without passing it."""
        if probe.ratio <= 1 and (
            self.closest is None or probe.ratio > self.closest.ratio
        ):
            self.closest = probe


@dataclass(frozen=True)
class _Options:
    where: str
    eps: float
    atol: list[float] | None  # per input; None: DEFAULT_ATOL, or 0 when projected
    rtol: list[float]
    fast_mode: bool
    sample: int | None
    directions: int
    kinks: str
    seed: int
    max_bytes: float

    @property
    def projected(self) -> bool:
        return self.fast_mode or self.sample is not None


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor,
    *,
    eps: float = 1e-6,
    atol: float | Sequence[float] | None = None,
    rtol: float | Sequence[float] = 1e-3,
    fast_mode: bool = False,
    sample: int | None = None,
    directions: int = 3,
    kinks: str = "raise",
    raise_exception: bool = True,
    seed: int = 0,
    blame: bool = True,
    max_bytes: float = FULL_CHECK_MAX_BYTES,
) -> bool:
    """Check backprop's Jacobian of ``fn`` against central differences, in float64.

    ``fn`` maps Tensors to a Tensor of any shape. Inputs that are float Tensors
    with ``requires_grad`` are checked; they are copied to float64 first, so
    the caller's arrays are never touched. A mismatch raises
    ``GradcheckError`` naming the input, the element and its value, both
    derivatives and the threshold they were held to.

    Three ways to check, from thorough to cheap:

    - the full Jacobian (default): every element of every input against every
      output element, each within ``atol + rtol*|numerical|`` (``atol``
      defaults to 1e-5). Two evaluations of ``fn`` per input element, so it
      is refused above ``max_bytes`` of matrices, before allocating them.
    - ``sample=k``: k random elements per input, each against the gradient of
      vᵀ·output for a random v: a failure still names the element.
    - ``fast_mode``: ``directions`` random unit directions *per input*, each
      compared as vᵀJu. Costs a few evaluations whatever the size; says which
      input is wrong, not which element (add ``sample=k`` for that).

    The projected checks (``sample``, ``fast_mode``) use a relative tolerance,
    ``rtol*max(|analytic|, |numerical|)`` plus the numerical value's own
    error (estimated from a second step 2·eps and from rounding), plus
    ``atol`` only if you give one: a directional derivative can be far
    smaller than any one element, and an absolute floor made for one element
    would hide a gradient that is 10 times too small.

    ``atol`` and ``rtol`` are numbers, or one number per input.

    At a kink (relu at 0, max at a tie) there is no derivative: the slopes
    from the left and right differ and the central difference is their mean.
    A disagreement there raises ``KinkError`` saying so (and which op has the
    kink), never a wrong-gradient report; ``kinks="skip"`` skips such
    elements instead, for model-level tests that may land on a kink.

    It works inside ``no_grad()`` too: recording is switched on for the
    backprop side, so a correct op is never reported as having gradient 0.

    With ``blame`` (the default), a failure also re-checks each op of the
    graph on its own and names the one whose backward is wrong, with the line
    of your code that created it (see ``diagnostics.blame``).

    >>> from tinygrad_edu import Tensor
    >>> gradcheck(lambda x: (x * x).sum(), [Tensor([1.0, 2.0], requires_grad=True)])
    True
    """
    outcome, leaves, options = _first_order_check(
        fn,
        inputs,
        eps=eps,
        atol=atol,
        rtol=rtol,
        fast_mode=fast_mode,
        sample=sample,
        directions=directions,
        kinks=kinks,
        seed=seed,
        max_bytes=max_bytes,
    )
    if outcome.failure is None and outcome.kink is None:
        return True
    if not raise_exception:
        return False
    if outcome.failure is None:
        raise KinkError(_kink_message(fn, inputs, leaves, outcome.kink))
    heading = "gradcheck" + (
        f" ({', '.join(_modes(options))})" if _modes(options) else ""
    )
    message = f"{heading}: {_describe_failure(outcome.failure, leaves)}"
    if blame:
        message += _cause(fn, inputs, message, order=1, options=options)
    raise GradcheckError(message)


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any] | Tensor,
    grad_outputs: Any = None,
    **kwargs: Any,
) -> bool:
    """Check second derivatives: gradcheck of the map (inputs, v) -> vᵀJ.

    The first derivatives are computed with ``create_graph=True`` and then
    checked like any function, so every op's backward rule is itself verified
    as a differentiable function. ``grad_outputs`` (v, the upstream gradient)
    is random if omitted. It takes gradcheck's keywords: ``fast_mode=True``
    is the directional second-order check (vᵀ·H·u along random directions,
    the memory of one gradient), where the full check needs matrices of
    (parameters)² and is refused above ``max_bytes``. It behaves like
    ``gradcheck`` at the edges: no input requiring grad is a ``DomainError``,
    and an ``fn`` that ignores its inputs passes.

    A failure says "second derivative (gradgradcheck)", which derivative of
    which first derivative disagrees, and, when backprop's value is exactly 0,
    the usual cause: a backward that is not recorded (it computes on
    ``.data``, returns an ndarray, or uses an array saved in forward that is
    neither an input nor the output).

    >>> from tinygrad_edu import Tensor
    >>> gradgradcheck(lambda x: (x**3).sum(), [Tensor([1.0, 2.0], requires_grad=True)])
    True
    """
    blame = kwargs.pop("blame", True)
    raise_exception = kwargs.pop("raise_exception", True)
    outcome, leaves, checked, options = _second_order_check(
        fn, inputs, grad_outputs, **kwargs
    )
    heading = f"second derivative ({', '.join(['gradgradcheck', *_modes(options)])})"
    if outcome.failure is None and outcome.kink is None:
        *xs, v = leaves
        differs = _recorded_differs(fn, xs, checked, v)
        if differs is None:
            return True
        if not raise_exception:
            return False
        raise GradcheckError(f"{heading}: {differs}")
    if not raise_exception:
        return False
    if outcome.failure is None:
        raise KinkError(
            f"{heading}: {_first_derivative(outcome.kink, leaves, checked)} has a "
            f"kink or a jump here. {_kink_sentence(outcome.kink, leaves)}"
        )
    message = f"{heading}: {_describe_second_order(outcome.failure, leaves, checked)}"
    if blame:
        message += _cause(fn, inputs, message, order=2, options=options)
    raise GradcheckError(message)


# ------------------------------------------------------------ the comparison


def _first_order_check(
    fn: Callable[..., Tensor], inputs: Any, **keywords: Any
) -> tuple[_Outcome, list[Tensor], _Options]:
    """gradcheck's comparison, without raising: what it found, and on what."""
    leaves = _float64_copies(inputs)
    checked = _checked_inputs(leaves, "gradcheck")
    options = _options("gradcheck", leaves, **keywords)
    with np.errstate(all="ignore"):  # a NaN or inf is refused just below
        values = _evaluate(fn, leaves)
    _require_finite("gradcheck", leaves, values)
    return _compare(fn, leaves, checked, options), leaves, options


def _second_order_check(
    fn: Callable[..., Tensor], inputs: Any, grad_outputs: Any, **keywords: Any
) -> tuple[_Outcome, list[Tensor], list[int], _Options]:
    """gradgradcheck's comparison, without raising: the first derivatives'
    map (inputs, v) -> vᵀJ checked like any function. The inputs it returns
    end with v, the upstream gradient."""
    leaves = _float64_copies(inputs)
    checked = _checked_inputs(leaves, "gradgradcheck")
    with no_grad(), np.errstate(all="ignore"):  # a NaN or inf is refused below
        output = fn(*leaves)
    _require_output(output)
    _require_finite("gradgradcheck", leaves, output.data)
    if grad_outputs is None:
        rng = np.random.default_rng(keywords.get("seed", 0))
        grad_outputs = rng.standard_normal(output.shape)
    v = Tensor(np.array(grad_outputs, dtype=np.float64), requires_grad=True, name="v")

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

    extended = [*leaves, v]
    for name in ("atol", "rtol"):  # one per input of fn: v gets the largest
        given = keywords.get(name)
        if isinstance(given, (list, tuple)) and len(given) == len(leaves):
            keywords[name] = (*given, max(given, default=0.0))
    options = _options("gradgradcheck", extended, **keywords)
    outcome = _compare(first_derivatives, extended, [*checked, len(leaves)], options)
    return outcome, extended, checked, options


def _recorded_differs(
    fn: Callable[..., Tensor], xs: list[Tensor], checked: list[int], v: Tensor
) -> str | None:
    """How backprop's first derivative recorded with ``create_graph=True``
    differs from the one ``backward()`` gives, or None. The second-order
    comparison differentiates the recorded one only: a rule that computes
    another value when recorded (a wrong recompute given to ``ctx.reuse``)
    would pass it."""
    with enable_grad():
        output = fn(*xs)
        if not (isinstance(output, Tensor) and output.requires_grad):
            return None  # fn ignores its inputs: both derivatives are 0
        wanted = [xs[i] for i in checked]
        plain = grad(output, wanted, v.data)
        recorded = grad(fn(*xs), wanted, v, create_graph=True)
    for i, p, r in zip(checked, plain, recorded):
        p = np.zeros(xs[i].shape) if p is None else p.data
        r = np.zeros(xs[i].shape) if r is None else r.data
        scale = max(float(np.max(np.abs(p), initial=0.0)), 1e-300)
        if not np.allclose(r, p, rtol=1e-6, atol=1e-9 * scale):
            at = _index(int(np.argmax(np.abs(r - p))), p.shape)
            return (
                f"input {i}'s first derivative recorded with create_graph=True is "
                f"{r[at]:.6g} at {at}, backward() gives {p[at]:.6g}. The backward "
                f"rule computes another value when it is recorded (a recompute "
                f"given to ctx.reuse, a branch on grad mode), so the second "
                f"derivatives of the recorded one mean nothing until they agree."
            )
    return None


def _options(
    where: str,
    leaves: list[Tensor],
    *,
    eps: float = 1e-6,
    atol: float | Sequence[float] | None = None,
    rtol: float | Sequence[float] = 1e-3,
    fast_mode: bool = False,
    sample: int | None = None,
    directions: int = 3,
    kinks: str = "raise",
    seed: int = 0,
    max_bytes: float = FULL_CHECK_MAX_BYTES,
) -> _Options:
    """The keywords of a check, validated: a mistake is an error, not ignored."""
    if not eps > 0:
        raise DomainError(f"{where}: eps must be positive, got {eps!r}.")
    if sample is not None and not (_is_count(sample) and sample >= 1):
        raise DomainError(
            f"{where}: sample is how many elements to check per input, a whole "
            f"number of at least 1 (or None for no sampling), got {sample!r}."
        )
    if not (_is_count(directions) and directions >= 1):
        raise DomainError(
            f"{where}: directions is how many random directions per input "
            f"fast_mode checks, a whole number of at least 1, got {directions!r}."
        )
    if kinks not in KINKS:
        raise DomainError(
            f"{where}: kinks must be one of {KINKS} (what to do where the one-sided "
            f"slopes differ), got {kinks!r}."
        )
    return _Options(
        where,
        eps,
        None if atol is None else _per_input(where, "atol", atol, leaves),
        _per_input(where, "rtol", rtol, leaves),
        bool(fast_mode),
        None if sample is None else int(sample),
        int(directions),
        kinks,
        seed,
        max_bytes,
    )


def _is_count(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _per_input(where: str, name: str, value: Any, leaves: list[Tensor]) -> list[float]:
    """A tolerance as one number per input: a number is used for every input,
    a sequence must hold exactly one per input (never broadcast silently)."""
    count = len(leaves)
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    ):
        values = [float(value)] * count
    elif (
        isinstance(value, (list, tuple))
        and len(value) == count
        and all(isinstance(v, (int, float, np.integer, np.floating)) for v in value)
    ):
        values = [float(v) for v in value]
    else:
        names = ", ".join(_describe_input(leaves, i) for i in range(count))
        raise DomainError(
            f"{where}: {name} must be a number, or a list of one number per input "
            f"({count}: {names}); got {value!r}."
        )
    if not all(v >= 0 for v in values):
        raise DomainError(f"{where}: {name} must not be negative, got {value!r}.")
    return values


def _modes(options: _Options) -> list[str]:
    modes = ["fast_mode"] if options.fast_mode else []
    return modes + ([f"sample={options.sample}"] if options.sample else [])


def _compare(
    fn: Callable[..., Tensor],
    leaves: list[Tensor],
    checked: list[int],
    options: _Options,
) -> _Outcome:
    """Backprop against central differences, as the options say."""
    outcome = _Outcome()
    # Backprop needs a recorded graph even when the caller is inside no_grad();
    # the numerical evaluations switch recording off again (_evaluate).
    with enable_grad():
        if options.projected:
            _compare_projections(fn, leaves, checked, options, outcome)
        else:
            _compare_jacobians(fn, leaves, checked, options, outcome)
    return outcome


def _compare_jacobians(fn, leaves, checked, options: _Options, outcome) -> None:
    """Every element of each checked input against every output element."""
    analytic = _analytic_jacobian(fn, leaves, checked, options)
    base = _evaluate(fn, leaves).reshape(-1)
    for i, a in zip(checked, analytic):
        if not _compare_jacobian(fn, leaves, i, a, base, options, outcome):
            return


def _compare_jacobian(fn, leaves, i: int, a, base, options: _Options, outcome) -> bool:
    """Input i's rows of the Jacobian; returns whether to go on to the next."""
    h = options.eps
    plus, minus = _evaluations_around(lambda: _evaluate(fn, leaves), leaves[i].data, h)
    plus, minus = plus.reshape(a.shape), minus.reshape(a.shape)
    numerical = (plus - minus) / (2 * h)
    atol = DEFAULT_ATOL if options.atol is None else options.atol[i]
    # An output far bigger than the derivative asked of it (x ** -8 summed
    # into one element) leaves central differences only rounding to go on.
    rounding = _rounding_error(np.abs(base), h)
    threshold = atol + options.rtol[i] * np.abs(numerical) + rounding
    ratio = _ratios(np.abs(a - numerical), threshold)
    if not ratio.size:
        return True

    def probe(flat: int) -> _Probe:
        j, k = divmod(int(flat), a.shape[1])
        return _Probe(
            i,
            _index(j, leaves[i].shape),
            k,
            float(a[j, k]),
            float(numerical[j, k]),
            float(threshold[j, k]),
            tolerance=f"atol + rtol*|numerical| + rounding {rounding[k]:.2g}",
            left=float((base[k] - minus[j, k]) / h),
            right=float((plus[j, k] - base[k]) / h),
        )

    @functools.cache
    def shifted(j: int, t: float) -> np.ndarray:
        return _shifted(fn, leaves, i, _one_hot(leaves[i], j), t).reshape(-1)

    outcome.note(probe(int(np.argmax(np.where(ratio <= 1, ratio, -1.0)))))
    failing = np.flatnonzero(ratio > 1)
    for flat in failing[np.argsort(-ratio.flat[failing], kind="stable")]:
        j, k = divmod(int(flat), a.shape[1])
        phi = functools.partial(lambda t, j, k: shifted(j, t)[k], j=j, k=k)
        if not _settle(probe(flat), phi, base[k], options, outcome):
            return False
    return True


def _ratios(difference: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """difference / threshold, inf where a NaN or a zero threshold makes any
    difference a failure."""
    ratio = np.where(difference > 0, np.inf, 0.0)
    np.divide(difference, threshold, out=ratio, where=threshold > 0)
    ratio[np.isnan(ratio) | np.isnan(difference) | np.isnan(threshold)] = np.inf
    return ratio


def _compare_projections(fn, leaves, checked, options: _Options, outcome) -> None:
    """Sampled elements and random directions, each projected on a random v."""
    rng = np.random.default_rng(options.seed)
    output = fn(*leaves)
    _require_output(output)
    probes = []  # (probe, direction, v), all before any input is perturbed
    for round_ in range(options.directions if options.fast_mode else 1):
        v = _unit([rng.standard_normal(output.shape)])[0]
        for i, g in zip(checked, _vector_jacobian(output, leaves, checked, v)):
            if options.sample and round_ == 0:
                count = min(options.sample, leaves[i].size)
                for flat in rng.choice(leaves[i].size, count, replace=False):
                    element = _index(flat, leaves[i].shape)
                    probe = _Probe(i, element, None, float(g[element]))
                    probes.append((probe, _one_hot(leaves[i], flat), v))
            if options.fast_mode:
                # Unit vectors: the step eps·u then has length eps whatever the
                # input's size, so the error matches the elementwise check's.
                u = _unit([rng.standard_normal(leaves[i].shape)])[0]
                probes.append((_Probe(i, None, None, float(np.sum(g * u))), u, v))
    del output  # its graph keeps the inputs read-only while it lives
    base = _evaluate(fn, leaves)
    probes.sort(key=lambda entry: entry[0].element is None)  # elements name a place
    for probe, direction, v in probes:

        def phi(t: float, probe=probe, direction=direction, v=v) -> float:
            return float(np.sum(v * _shifted(fn, leaves, probe.input, direction, t)))

        phi0 = float(np.sum(v * base))
        _measure(probe, phi, phi0, float(np.sum(np.abs(v * base))), options)
        outcome.note(probe)
        if probe.ratio > 1 and not _settle(probe, phi, phi0, options, outcome):
            return


def _measure(probe: _Probe, phi, phi0: float, size: float, options: _Options) -> None:
    """The numerical side of a projected probe and its threshold.

    The central difference's truncation error falls like step², so the
    difference between the steps eps and 2·eps estimates it; rounding adds
    about machine epsilon times the values over the step.
    """
    h = options.eps
    values = {t: phi(t) for t in (-2 * h, -h, h, 2 * h)}
    numerical = (values[h] - values[-h]) / (2 * h)
    wider = (values[2 * h] - values[-2 * h]) / (4 * h)
    error = abs(numerical - wider) + _rounding_error(size, h)
    atol = 0.0 if options.atol is None else options.atol[probe.input]
    relative = options.rtol[probe.input] * max(abs(probe.analytic), abs(numerical))
    probe.numerical = numerical
    probe.threshold = atol + relative + error
    probe.tolerance = (
        f"rtol*max(|analytic|, |numerical|) + the numerical error {error:.2g}"
        + (" + atol" if atol else "")
    )
    probe.left = (phi0 - values[-h]) / h
    probe.right = (values[h] - phi0) / h


def _rounding_error(size, h: float):
    """The error rounding leaves in a central difference of values of ``size``
    with step ``h``: a generous multiple of machine epsilon, over the step."""
    return 100 * np.finfo(np.float64).eps * size / h


def _settle(probe: _Probe, phi, phi0: float, options: _Options, outcome) -> bool:
    """Decide a probe beyond its threshold, looking again with a step of eps/4.

    If the central difference then agrees, the disagreement was the step's
    own error (near a kink of a higher derivative, as of relu(x)² at 0). If
    the one-sided slopes stay apart, the point is at a kink of fn: noted as
    the outcome's kink (or skipped). Otherwise the gradient is wrong: the
    outcome's failure. Returns whether to keep looking.
    """
    step = options.eps / 4
    left, right = (phi0 - phi(-step)) / step, (phi(step) - phi0) / step
    if abs(probe.analytic - (left + right) / 2) <= probe.threshold:
        return True
    # A smooth function's one-sided slopes close in as the step shrinks (their
    # gap is about step·f''); at a kink the gap stays, at a jump it grows.
    gap = abs(probe.right - probe.left)
    probe.kink = gap > probe.threshold and abs(right - left) > gap / 2
    if not probe.kink:
        outcome.failure = probe
        return False
    if options.kinks == "raise" and outcome.kink is None:
        outcome.kink = probe
    return True


def _vector_jacobian(
    output: Tensor, leaves: list[Tensor], checked: list[int], v: np.ndarray
) -> list[np.ndarray]:
    """Backprop's gradient of vᵀ·output for each checked input (0 where none)."""
    if not output.requires_grad:  # fn does not depend on its inputs
        return [np.zeros(leaves[i].shape) for i in checked]
    grads = grad(output, [leaves[i] for i in checked], v, retain_graph=True)
    arrays = []
    for i, g in zip(checked, grads):
        if g is None:
            arrays.append(np.zeros(leaves[i].shape))
        else:
            _check_gradient_shape(g, leaves[i], i)
            arrays.append(g.data)
    return arrays


def _analytic_jacobian(fn, leaves, checked, options: _Options) -> list[np.ndarray]:
    """Rows vᵀJ for each one-hot v by backprop: (x_i.size, out.size) per input."""
    output = fn(*leaves)
    _require_output(output)
    _refuse_if_too_big(leaves, checked, output.size, options)
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


def _refuse_if_too_big(leaves, checked, out_size: int, options: _Options) -> None:
    sizes = [leaves[i].size for i in checked]
    # the analytic Jacobians, then per input: plus, minus, numerical, difference
    needed = 8 * out_size * (sum(sizes) + 4 * max(sizes))
    if needed > options.max_bytes:
        raise DomainError(
            f"{options.where}: the full check compares Jacobians of {sum(sizes):,} "
            f"input elements × {out_size:,} output elements, about "
            f"{needed / 2**30:.3g} GiB of float64 (max_bytes is "
            f"{options.max_bytes / 2**30:.3g} GiB), so it is refused before "
            f"allocating. Use fast_mode=True (random directions per input: a few "
            f"evaluations, the memory of one gradient) or sample=k (k elements "
            f"per input, named when wrong), or raise max_bytes."
        )


def _evaluations_around(
    evaluate: Callable[[], Any], x: np.ndarray, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """evaluate() at x + h·e_j and at x - h·e_j for each element j, changing
    ``x`` in place and putting every element back even if ``evaluate`` raises.
    Two arrays of shape (x.size, *evaluate's shape)."""
    plus, minus = [], []
    for index in np.ndindex(x.shape):
        original = x[index]
        try:
            x[index] = original + h
            plus.append(np.asarray(evaluate(), dtype=np.float64))
            x[index] = original - h
            minus.append(np.asarray(evaluate(), dtype=np.float64))
        finally:
            x[index] = original
    return np.array(plus, dtype=np.float64), np.array(minus, dtype=np.float64)


def _shifted(fn, leaves: list[Tensor], i: int, direction: np.ndarray, t: float):
    """fn's output with input i moved by t·direction (and put back after)."""
    x = leaves[i].data
    original = x.copy()
    try:
        np.add(original, t * direction, out=x)
        return _evaluate(fn, leaves)
    finally:
        x[...] = original


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(n) for n in np.unravel_index(int(flat), shape))


def _one_hot(leaf: Tensor, flat: int) -> np.ndarray:
    e = np.zeros(leaf.size)
    e[int(flat)] = 1.0
    return e.reshape(leaf.shape)


def _float64_copies(inputs: Sequence[Any] | Tensor) -> list[Tensor]:
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    copies: list[Tensor] = []
    made: dict[int, Tensor] = {}  # one Tensor passed twice (f(x, x)) stays one
    for x in inputs:
        if id(x) in made:
            copies.append(made[id(x)])
            continue
        tensor = x if isinstance(x, Tensor) else Tensor(x)
        if tensor.dtype.kind == "f":
            copy = Tensor(
                tensor.data.astype(np.float64), tensor.requires_grad, name=tensor.name
            )
        else:
            copy = Tensor(tensor.data.copy())
        made[id(x)] = copy
        copies.append(copy)
    return copies


def _checked_inputs(leaves: list[Tensor], where: str) -> list[int]:
    checked = [i for i, t in enumerate(leaves) if t.requires_grad]
    if not checked:
        raise DomainError(
            f"{where}: no input requires grad; pass Tensors created with "
            f"requires_grad=True."
        )
    return checked


def _evaluate(fn: Callable[..., Tensor], leaves: list[Tensor]) -> np.ndarray:
    with no_grad():
        out = fn(*leaves)
    return np.array(out.data if isinstance(out, Tensor) else out, dtype=np.float64)


def _unit(parts: list[np.ndarray]) -> list[np.ndarray]:
    """Scale the parts of one vector together to Euclidean length 1."""
    norm = np.sqrt(sum(float(np.sum(p * p)) for p in parts))
    return [p / norm for p in parts] if norm > 0 else parts


def _require_finite(where: str, leaves: list[Tensor], output: np.ndarray) -> None:
    """Refuse a point where the inputs or fn's values are NaN or inf: central
    differences of such values say nothing, and a NaN compares as no failure."""
    for what, array in [
        *((f"input {i}", x.data) for i, x in enumerate(leaves)),
        ("fn's output", np.asarray(output, dtype=np.float64)),
    ]:
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            element = _index(int(bad[0]), array.shape)
            raise DomainError(
                f"{where}: {what} holds {array.flat[bad[0]]} at {element} "
                f"({bad.size} value(s) not finite); a derivative cannot be checked "
                f"where the function is not finite. Choose inputs inside its "
                f"domain (log and sqrt need x > 0, for example)."
            )


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


# ---------------------------------------------------------------- messages


def _describe_input(leaves: list[Tensor], i: int) -> str:
    name = f" '{leaves[i].name}'" if leaves[i].name else ""
    return f"input {i}{name} of shape {leaves[i].shape}"


def _where(probe: _Probe, inputs: list[Tensor]) -> str:
    """The input and element a probe perturbed, with the element's value."""
    return _describe_input(inputs, probe.input) + _at(probe, inputs)


def _at(probe: _Probe, inputs: list[Tensor]) -> str:
    if probe.element is None:
        return ", along a random unit direction u"
    value = inputs[probe.input].data[probe.element]
    return f" at element {probe.element} (value {value:.6g})"


def _numbers(probe: _Probe) -> str:
    difference = abs(probe.analytic - probe.numerical)
    beyond = ">" if probe.ratio > 1 else "<="
    return (
        f"analytic {probe.analytic:.10g}, numerical {probe.numerical:.10g}, "
        f"difference {difference:.3g} {beyond} {probe.tolerance} = "
        f"{probe.threshold:.3g}"
    )


def _disagree(probe: _Probe) -> str:
    return "disagree" if probe.ratio > 1 else "differ, within the threshold,"


def _describe_failure(probe: _Probe, leaves: list[Tensor]) -> str:
    where = _where(probe, leaves)
    if probe.element is None:
        return (
            f"the directional derivative vᵀJu of {where} "
            f"{'disagrees' if probe.ratio > 1 else 'is within the threshold'}: "
            f"{_numbers(probe)}. Pass sample=k to name an element, or run the "
            f"full check on a smaller input."
        )
    projected = (
        f"output element {probe.output}"
        if probe.output is not None
        else "in the gradient of vᵀ·output for a random unit v"
    )
    return (
        f"backprop and central differences {_disagree(probe)} for {where}, "
        f"{projected}: "
        f"{_numbers(probe)}."
    )


def _kink_sentence(probe: _Probe, leaves: list[Tensor]) -> str:
    output = "" if probe.output is None else f" (output element {probe.output})"
    return (
        f"{_where(probe, leaves)} sits at a kink: the slope from the left is "
        f"{probe.left:.6g} and from the right {probe.right:.6g}{output}, so the "
        f"central difference {probe.numerical:.6g} is their mean, not a "
        f"derivative (backprop gives {probe.analytic:.6g})."
    )


def _kink_message(fn, inputs, leaves: list[Tensor], probe: _Probe) -> str:
    from tinygrad_edu.diagnostics import nearest_kink

    found = nearest_kink(fn, inputs)
    culprit = (
        f" The kink: {found}."
        if found
        else " No op of the graph declares a kink there (an op of your own "
        "declares its kinks with a domain such as AWAY_FROM(0))."
    )
    return (
        f"gradcheck: {_kink_sentence(probe, leaves)}{culprit} This is not a "
        f"wrong gradient: no derivative exists at a kink. Move the point off it "
        f"(data or weights that are not exactly 0, values without ties), or pass "
        f'kinks="skip" to skip such elements.'
    )


def _first_derivative(probe: _Probe, leaves: list[Tensor], checked: list[int]) -> str:
    """Which first derivative an output element of gradgradcheck's map is."""
    if probe.output is None:
        return "the first derivatives (projected on a random vector)"
    k = probe.output
    for i in checked:
        if k < leaves[i].size:
            element = _index(k, leaves[i].shape)
            return (
                f"the first derivative for {_describe_input(leaves, i)} at "
                f"element {element}"
            )
        k -= leaves[i].size
    raise AssertionError("an output element beyond the first derivatives")


def _describe_second_order(
    probe: _Probe, inputs: list[Tensor], checked: list[int]
) -> str:
    """What disagrees, for gradgradcheck's ``inputs`` (fn's, then v)."""
    upstream = probe.input == len(inputs) - 1
    if upstream:
        by = "the upstream gradient v" + _at(probe, inputs)
    else:
        by = _where(probe, inputs)
    message = (
        f"backprop and central differences {_disagree(probe)} on the derivative of "
        f"{_first_derivative(probe, inputs, checked)} with respect to {by}: "
        f"{_numbers(probe)}. (The first derivative is vᵀJ, backprop's gradient "
        f"for a random upstream gradient v, recorded with create_graph=True; "
        f"its own derivatives are compared with central differences of it.)"
    )
    if probe.analytic == 0 and probe.numerical != 0:
        if upstream:
            cause = (
                "the recorded first derivative does not depend on the upstream "
                "gradient: a backward returned an ndarray or computed with "
                "grad.data, so it is not recorded and the engine cannot "
                "differentiate it again."
            )
        else:
            cause = (
                "the first derivative was not recorded as a function of this "
                "input. A backward that computes on .data or NumPy arrays, or "
                "that saves an array which is neither an input nor the output "
                "(saved_tensors gives it back as a constant), cannot be "
                "differentiated again."
            )
        message += (
            f" Backprop gives exactly 0: {cause} Write the rule with Tensor ops "
            f"on ctx.saved_tensors; or, if this gradient is never differentiated "
            f"again, declare `twice_differentiable = False` on the op (saying why "
            f"in its docstring) or pass `second_order=False` to assert_gradients."
        )
    return message


def _cause(fn, inputs, message: str, *, order: int, options: _Options) -> str:
    """The line naming the op to blame, if blame finds one that adds to the
    message (a one-op graph's own check would only repeat it)."""
    from tinygrad_edu.diagnostics import blame

    culprit = blame(
        fn,
        inputs,
        order=order,
        eps=options.eps,
        atol=None if options.atol is None else max(options.atol),
        rtol=max(options.rtol),
    )
    if culprit is None or (culprit.only_op and culprit.kind == "wrong"):
        return ""
    return f"\nThe cause: {culprit}"
