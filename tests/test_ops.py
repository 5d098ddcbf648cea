"""Every op in the registry (and every composite) against central differences.

Adding an op to ``tinygrad_edu.ops`` adds it here: the test is parametrised
over the registry itself, and inputs are drawn from the domains, signature and
parameters the op declares next to its rules.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Function, GradcheckError, Tensor
from tinygrad_edu import functional as F
from tinygrad_edu.domains import REAL
from tinygrad_edu.ops import REGISTRY
from tinygrad_edu.testing import assert_gradients, call, op_inputs

ALL_OPS = {**REGISTRY, **F.COMPOSITES}


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@given(data=st.data())
def test_first_and_second_derivatives_match_central_differences(name, data):
    op = ALL_OPS[name]
    assert_gradients(op, data.draw(op_inputs(op), label="case"))


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@given(data=st.data())
def test_float32_in_float32_out_forward_and_backward(name, data):
    op = ALL_OPS[name]
    case = data.draw(op_inputs(op, dtype=np.float32), label="case")
    out = call(op, case.inputs, case.params)
    if name != "cast":
        assert out.dtype == np.float32
    out.sum().backward()
    for t in case.inputs:
        if t.requires_grad:
            assert t.grad.dtype == t.dtype and t.grad.shape == t.shape


# -- the checks can fail: known-bad ops must be caught -------------------------


class MulWithSwappedBackward(Function):
    """x * y whose backward returns the gradients in the wrong order."""

    domain = (REAL, REAL)
    signature = "(),()->()"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * x, grad * y


class SquareWithConstantSecondDerivativeBug(Function):
    """x² whose backward is right in value but detaches x, so d²/dx² comes out 0."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x.detach()


class ExpThatWritesIntoItsInput(Function):
    """exp that reuses its input's memory: wrong whenever the input is needed again."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        np.exp(x, out=x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


@given(data=st.data())
def test_a_swapped_backward_is_caught(data):
    case = data.draw(op_inputs(MulWithSwappedBackward))
    x, y = case.inputs
    if x.shape != y.shape or np.allclose(x.data, y.data, atol=1e-3):
        return  # swapping is harmless only when x == y; draw sizes differ otherwise
    with pytest.raises(GradcheckError, match="mul_with_swapped_backward"):
        assert_gradients(MulWithSwappedBackward, case)


def test_swapped_backward_is_caught_on_a_fixed_example():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = Tensor([3.0, -1.0], requires_grad=True, name="y")
    from tinygrad_edu.testing import OpCase

    with pytest.raises(GradcheckError, match=r"input 0 'x'"):
        assert_gradients(MulWithSwappedBackward, OpCase([x, y]))


def test_a_wrong_second_derivative_is_caught():
    from tinygrad_edu.testing import OpCase

    case = OpCase([Tensor([0.5, -1.5], requires_grad=True)])
    assert_gradients(SquareWithConstantSecondDerivativeBug, case, second_order=False)
    with pytest.raises(GradcheckError):
        assert_gradients(SquareWithConstantSecondDerivativeBug, case)


def test_an_op_that_writes_into_its_input_is_caught():
    from tinygrad_edu.testing import OpCase

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
