"""``detect_anomaly``: the op that made the first NaN or inf, and the user's line."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinygrad_edu.errors import AnomalyError
from tinygrad_edu.recording import Switch, switches

if TYPE_CHECKING:
    from tinygrad_edu.function import Function
    from tinygrad_edu.tensor import Tensor


class detect_anomaly(Switch):
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

    def _set(self) -> tuple:
        errors = np.errstate(divide="raise", over="raise", invalid="raise")
        errors.__enter__()
        state = switches()
        replaced = (state.anomaly, state.record_sites, errors)
        state.anomaly = state.record_sites = True
        return replaced

    def _restore(self, replaced: tuple) -> None:
        state = switches()
        state.anomaly, state.record_sites, errors = replaced
        errors.__exit__(None, None, None)


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


def check_gradients(node: Function, input_grads: Sequence[Any]) -> None:
    """Under ``detect_anomaly``: every gradient a rule returned must be finite."""
    for index, (needed, grad) in enumerate(zip(node.needs_input_grad, input_grads)):
        if needed and grad is not None:
            # A rule may return a Tensor, an ndarray or a number.
            data = grad if isinstance(grad, np.ndarray) else getattr(grad, "data", grad)
            data = np.asarray(data)
            check_finite(data, f"its backward's gradient for input {index}", node)
