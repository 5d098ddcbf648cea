"""Optimizers: the book's chapter 6 set (SGD, Momentum, AdaGrad, RMSprop, Adam),
and AdamW.

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
applies to every parameter of a group, as in PyTorch; AdamW decays the weights
directly instead).

Parameter groups, as in PyTorch: pass a list of dicts, each with ``params``
and the hyperparameters it sets for them (the others are the constructor's),
e.g. ``[{"params": weights}, {"params": biases, "weight_decay": 0.0}]``. Each
group's values live in ``optimizer.param_groups``, where a learning-rate
schedule changes them. Parameters with ``requires_grad=False`` are skipped.

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
from tinygrad_edu.function import check_writable
from tinygrad_edu.tensor import Tensor

__all__ = [
    "SGD",
    "AdaGrad",
    "Adam",
    "AdamW",
    "Momentum",
    "Optimizer",
    "RMSprop",
    "lr_scheduler",
]

#: The valid range of each numeric hyperparameter, one meaning everywhere.
_RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "lr": (lambda v: v >= 0, "lr >= 0"),  # 0 where a schedule ends
    "weight_decay": (lambda v: v >= 0, "weight_decay >= 0"),
    "momentum": (lambda v: 0 <= v < 1, "0 <= momentum < 1"),
    "decay_rate": (lambda v: 0 <= v < 1, "0 <= decay_rate < 1"),
    "eps": (lambda v: v > 0, "eps > 0"),
}


class Optimizer:
    """Base class: holds the parameter groups and per-parameter state.

    A subclass lists its hyperparameters in ``_fields`` and writes
    ``_update(p, g, state, group)`` for one array ``p`` with gradient ``g``
    (both ndarrays; change ``p`` in place), reading the hyperparameters from
    ``group``, and ``_new_state`` if it keeps running averages.
    """

    #: Hyperparameters, in the order ``repr`` shows them; every group has each.
    _fields: tuple[str, ...] = ("lr", "weight_decay")

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]] | None = None,
        lr: float = 0.01,
        *,
        weight_decay: float = 0.0,
        **hyperparameters: Any,
    ) -> None:
        given = {"lr": lr, "weight_decay": weight_decay, **hyperparameters}
        #: The constructor's hyperparameters: what a group does not set.
        self.defaults: dict[str, Any] = {
            name: self._hyperparameter(name, given[name]) for name in self._fields
        }
        #: One dict per group: ``params`` and every hyperparameter.
        self.param_groups: list[dict[str, Any]] = self._groups(params)
        #: Every parameter, group after group (None for the book's ``update``).
        self.params: list[Tensor] | None = (
            None
            if params is None
            else [p for group in self.param_groups for p in group["params"]]
        )
        #: Per-parameter state (running averages), keyed by the parameter's
        #: position in ``params`` for ``step`` and by its name for ``update``.
        self.state: dict[int | str, dict[str, Any]] = {}
        #: Keys of state loaded for ``update`` whose shapes are not checked yet.
        self._unverified: set[int | str] = set()

    @property
    def lr(self) -> float:
        """The learning rate, when every group has the same one; setting it sets
        every group's (a schedule sets ``param_groups[i]["lr"]`` instead)."""
        rates = {group["lr"] for group in self.param_groups}
        if len(rates) > 1:
            raise DomainError(
                f"{type(self).__name__}.lr: the groups have different learning "
                f"rates {sorted(rates)}; read param_groups[i]['lr']."
            )
        return rates.pop()

    @lr.setter
    def lr(self, value: float) -> None:
        value = self._hyperparameter("lr", value)
        for group in self.param_groups:
            group["lr"] = value

    # -- the PyTorch-style loop -------------------------------------------------
    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None (gradients accumulate otherwise)."""
        for p in self._require_params("zero_grad"):
            p.grad = None

    def step(self) -> None:
        """Update each parameter from its ``.grad`` (those without one, or with
        ``requires_grad=False``, are skipped)."""
        state = self.state
        self._require_params("step")
        updates = []  # all checked before any parameter changes
        i = -1
        for group in self.param_groups:
            for p in group["params"]:
                i += 1
                grad = p.grad
                if grad is None or not p.requires_grad:
                    continue
                s = state.get(i)
                if s is None:
                    s = state[i] = self._first_state(p.data, f"params[{i}]", group)
                check_writable(p.data, f"{type(self).__name__}.step: params[{i}]")
                g = grad.data
                if g.shape != p.shape:  # in-place updates would broadcast silently
                    raise ShapeError(
                        f"{type(self).__name__}.step: params[{i}].grad has shape "
                        f"{g.shape}, the parameter {p.shape}; they must match. A "
                        f".grad set by hand must have the parameter's shape "
                        f"(backward() always gives it)."
                    )
                updates.append((p.data, g, s, group))
        for p, g, s, group in updates:
            self._update(p, self._decayed(p, g, group), s, group)

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
        group = self.param_groups[0]
        updates = []  # all checked before any parameter changes
        for key, p in params.items():
            if not isinstance(key, str):  # state_dict() would save it as text
                raise DTypeError(
                    f"{type(self).__name__}.update: parameter names must be "
                    f"strings (they key the optimizer's state and state_dict()), "
                    f"got {key!r}."
                )
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
                s = state[key] = self._first_state(p, repr(key), group)
            elif key in self._unverified:
                self._verify_loaded(key, p, s)
            if np.shape(g) != p.shape:  # a wrong shape would broadcast silently
                raise ShapeError(
                    f"{type(self).__name__}.update: the gradient of {key!r} has "
                    f"shape {np.shape(g)}, the parameter {p.shape}; they must match."
                )
            check_writable(p, f"{type(self).__name__}.update: parameter {key!r}")
            updates.append((p, g, s))
        for p, g, s in updates:
            self._update(p, self._decayed(p, g, group), s, group)

    # -- saving and resuming ----------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """The running state and the groups' hyperparameters as flat named arrays,
        which ``tinygrad_edu.save`` stores.

        Keys are ``state.<parameter>.<slot>``: the parameter's position in
        ``params`` for ``step``, its name for ``update``; slots are the
        optimizer's running values (``v``, ``h``, ``m``, ``step``). Then
        ``group.<i>.<hyperparameter>`` for each group, so a learning rate a
        schedule changed comes back too. Arrays are copies. Without the state a
        resumed Adam or Momentum restarts its averages from zero and takes
        other steps.

        >>> opt = Momentum(lr=0.1)
        >>> opt.update({"w": np.ones(2)}, {"w": np.ones(2)})
        >>> opt.state_dict()
        {'state.w.v': array([-0.1, -0.1]), 'group.0.lr': array(0.1), \
'group.0.momentum': array(0.9), 'group.0.weight_decay': array(0.)}
        """
        state = {
            f"state.{key}.{slot}": np.array(value)
            for key, slots in self.state.items()
            for slot, value in slots.items()
        }
        for i, group in enumerate(self.param_groups):
            for name in self._fields:
                state[f"group.{i}.{name}"] = np.array(group[name])
        return state

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what ``state_dict()`` returned (e.g. read back with ``load``).

        Everything is checked before anything changes: the keys and slots must
        be this optimizer's, the slots of one parameter must share a shape,
        and, when the optimizer holds ``params``, that shape must be the
        parameter's; the groups must be as many as this optimizer's, each with
        every hyperparameter in its valid range. A dict without ``group.``
        keys (saved before groups existed) keeps the constructor's values. For
        the book's ``update`` the shapes are checked against the parameters at
        their next update.
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise DTypeError(
                f"{name}.load_state_dict: expects a dict of name → array (what "
                f"state_dict() or load() return), got {_describe(state_dict)}."
            )
        groups = self._loaded_groups(state_dict)
        loaded: dict[int | str, dict[str, Any]] = {}
        for full_key, value in state_dict.items():
            if isinstance(full_key, str) and full_key.startswith("group."):
                continue
            key, slot = self._parse_state_key(full_key)
            template = self._template(key)
            loaded.setdefault(key, {})[slot] = self._state_value(
                full_key, value, template[slot]
            )
        for key, slots in loaded.items():
            self._check_loaded_slots(key, slots, self._template(key))
        self.state = loaded
        self._unverified = set(loaded) if self.params is None else set()
        for group, values in zip(self.param_groups, groups):
            group.update(values)

    def _loaded_groups(self, state_dict: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The groups' hyperparameters in a state dict, checked ([] if none)."""
        name = type(self).__name__
        count = len(self.param_groups)
        groups: list[dict[str, Any]] = [{} for _ in range(count)]
        for full_key, value in state_dict.items():
            if not (isinstance(full_key, str) and full_key.startswith("group.")):
                continue
            _, index, field = (full_key.split(".") + ["", ""])[:3]
            if not (index.isdigit() and int(index) < count) or field not in (
                self._fields
            ):
                raise StateDictError(
                    f"{name}.load_state_dict: unexpected key {full_key!r}; this "
                    f"{name} has {count} group(s), 'group.<0..{count - 1}>.<name>' "
                    f"with the names {list(self._fields)}."
                )
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            plain = array.item() if array.shape == () else tuple(array.tolist())
            groups[int(index)][field] = self._hyperparameter(field, plain)
        if not any(groups):
            return []
        for i, values in enumerate(groups):
            missing = [f for f in self._fields if f not in values]
            if missing:
                raise StateDictError(
                    f"{name}.load_state_dict: group {i} lacks {missing}; the state "
                    f"dict is incomplete or from an optimizer with other groups."
                )
        return groups

    def _template(self, key: int | str) -> dict[str, Any]:
        """The slots a fresh state of parameter ``key`` has (they follow its group)."""
        group = self.param_groups[0]
        if isinstance(key, int):
            for group in self.param_groups:
                if key < len(group["params"]):
                    break
                key -= len(group["params"])
        return self._new_state(np.zeros(1), group)

    def _parse_state_key(self, full_key: Any) -> tuple[int | str, str]:
        name = type(self).__name__
        parts = full_key.split(".") if isinstance(full_key, str) else []
        key: int | str = ".".join(parts[1:-1])
        if self.params is not None and len(parts) >= 3:
            last = len(self.params) - 1
            if not (key.isdigit() and int(key) <= last):
                raise StateDictError(
                    f"{name}.load_state_dict: key {full_key!r} names parameter "
                    f"{key!r}, but this optimizer holds params[0..{last}]; the "
                    f"state must come from an optimizer over the same params."
                )
            key = int(key)
        template = self._template(key)
        if len(parts) < 3 or parts[0] != "state" or parts[-1] not in template:
            raise StateDictError(
                f"{name}.load_state_dict: unexpected key {full_key!r}; {name} "
                f"keeps the slots {sorted(template) or '(none)'} as "
                f"'state.<parameter>.<slot>'. Was the state saved by another "
                f"optimizer?"
            )
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
        self._first_state(p, repr(key), self.param_groups[0])  # a fresh one's checks
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
    def _new_state(self, p: np.ndarray, group: dict[str, Any]) -> dict[str, Any]:
        """The running values kept for one parameter, created at its first update."""
        return {}

    def _decayed(self, p: np.ndarray, g: np.ndarray, group: dict[str, Any]) -> Any:
        """The gradient with weight decay as L2: g + λ·p (AdamW decays p instead)."""
        weight_decay = group["weight_decay"]
        return g + weight_decay * p if weight_decay else g

    def _update(
        self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], group: dict[str, Any]
    ) -> None:
        raise NotImplementedError

    # -- checks -----------------------------------------------------------------
    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={self.defaults[name]!r}" for name in self._fields)
        groups = len(self.param_groups)
        shown = f", groups={groups}" if groups > 1 else ""
        return f"{type(self).__name__}({fields}{shown})"

    def _first_state(self, p: Any, what: str, group: dict[str, Any]) -> dict[str, Any]:
        """Check a parameter once, when it is first updated, and make its state."""
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            got = p.dtype if isinstance(p, np.ndarray) else type(p).__name__
            raise DTypeError(
                f"{type(self).__name__}: parameter {what} must be a floating-point "
                f"ndarray or Tensor to be updated in place, got {got}."
            )
        return self._new_state(p, group)

    def _groups(self, params: Any) -> list[dict[str, Any]]:
        """``params`` as groups: one of every parameter, or one per dict given."""
        if params is None:
            return [{"params": [], **self.defaults}]
        params = self._as_list(params)
        if not all(isinstance(item, dict) for item in params):
            return [{"params": self._check_params(params), **self.defaults}]
        groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for i, given in enumerate(params):
            unknown = sorted(set(given) - {"params", *self._fields})
            if "params" not in given or unknown:
                raise DomainError(
                    f"{type(self).__name__}: param group {i} has the keys "
                    f"{sorted(given)}; a group is a dict with 'params' and any of "
                    f"{list(self._fields)}."
                )
            first = sum(len(group["params"]) for group in groups)
            group = {
                "params": self._check_params(
                    self._as_list(given["params"]), seen, first
                )
            }
            for field in self._fields:
                value = given.get(field, self.defaults[field])
                group[field] = self._hyperparameter(field, value)
            groups.append(group)
        return groups

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

    def _as_list(self, params: Any) -> list[Any]:
        """``params`` (an iterable, used up once if a generator) as a list."""
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
                f"of arrays, create {name}(lr=...) and call update(params, grads); "
                f"for parameter groups, a list of dicts."
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
        return params

    def _check_params(
        self, params: list[Any], seen: set[int] | None = None, first: int = 0
    ) -> list[Tensor]:
        """Each parameter is a leaf Tensor, given once (``seen``: in any group);
        ``first`` is the position of ``params[0]`` among all the parameters."""
        name = type(self).__name__
        seen = set() if seen is None else seen
        for i, p in enumerate(params, first):
            if not isinstance(p, Tensor):
                raise DTypeError(
                    f"{name}: params[{i}] is a {type(p).__name__}, not a Tensor. "
                    f"For ndarrays, use {name}(lr=...).update(params, grads)."
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

    def _hyperparameter(self, name: str, value: Any) -> Any:
        """One hyperparameter, checked: a float in its range, ``betas`` a pair of
        them, ``nesterov`` a bool."""
        if name == "betas":
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise DTypeError(
                    f"{type(self).__name__}: betas must be a pair (beta1, beta2) "
                    f"such as (0.9, 0.999), got {value!r}."
                )
            ok = (lambda v: 0 <= v < 1), (lambda v: 0 <= v < 1)
            return (
                self._number("betas[0]", value[0], ok[0], "0 <= beta1 < 1"),
                self._number("betas[1]", value[1], ok[1], "0 <= beta2 < 1"),
            )
        if name == "nesterov":
            if not isinstance(value, (bool, np.bool_)):
                raise DTypeError(
                    f"{type(self).__name__}: nesterov must be True or False, got "
                    f"{value!r}."
                )
            return bool(value)
        ok, valid = _RANGES[name]
        return self._number(name, value, ok, valid)

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


Params = Iterable[Tensor] | Iterable[dict[str, Any]] | None
Group = dict[str, Any]


class SGD(Optimizer):
    """Stochastic gradient descent: p ← p − lr·g.

    With ``momentum`` μ > 0 it is PyTorch's SGD with momentum: a buffer
    b ← μ·b + g, then p ← p − lr·b (``nesterov=True``: p ← p − lr·(g + μ·b)).
    lr stays outside b, so a changed lr acts at once; the book's ``Momentum``
    keeps lr inside its velocity (see docs/nn_optim.md for the difference).

    >>> p = {"w": np.array([1.0], dtype=np.float32)}
    >>> SGD(lr=0.1).update(p, {"w": np.array([2.0], dtype=np.float32)})
    >>> p["w"], p["w"].dtype
    (array([0.8], dtype=float32), dtype('float32'))
    """

    _fields = ("lr", "momentum", "nesterov", "weight_decay")

    def __init__(
        self,
        params: Params = None,
        lr: float = 0.01,
        momentum: float = 0.0,
        *,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov
        )
        if any(g["nesterov"] and not g["momentum"] for g in self.param_groups):
            raise DomainError(
                "SGD: nesterov=True needs momentum > 0; Nesterov's correction "
                "looks ahead along the momentum buffer."
            )

    def _new_state(self, p: np.ndarray, group: Group) -> dict[str, Any]:
        return {"momentum_buffer": np.zeros_like(p)} if group["momentum"] else {}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: Group) -> None:
        momentum = group["momentum"]
        if momentum:
            buffer = state["momentum_buffer"]
            buffer *= momentum
            buffer += g
            g = g + momentum * buffer if group["nesterov"] else buffer
        p -= group["lr"] * g


class Momentum(Optimizer):
    """SGD with momentum, in the book's form: v ← μ·v − lr·g; p ← p + v.

    v is a velocity: steps in a consistent direction add up, oscillations
    across a valley cancel. lr is inside v, so after lr changes the old
    velocity still carries the old lr for a while; PyTorch's form,
    ``SGD(momentum=μ)``, keeps lr outside. With a constant lr the two take the
    same steps.
    """

    _fields = ("lr", "momentum", "weight_decay")

    def __init__(
        self,
        params: Params = None,
        lr: float = 0.01,
        momentum: float = 0.9,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay, momentum=momentum)

    def _new_state(self, p: np.ndarray, group: Group) -> dict[str, Any]:
        return {"v": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: Group) -> None:
        v = state["v"]
        v *= group["momentum"]
        v -= group["lr"] * g
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
        params: Params = None,
        lr: float = 0.01,
        eps: float = 1e-7,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay, eps=eps)

    def _new_state(self, p: np.ndarray, group: Group) -> dict[str, Any]:
        return {"h": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: Group) -> None:
        h = state["h"]
        h += g * g
        denominator = np.sqrt(h)
        denominator += group["eps"]
        p -= group["lr"] * g / denominator


class RMSprop(Optimizer):
    """AdaGrad with a memory that fades: h ← ρ·h + (1−ρ)·g²;  p ← p − lr·g/(√h + eps).

    ρ is ``decay_rate``; old gradients count less and less, so the step size
    adapts to recent gradients instead of shrinking for ever.
    """

    _fields = ("lr", "decay_rate", "eps", "weight_decay")

    def __init__(
        self,
        params: Params = None,
        lr: float = 0.01,
        decay_rate: float = 0.99,
        eps: float = 1e-7,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr, weight_decay=weight_decay, decay_rate=decay_rate, eps=eps
        )

    def _new_state(self, p: np.ndarray, group: Group) -> dict[str, Any]:
        return {"h": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: Group) -> None:
        h = state["h"]
        decay_rate = group["decay_rate"]
        h *= decay_rate
        h += (1.0 - decay_rate) * (g * g)
        denominator = np.sqrt(h)
        denominator += group["eps"]
        p -= group["lr"] * g / denominator


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
        params: Params = None,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, weight_decay=weight_decay, betas=betas, eps=eps)

    def _new_state(self, p: np.ndarray, group: Group) -> dict[str, Any]:
        return {"step": 0, "m": np.zeros_like(p), "v": np.zeros_like(p)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: Group) -> None:
        beta1, beta2 = group["betas"]
        state["step"] = t = state["step"] + 1
        m, v = state["m"], state["v"]
        m += (1.0 - beta1) * (g - m)
        v += (1.0 - beta2) * (g * g - v)
        denominator = np.sqrt(v)
        denominator /= math.sqrt(1.0 - beta2**t)  # √v̂
        denominator += group["eps"]
        p -= (group["lr"] / (1.0 - beta1**t)) * m / denominator


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 − lr·λ),
    then Adam's step on the gradient alone.

    Adam's L2 ``weight_decay`` passes λ·p through the adaptive scaling, so
    parameters with large gradients are hardly decayed; AdamW shrinks every
    weight by the same factor. The default λ = 0.01 is PyTorch's.
    """

    def __init__(
        self,
        params: Params = None,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        *,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay=weight_decay)

    def _decayed(self, p: np.ndarray, g: np.ndarray, group: Group) -> Any:
        p *= 1.0 - group["lr"] * group["weight_decay"]
        return g


# PyTorch's spelling: optim.lr_scheduler.StepLR (the module needs Optimizer only
# for type hints, so importing it here makes no cycle).
from tinygrad_edu import lr_scheduler  # noqa: E402
