"""Learning-rate schedules that drive each parameter group's ``lr``.

As in PyTorch (``torch.optim.lr_scheduler``, here also reachable as
``tinygrad_edu.optim.lr_scheduler``): create the schedule after the
optimizer, call ``scheduler.step()`` once per epoch (or per iteration) after
``optimizer.step()``. Each schedule is a closed form of the number of steps
taken, ``lr = f(base_lr, epoch)``, so it can be resumed from ``last_epoch``
alone and never drifts. So there is one schedule per optimizer: a second one
would overwrite the first's rate at every step, and is refused (combine two in
one ``LambdaLR``).

>>> from tinygrad_edu import nn, optim
>>> opt = optim.SGD([nn.Parameter([1.0])], lr=0.1)
>>> schedule = StepLR(opt, step_size=2, gamma=0.5)
>>> rates = []
>>> for epoch in range(5):
...     rates.append(opt.param_groups[0]["lr"])
...     opt.step()  # (after backward(), in a real loop)
...     schedule.step()
>>> rates
[0.1, 0.1, 0.05, 0.05, 0.025]
"""

from __future__ import annotations

import math
import numbers
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_edu.errors import DomainError, DTypeError, StateDictError

if TYPE_CHECKING:
    from tinygrad_edu.optim import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "StepLR"]


#: The live schedule of each optimizer, by id() (a schedule keeps its
#: optimizer alive, so the id stays that optimizer's while the entry lives).
_schedules: weakref.WeakValueDictionary[int, LRScheduler] = (
    weakref.WeakValueDictionary()
)


class LRScheduler:
    """Base class: sets every group's lr to ``lr_at(base_lr, epoch)``.

    ``base_lrs`` are the groups' learning rates when the schedule was made;
    ``last_epoch`` counts the calls of ``step()``.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        groups = getattr(optimizer, "param_groups", None)
        if not isinstance(groups, list):
            raise DTypeError(
                f"{type(self).__name__}: expects an optimizer such as "
                f"optim.SGD(model.parameters(), lr=0.1), got "
                f"{type(optimizer).__name__}."
            )
        earlier = _schedules.get(id(optimizer))
        if earlier is not None:
            raise DomainError(
                f"{type(self).__name__}: this optimizer already has a "
                f"{type(earlier).__name__}. A schedule here sets lr from its closed "
                f"form at every step, so a second would silently overwrite the "
                f"first (PyTorch chains them). Combine them in one LambdaLR "
                f"(lr_lambda=lambda epoch: warmup(epoch) * decay(epoch)), or del "
                f"the first before making another."
            )
        _schedules[id(optimizer)] = self
        self.optimizer = optimizer
        self.base_lrs: list[float] = [group["lr"] for group in groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr: float, epoch: int, group: int) -> float:
        """The learning rate of group ``group`` after ``epoch`` steps."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance the schedule by one epoch and set the groups' lr."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as last set."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def _apply(self) -> None:
        for i, (group, base) in enumerate(
            zip(self.optimizer.param_groups, self.base_lrs)
        ):
            group["lr"] = float(self.lr_at(base, self.last_epoch, i))

    def state_dict(self) -> dict[str, np.ndarray]:
        """``last_epoch`` and ``base_lrs`` as arrays, for ``tinygrad_edu.save``."""
        return {
            "last_epoch": np.array(self.last_epoch),
            "base_lrs": np.array(self.base_lrs),
        }

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Resume: restore the epoch count and base rates, and set the groups' lr."""
        name = type(self).__name__
        if not isinstance(state_dict, Mapping) or set(state_dict) != {
            "last_epoch",
            "base_lrs",
        }:
            keys = sorted(state_dict) if isinstance(state_dict, Mapping) else None
            raise StateDictError(
                f"{name}.load_state_dict: expects the keys ['base_lrs', "
                f"'last_epoch'] that state_dict() returns, got {keys!r}."
            )
        base_lrs = np.asarray(state_dict["base_lrs"], dtype=float).reshape(-1)
        if len(base_lrs) != len(self.base_lrs):
            raise StateDictError(
                f"{name}.load_state_dict: {len(base_lrs)} base rate(s) for an "
                f"optimizer with {len(self.base_lrs)} group(s)."
            )
        self.base_lrs = base_lrs.tolist()
        self.last_epoch = int(np.asarray(state_dict["last_epoch"]))
        self._apply()


def _positive(owner: str, name: str, value: Any, integer: bool = False) -> Any:
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        what = "an integer" if integer else "a number"
        raise DTypeError(f"{owner}: {name} must be {what}, got {value!r}.")
    if not value > 0 or not math.isfinite(value):
        raise DomainError(f"{owner}: {name} must be positive, got {value!r}.")
    return value


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs:
    lr = base_lr · gamma^⌊epoch / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        self.step_size = _positive("StepLR", "step_size", step_size, integer=True)
        self.gamma = _positive("StepLR", "gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int, group: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class CosineAnnealingLR(LRScheduler):
    """Half a cosine from base_lr down to ``eta_min`` over ``T_max`` epochs:
    lr = eta_min + (base_lr − eta_min)·(1 + cos(π·epoch/T_max))/2.

    This is the closed form PyTorch documents; after T_max epochs it climbs
    again (a restart would set ``last_epoch = 0``).
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):  # noqa: N803
        self.T_max = _positive("CosineAnnealingLR", "T_max", T_max, integer=True)
        if isinstance(eta_min, bool) or not isinstance(eta_min, numbers.Real):
            raise DTypeError(
                f"CosineAnnealingLR: eta_min must be a number, got {eta_min!r}."
            )
        if not eta_min >= 0:
            raise DomainError(
                f"CosineAnnealingLR: eta_min must be >= 0, got {eta_min}."
            )
        self.eta_min = float(eta_min)
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int, group: int) -> float:
        cosine = (1 + math.cos(math.pi * epoch / self.T_max)) / 2
        return self.eta_min + (base_lr - self.eta_min) * cosine


class LambdaLR(LRScheduler):
    """lr = base_lr · lr_lambda(epoch), with one function for every group or a
    list of one function per group (warm-up: ``lambda e: min(1, (e + 1) / 5)``)."""

    def __init__(
        self,
        optimizer: Optimizer,
        lr_lambda: Callable[[int], float] | Sequence[Callable[[int], float]],
    ) -> None:
        groups = len(getattr(optimizer, "param_groups", []))
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else None
        if lambdas is None:
            lambdas = [lr_lambda] * groups
        if len(lambdas) != groups or not all(callable(f) for f in lambdas):
            raise DTypeError(
                f"LambdaLR: lr_lambda must be a function of the epoch, or a list of "
                f"{groups} such functions (one per group), got {lr_lambda!r}."
            )
        self.lr_lambdas = lambdas
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int, group: int) -> float:
        factor = self.lr_lambdas[group](epoch)
        if not (isinstance(factor, numbers.Real) and factor >= 0):
            raise DomainError(
                f"LambdaLR: lr_lambda({epoch}) returned {factor!r}; it must return "
                f"a factor >= 0 that multiplies the base learning rate."
            )
        return base_lr * factor
