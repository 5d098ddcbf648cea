"""Optimizers: the book's chapter 6 set (SGD, Momentum, AdaGrad, RMSprop, Adam).

Each can be used two ways:

- PyTorch's: ``opt = SGD(model.parameters(), lr=0.1)``, then per step
  ``opt.zero_grad(); loss.backward(); opt.step()``, reading each ``p.grad``;
- the book's: ``opt = SGD(lr=0.1)``, then ``opt.update(params, grads)`` with
  dicts of ndarrays, such as ``TwoLayerNet.params`` and its ``gradient()``.

Updates work on the NumPy arrays in place (so nothing is recorded and every
reference to a parameter sees the new values) and keep the parameter's dtype:
hyperparameters are Python floats, which NumPy does not let upcast float32.

``weight_decay`` λ adds λ·p to each gradient, the gradient of (λ/2)·‖p‖² added
to the loss (the book adds that term to the loss, for weights only; here it
applies to every parameter given to the optimizer, as in PyTorch).

>>> import numpy as np
>>> from tinygrad_edu import Tensor
>>> w = Tensor([3.0, -2.0], requires_grad=True)
>>> opt = SGD([w], lr=0.25)
>>> for _ in range(20):
...     opt.zero_grad()
...     (w * w).sum().backward()  # minimum at w = 0
...     opt.step()
>>> bool(np.abs(w.data).max() < 1e-5)
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from tinygrad_edu.errors import DomainError, DTypeError, ShapeError, StateDictError
from tinygrad_edu.tensor import Tensor

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Optimizer", "RMSprop"]


class Optimizer:
    """Base class: holds the parameters, the learning rate and per-parameter state.

    A subclass writes ``_update(p, g, state)`` for one array ``p`` with
    gradient ``g`` (both ndarrays; change ``p`` in place), and ``_new_state``
    if it keeps running averages.
    """

    #: Hyperparameters shown by ``repr``, in order.
    _fields: tuple[str, ...] = ("lr", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        self.params: list[Tensor] | None = (
            None if params is None else self._check_params(params)
        )
        self.lr = self._number("lr", lr, lambda v: v > 0, "lr > 0")
        self.weight_decay = self._number(
            "weight_decay", weight_decay, lambda v: v >= 0, "weight_decay >= 0"
        )
        #: Per-parameter state (running averages), keyed by the parameter's
        #: position in ``params`` for ``step`` and by its name for ``update``.
        self.state: dict[int | str, dict[str, Any]] = {}
        #: Keys of state loaded for ``update`` whose shapes are not checked yet.
        self._unverified: set[int | str] = set()

    # -- the PyTorch-style loop -------------------------------------------------
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (gradients accumulate otherwise)."""
        for p in self._require_params("zero_grad"):
            p.grad = None

    def step(self) -> None:
        """Update each parameter from its ``.grad`` (those without one are skipped)."""
        state = self.state
        weight_decay = self.weight_decay
        for i, p in enumerate(self._require_params("step")):
            grad = p.grad
            if grad is None:
                continue
            s = state.get(i)
            if s is None:
                s = state[i] = self._first_state(p.data, f"params[{i}]")
            g = grad.data
            if g.shape != p.shape:  # in-place updates would broadcast silently
                raise ShapeError(
                    f"{type(self).__name__}.step: params[{i}].grad has shape "
                    f"{g.shape}, the parameter {p.shape}; they must match. A .grad "
                    f"set by hand must have the parameter's shape (backward() "
                    f"always gives it)."
                )
            if weight_decay:
                g = g + weight_decay * p.data
            self._update(p.data, g, s)

    # -- the book's loop --------------------------------------------------------
    def update(self, params: Mapping[str, Any], grads: Mapping[str, Any]) -> None:
        """The book's API: change each array of ``params`` in place by ``grads[key]``.

        >>> params = {"W": np.array([1.0, 2.0])}
        >>> SGD(lr=0.5).update(params, {"W": np.array([1.0, 1.0])})
        >>> params["W"]
        array([0.5, 1.5])
        """
        self._check_dicts(params, grads)
        state = self.state
        weight_decay = self.weight_decay
        for key, p in params.items():
            if key not in grads:
                raise DomainError(
                    f"{type(self).__name__}.update: grads has no entry {key!r} "
                    f"(it has {list(grads)}); pass the gradients of every parameter."
                )
            g = grads[key]
            if g is None:
                continue
            if isinstance(p, Tensor):
                p = p.data
            if isinstance(g, Tensor):
                g = g.data
            if not isinstance(g, np.ndarray) or g.dtype.kind not in "biuf":
                raise DTypeError(
                    f"{type(self).__name__}.update: the gradient of {key!r} is "
                    f"{_describe(g)}; it must be a numeric ndarray or Tensor, such "
                    f"as the dict that the model's gradient() returns."
                )
            s = state.get(key)
            if s is None:
                s = state[key] = self._first_state(p, repr(key))
            elif key in self._unverified:
                self._verify_loaded(key, p, s)
            if np.shape(g) != p.shape:  # a wrong shape would broadcast silently
                raise ShapeError(
                    f"{type(self).__name__}.update: the gradient of {key!r} has "
                    f"shape {np.shape(g)}, the parameter {p.shape}; they must match."
                )
            if weight_decay:
                g = g + weight_decay * p
            self._update(p, g, s)

    # -- saving and resuming ----------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The running state as flat named arrays, which ``tinygrad_edu.save`` stores.

        Keys are ``state.<parameter>.<slot>``: the parameter's position in
        ``params`` for ``step``, its name for ``update``; slots are the
        optimizer's running values (``v``, ``h``, ``m``, ``step``). Arrays
        are copies. Hyperparameters (``lr``, ...) are the constructor's and
        are not included. Without this state a resumed Adam or Momentum
        restarts its averages from zero and takes other steps.

        >>> opt = Momentum(lr=0.1)
        >>> opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
        >>> opt.state_dict()
        {'state.w.v': array([-0.1, -0.1])}
        """
        return {
            f"state.{key}.{slot}": np.array(value)
            for key, slots in self.state.items()
            for slot, value in slots.items()
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (e.g. read back with ``load``).

        Everything is checked before anything changes: the keys and slots must
        be this optimizer's, the slots of one parameter must share a shape,
        and, when the optimizer holds ``params``, that shape must be the
        parameter's. For the book's ``update`` the shapes are checked against
        the parameters at their next update.
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise DTypeError(
                f"{name}.load_state_dict: expects a dict of name → array (what "
                f"state_dict() or load() return), got {_describe(state_dict)}."
            )
        template = self._new_state(np.zeros(1))
        loaded: dict[int | str, dict[str, Any]] = {}
        for full_key, value in state_dict.items():
            key, slot = self._parse_state_key(full_key, template)
            loaded.setdefault(key, {})[slot] = self._state_value(
                full_key, value, template[slot]
            )
        for key, slots in loaded.items():
            self._check_loaded_slots(key, slots, template)
        self.state = loaded
        self._unverified = set(loaded) if self.params is None else set()

    def _parse_state_key(
        self, full_key: Any, template: dict[str, Any]
    ) -> tuple[int | str, str]:
        name = type(self).__name__
        parts = full_key.split(".") if isinstance(full_key, str) else []
        if len(parts) < 3 or parts[0] != "state" or parts[-1] not in template:
            raise StateDictError(
                f"{name}.load_state_dict: unexpected key {full_key!r}; {name} "
                f"keeps the slots {sorted(template) or '(none)'} as "
                f"'state.<parameter>.<slot>'. Was the state saved by another "
                f"optimizer?"
            )
        key: int | str = ".".join(parts[1:-1])
        if self.params is not None:
            last = len(self.params) - 1
            if not (key.isdigit() and int(key) <= last):
                raise StateDictError(
                    f"{name}.load_state_dict: key {full_key!r} names parameter "
                    f"{key!r}, but this optimizer holds params[0..{last}]; the "
                    f"state must come from an optimizer over the same params."
                )
            key = int(key)
        return key, parts[-1]

    def _state_value(self, full_key: str, value: Any, like: Any) -> Any:
        """A fresh, writable copy of one saved slot, of the kind the slot holds."""
        name = type(self).__name__
        try:
            array = np.array(value.data if isinstance(value, Tensor) else value)
        except (ValueError, TypeError):
            array = np.empty(0, dtype=object)  # reported just below
        if array.dtype.kind not in "biuf":
            raise DTypeError(
                f"{name}.load_state_dict: {full_key!r} is {_describe(value)}, not "
                f"a numeric array; a state dict holds what state_dict() returned."
            )
        if isinstance(like, int):  # a counter, such as Adam's step
            if array.shape != () or array.dtype.kind not in "iu" or array < 0:
                raise StateDictError(
                    f"{name}.load_state_dict: {full_key!r} must be a count (a "
                    f"non-negative integer), got {array!r}."
                )
            return int(array)
        if array.dtype.kind != "f":
            raise DTypeError(
                f"{name}.load_state_dict: {full_key!r} has dtype {array.dtype}; a "
                f"running average is a floating-point array."
            )
        return array

    def _check_loaded_slots(
        self, key: int | str, slots: dict[str, Any], template: dict[str, Any]
    ) -> None:
        name = type(self).__name__
        if slots.keys() != template.keys():
            raise StateDictError(
                f"{name}.load_state_dict: parameter {key!r} has the slots "
                f"{sorted(slots)}, {name} keeps {sorted(template)}; the state dict "
                f"is incomplete or from another optimizer."
            )
        shapes = {s: v.shape for s, v in slots.items() if isinstance(v, np.ndarray)}
        parameter = None if self.params is None else self.params[int(key)]
        expected = None if parameter is None else parameter.shape
        if len(set(shapes.values())) > 1 or (
            expected is not None and any(sh != expected for sh in shapes.values())
        ):
            shown = "" if expected is None else f" (the parameter's is {expected})"
            raise StateDictError(
                f"{name}.load_state_dict: the slots of parameter {key!r} have the "
                f"shapes {shapes}{shown}; they must all be the parameter's shape."
            )
        if parameter is not None:
            for slot in shapes:
                slots[slot] = slots[slot].astype(parameter.dtype, copy=False)

    def _verify_loaded(self, key: str, p: np.ndarray, state: dict[str, Any]) -> None:
        """At the first update after ``load_state_dict``: does the state fit ``p``?"""
        self._first_state(p, repr(key))  # the same checks as a fresh parameter
        for slot, value in state.items():
            if isinstance(value, np.ndarray):
                if value.shape != p.shape:
                    raise StateDictError(
                        f"{type(self).__name__}.update: the loaded state "
                        f"'state.{key}.{slot}' has shape {value.shape}, the "
                        f"parameter {key!r} {p.shape}; load the state saved with "
                        f"these parameters."
                    )
                state[slot] = value.astype(p.dtype, copy=False)
        self._unverified.discard(key)

    # -- what subclasses write --------------------------------------------------
    def _new_state(self, p: np.ndarray) -> dict[str, Any]:
        """The running values kept for one parameter, created at its first update."""
        return {}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- checks -----------------------------------------------------------------
    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({fields})"

    def _first_state(self, p: Any, what: str) -> dict[str, Any]:
        """Check a parameter once, when it is first updated, and make its state."""
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            got = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
            raise DTypeError(
                f"{type(self).__name__}: parameter {what} must be a floating-point "
                f"ndarray or Tensor to be updated in place, got {got}."
            )
        if not p.flags.writeable:
            raise DomainError(
                f"{type(self).__name__}: parameter {what} is a read-only array and "
                f"cannot be updated in place; give the optimizer a writable copy."
            )
        return self._new_state(p)

    def _check_dicts(self, params: Any, grads: Any) -> None:
        name = type(self).__name__
        for what, value in (("params", params), ("grads", grads)):
            if not isinstance(value, Mapping):
                hint = (
                    f" For a list of Tensors, create {name}(params, lr=...) and "
                    f"call step()."
                    if what == "params" and _holds_tensors(value)
                    else ""
                )
                raise DTypeError(
                    f"{name}.update: {what} must be a dict of name → array (the "
                    f"book's params and gradient()), got {_describe(value)}.{hint}"
                )

    def _require_params(self, method: str) -> list[Tensor]:
        if self.params is None:
            name = type(self).__name__
            raise DomainError(
                f"{name}.{method}() needs the parameters: create the optimizer with "
                f"them, {name}(model.parameters(), lr=...), or use the book's "
                f"{name}.update(params, grads) with dicts of arrays."
            )
        return self.params

    def _check_params(self, params: Any) -> list[Tensor]:
        name = type(self).__name__
        if isinstance(params, numbers.Number):
            raise DTypeError(
                f"{name}: the first argument is params (what to optimize), got the "
                f"number {params!r}; pass the learning rate by name, lr={params!r}."
            )
        if isinstance(params, Tensor):
            raise DTypeError(
                f"{name}: params must be an iterable of Tensors; got one Tensor, "
                f"pass [tensor]."
            )
        if isinstance(params, Mapping):
            raise DTypeError(
                f"{name}: params must be an iterable of Tensors, got a dict; pass "
                f"model.parameters() or list(params.values()). For the book's dict "
                f"of arrays, create {name}(lr=...) and call update(params, grads)."
            )
        try:
            params = list(params)
        except TypeError:
            raise DTypeError(
                f"{name}: params must be an iterable of Tensors such as "
                f"model.parameters(), got {type(params).__name__}."
            ) from None
        if not params:
            raise DomainError(
                f"{name}: params is empty, so there is nothing to optimize. A "
                f"module registers only nn.Parameter attributes (not plain "
                f"Tensors), and model.parameters() is a generator that is used up "
                f"after one pass."
            )
        seen: set[int] = set()
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise DTypeError(
                    f"{name}: params[{i}] is a {type(p).__name__}, not a Tensor. "
                    f"For ndarrays, use {name}(lr=...).update(params, grads)."
                )
            if not p.requires_grad:
                raise DomainError(
                    f"{name}: params[{i}] (shape {p.shape}) has requires_grad=False, "
                    f"so it never gets a gradient; make it with requires_grad=True "
                    f"or as an nn.Parameter."
                )
            if not p.is_leaf:
                raise DomainError(
                    f"{name}: params[{i}] was computed by an op, not created by you; "
                    f"optimize the leaf tensors (nn.Parameter) it was computed from."
                )
            if id(p) in seen:
                raise DomainError(
                    f"{name}: params[{i}] appears twice in params; it would be "
                    f"updated twice per step. Pass each parameter once."
                )
            seen.add(id(p))
        return params

    def _number(
        self, arg: str, value: Any, ok: Callable[[float], bool], valid: str
    ) -> float:
        """``value`` as a Python float (NumPy scalars would upcast float32 params)."""
        name = type(self).__name__
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise DTypeError(
                f"{name}: {arg} must be a real number, got {type(value).__name__} "
                f"{value!r}."
            )
        value = float(value)
        if not (math.isfinite(value) and ok(value)):
            raise DomainError(f"{name}: {arg}={value!r} is invalid; it needs {valid}.")
        return value


def _describe(value: Any) -> str:
    """A short description of an argument for messages: its type and a glimpse."""
    text = " ".join(repr(value).split())  # one line, even for an array's repr
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _holds_tensors(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and any(
        isinstance(v, Tensor) for v in value
    )


class SGD(Optimizer):
    """Stochastic gradient descent: p ← p − lr·g.

    >>> p = {"w": np.array([1.0], dtype=np.float32)}
    >>> SGD(lr=0.1).update(p, {"w": np.array([2.0], dtype=np.float32)})
    >>> p["w"], p["w"].dtype
    (array([0.8], dtype=float32), dtype('float32'))
    """

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        p -= self.lr * g


class Momentum(Optimizer):
    """SGD with momentum, in the book's form: v ← μ·v − lr·g; p ← p + v.

    v is a velocity: steps in a consistent direction add up, oscillations
    across a valley cancel. (PyTorch keeps lr outside v; with a constant lr
    the two forms take the same steps.)
    """

    _fields = ("lr", "momentum", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        momentum: float = 0.9,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay)
        self.momentum = self._number(
            "momentum", momentum, lambda v: 0 <= v < 1, "0 <= momentum < 1"
        )

    def _new_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"v": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        v = state["v"]
        v *= self.momentum
        v -= self.lr * g
        p += v


class AdaGrad(Optimizer):
    """Per-element learning rates that shrink with the gradients seen so far.

    h ← h + g²;  p ← p − lr·g / (√h + eps). Elements with large gradients
    slow down first; because h only grows, learning eventually stops
    (RMSprop forgets old gradients instead).
    """

    _fields = ("lr", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        eps: float = 1e-7,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay)
        self.eps = self._number("eps", eps, lambda v: v > 0, "eps > 0")

    def _new_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"h": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        h = state["h"]
        h += g * g
        denominator = np.sqrt(h)
        denominator += self.eps
        p -= self.lr * g / denominator


class RMSprop(Optimizer):
    """AdaGrad with a memory that fades: h ← ρ·h + (1−ρ)·g²;  p ← p − lr·g/(√h + eps).

    ρ is ``decay_rate``; old gradients count less and less, so the step size
    adapts to recent gradients instead of shrinking for ever.
    """

    _fields = ("lr", "decay_rate", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.01,
        decay_rate: float = 0.99,
        eps: float = 1e-7,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay)
        self.decay_rate = self._number(
            "decay_rate", decay_rate, lambda v: 0 <= v < 1, "0 <= decay_rate < 1"
        )
        self.eps = self._number("eps", eps, lambda v: v > 0, "eps > 0")

    def _new_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"h": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        h = state["h"]
        h *= self.decay_rate
        h += (1.0 - self.decay_rate) * (g * g)
        denominator = np.sqrt(h)
        denominator += self.eps
        p -= self.lr * g / denominator


class Adam(Optimizer):
    """Momentum (m) and RMSprop (v) together, with their start-up bias removed.

    m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  after t steps
    p ← p − lr·m̂ / (√v̂ + eps) with m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ)
    (Kingma & Ba, Algorithm 1; PyTorch's form). Differences from the book's
    ``common/optimizer.py``: the step count t is kept per parameter, so a
    parameter that is skipped (no gradient) is not bias-corrected for steps it
    never took; and eps is added to √v̂ rather than to √v, so its effect does
    not change as t grows.
    """

    _fields = ("lr", "betas", "eps", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor] | None = None,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise DTypeError(
                f"Adam: betas must be a pair (beta1, beta2) such as (0.9, 0.999), "
                f"got {betas!r}."
            )
        self.betas = (
            self._number("betas[0]", betas[0], lambda v: 0 <= v < 1, "0 <= beta1 < 1"),
            self._number("betas[1]", betas[1], lambda v: 0 <= v < 1, "0 <= beta2 < 1"),
        )
        self.eps = self._number("eps", eps, lambda v: v > 0, "eps > 0")

    def _new_state(self, p: np.ndarray) -> dict[str, Any]:
        return {"step": 0, "m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any]) -> None:
        beta1, beta2 = self.betas
        state["step"] = t = state["step"] + 1
        m, v = state["m"], state["v"]
        m += (1.0 - beta1) * (g - m)
        v += (1.0 - beta2) * (g * g - v)
        denominator = np.sqrt(v)
        denominator /= math.sqrt(1.0 - beta2**t)  # √v̂
        denominator += self.eps
        p -= (self.lr / (1.0 - beta1**t)) * m / denominator
