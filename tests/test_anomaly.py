"""detect_anomaly: the first op that produces NaN/inf is named, with its place."""

import threading

import numpy as np
import pytest

from tinygrad_edu import AnomalyError, Tensor, detect_anomaly


def test_forward_names_the_op_and_the_users_line():
    x = Tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError) as caught:
        y = (x * 2.0).log()  # the failing line
        del y
    message = str(caught.value)
    assert message.startswith("log (created at ")
    assert "test_anomaly.py:" in message and "divide by zero" in message


def test_nan_from_the_data_is_caught_at_the_first_op_that_sees_it():
    x = Tensor([np.nan, 1.0], requires_grad=True)
    with detect_anomaly(), pytest.raises(AnomalyError, match=r"^mul .*holds nan"):
        x * 3.0


def test_an_operand_that_cannot_be_converted_is_not_blamed_on_the_forward():
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    with detect_anomaly(), pytest.raises(FloatingPointError) as caught:
        x * 1e40  # does not fit in float32: NumPy's cast fails, mul never runs
    assert "overflow" in str(caught.value)
    assert "forward pass" not in str(caught.value)


def test_backward_names_the_op_whose_rule_failed():
    x = Tensor([0.0, 4.0], requires_grad=True)
    with detect_anomaly():
        y = (x**0.5).sum()  # finite forward; d/dx sqrt(x) = inf at 0
        with pytest.raises(AnomalyError, match=r"^pow \(created at .*test_anomaly\.py"):
            y.backward()


def test_outside_the_block_nothing_is_checked():
    x = Tensor([np.inf, 1.0], requires_grad=True)
    y = x * 2.0  # no error: anomaly mode is off
    assert np.isinf(y.data[0])
    with detect_anomaly():
        pass
    assert np.isinf((x * 1.0).data[0])


def test_decorator_and_thread_locality():
    seen = {}

    @detect_anomaly()
    def checked():
        return Tensor([np.nan]) * 1.0

    def other_thread():
        seen["value"] = (Tensor([np.nan]) * 1.0).data[0]  # not in anomaly mode

    with pytest.raises(AnomalyError):
        checked()
    with detect_anomaly():
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert np.isnan(seen["value"])
