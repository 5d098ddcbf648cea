"""Every op in the registry (and every composite) against central differences.

Adding an op to ``tinygrad_edu.ops`` adds it here: the test is parametrised
over the registry itself, and inputs are drawn from the domains, signature and
parameters the op declares next to its rules.
"""

import numpy as np
import pytest
from bad_ops import (
    DoubleThatForgetsTheTwo,
    ExpThatUpcasts,
    ExpThatWritesIntoItsInput,
    MulWithSwappedBackward,
    SquareWithDetachedBackward,
)
from hypothesis import assume, given
from hypothesis import strategies as st

from tinygrad_edu import GradcheckError, Tensor
from tinygrad_edu import functional as F
from tinygrad_edu.ops import REGISTRY
from tinygrad_edu.testing import OpCase, assert_gradients, call, op_inputs

ALL_OPS = {**REGISTRY, **F.COMPOSITES}


def check_first_and_second_derivatives(op, data, detectable=None):
    """The registry property's body: draw a case from the op's declarations, check it.

    ``detectable`` (for known-bad ops only) rejects the rare draws where the
    bug cannot show, so the companion tests below run this very body and
    assert that it fails on (nearly) every example.
    """
    case = data.draw(op_inputs(op), label="case")
    if detectable is not None:
        assume(detectable(case))
    assert_gradients(op, case)


def check_float32_in_float32_out(op, data):
    """The float32 property's body: forward and backward keep float32."""
    case = data.draw(op_inputs(op, dtype=np.float32), label="case")
    out = call(op, case.inputs, case.params)
    if getattr(op, "op_name", None) != "cast":
        assert out.dtype == np.float32, f"float32 in, {out.dtype} out"
    out.sum().backward()
    for t in case.inputs:
        if t.requires_grad:
            assert t.grad.dtype == t.dtype and t.grad.shape == t.shape


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@given(data=st.data())
def test_first_and_second_derivatives_match_central_differences(name, data):
    check_first_and_second_derivatives(ALL_OPS[name], data)


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@given(data=st.data())
def test_float32_in_float32_out_forward_and_backward(name, data):
    check_float32_in_float32_out(ALL_OPS[name], data)


# -- the checks can fail: known-bad ops must be caught by the same bodies ------

#: gradcheck's default tolerances: a difference beyond them must be reported.
ATOL, RTOL = 1e-5, 1e-3


def _swap_is_visible(case):
    """Swapping x and y's gradients shows wherever x != y (after broadcasting).

    Each output element k contributes analytic x_k where y_k is right, so the
    full Jacobian check sees the bug at any k with |x_k - y_k| beyond the
    tolerance (twice it, to stay clear of the boundary).
    """
    x, y = np.broadcast_arrays(*(t.data for t in case.inputs))
    return bool(np.any(np.abs(x - y) > 2 * (ATOL + RTOL * np.abs(y))))


@pytest.mark.parametrize(
    ("bad_op", "detectable", "error", "match"),
    [
        (MulWithSwappedBackward, _swap_is_visible, GradcheckError, "mul_with_swapped"),
        (SquareWithDetachedBackward, None, GradcheckError, "square_with"),
        (ExpThatWritesIntoItsInput, None, ValueError, "read-only"),
        (DoubleThatForgetsTheTwo, None, GradcheckError, "double_that"),
    ],
    ids=lambda v: getattr(v, "__name__", None),
)
@given(data=st.data())
def test_the_registry_property_fails_on_known_bad_ops(
    bad_op, detectable, error, match, data
):
    with pytest.raises(error, match=match):
        check_first_and_second_derivatives(bad_op, data, detectable)


@given(data=st.data())
def test_the_float32_property_fails_on_an_op_that_upcasts(data):
    with pytest.raises(AssertionError, match="float32 in, float64 out"):
        check_float32_in_float32_out(ExpThatUpcasts, data)


def test_swapped_backward_is_caught_on_a_fixed_example():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = Tensor([3.0, -1.0], requires_grad=True, name="y")
    with pytest.raises(GradcheckError, match=r"input 0 'x'"):
        assert_gradients(MulWithSwappedBackward, OpCase([x, y]))


def test_swapped_backward_is_caught_when_only_broadcasting_differs():
    """Same values, different shapes: (1, 2) against (2, 2) still exposes the swap."""
    x = Tensor([[1.0, 2.0]], requires_grad=True, name="x")
    y = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="y")
    with pytest.raises(GradcheckError):
        assert_gradients(MulWithSwappedBackward, OpCase([x, y]))


def test_a_wrong_second_derivative_is_caught():
    case = OpCase([Tensor([0.5, -1.5], requires_grad=True)])
    assert_gradients(SquareWithDetachedBackward, case, second_order=False)
    with pytest.raises(GradcheckError):
        assert_gradients(SquareWithDetachedBackward, case)


def test_an_op_that_writes_into_its_input_is_caught():
    case = OpCase([Tensor([0.5, -1.5], requires_grad=True)])
    with pytest.raises(ValueError, match="read-only"):
        assert_gradients(ExpThatWritesIntoItsInput, case)


# -- targets are data: a loss follows its prediction's dtype ---------------------

LOSSES = ["cross_entropy_error", "softmax_cross_entropy", "mse", "sum_squared_error"]


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize(
    "as_target",
    [lambda t: t, lambda t: Tensor(t), lambda t: t.tolist()],
    ids=["ndarray", "tensor", "list"],
)
def test_float32_predictions_with_float64_targets_give_float32(name, as_target):
    y = Tensor(np.full((2, 3), 1 / 3, np.float32), requires_grad=True)
    one_hot = np.eye(3)[[0, 2]]  # float64, as np.eye makes it
    loss = getattr(F, name)(y, as_target(one_hot))
    assert loss.dtype == np.float32
    loss.backward()
    assert y.grad.dtype == np.float32
    expected = getattr(F, name)(Tensor(y.numpy().astype(np.float64)), one_hot)
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-6)


def test_targets_that_require_grad_are_not_cast():
    y = Tensor(np.ones(3, np.float32), requires_grad=True)
    t = Tensor(np.zeros(3), requires_grad=True)
    F.mse(y, t).backward()
    assert t.grad.dtype == np.float64 and y.grad.dtype == np.float32
