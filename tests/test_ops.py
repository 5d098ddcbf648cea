"""Every op in the registry (and every composite) against central differences.

Adding an op to ``tinygrad_edu.ops`` adds it here: the tests are parametrised
over the registry itself, and cases are drawn from the domains, signature and
parameters the op declares next to its rules: every parameter form, inputs
laid out as views, operands that share one array or where one is detached.
Each property has known-bad ops (tests/bad_ops.py) that it must catch.
"""

import inspect

import bad_ops
import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tinygrad_edu import (
    DTypeError,
    GradcheckError,
    GraphError,
    Tensor,
    TinygradEduError,
    ops,
)
from tinygrad_edu import functional as F
from tinygrad_edu.testing import (
    OpCase,
    assert_dtype_kept,
    assert_gradients,
    call,
    op_inputs,
)

ALL_OPS = F.ALL_OPS


def check_first_and_second_derivatives(op, data):
    """The registry property: draw a case from the op's declarations, check it."""
    assert_gradients(op, data.draw(op_inputs(op), label="case"))


def check_float32_in_float32_out(op, data):
    """The float32 property: float32 in, float32 out, float32 gradients."""
    assert_dtype_kept(op, data.draw(op_inputs(op, dtype=np.float32), label="case"))


#: Each input drawn as one of these: integers and booleans mixed with floats.
MIXED_DTYPES = st.sampled_from(
    ["float64", "float32", "int64", "int32", "uint8", "bool"]
)


def check_integers_never_get_gradients(op, data):
    """The integer property: integer and boolean operands never require grad
    nor get a gradient; a result requires grad exactly when it is floating
    point and an input requires grad; every gradient is its input's dtype.
    An op may instead refuse such operands with one of the library's errors."""
    try:
        case = data.draw(op_inputs(op, dtype=MIXED_DTYPES), label="case")
        out = call(op, case.inputs, case.params)
    except TinygradEduError:
        return  # refused clearly (the error names the op and the dtypes)
    for t in case.inputs:
        if t.dtype.kind != "f":
            with pytest.raises(DTypeError, match="needs floating-point data"):
                t.requires_grad = True
    wants_grad = out.dtype.kind == "f" and any(t.requires_grad for t in case.inputs)
    assert out.requires_grad == wants_grad, f"{out.dtype} result: {out!r}"
    if not out.requires_grad:
        return
    out.backward(case.upstream)
    for i, t in enumerate(case.inputs):
        if not t.requires_grad:
            assert t.grad is None, f"input {i} ({t.dtype}) got a gradient"
        elif t.grad is not None:
            assert (t.grad.dtype, t.grad.shape) == (t.dtype, t.shape), f"input {i}"


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@settings(max_examples=50)  # cheap cases, but one more test per op
@given(data=st.data())
def test_integer_and_bool_operands_never_get_gradients(name, data):
    check_integers_never_get_gradients(ALL_OPS[name], data)


def test_the_integer_property_catches_a_cast_that_keeps_the_graph():
    """Issue 19's differentiable cast: an integer result that requires grad."""
    with pytest.raises(AssertionError, match=r"(int|uint|bool)\d* result"):
        search(bad_ops.CastThatKeepsTheGraph, check_integers_never_get_gradients)


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@given(data=st.data())
def test_first_and_second_derivatives_match_central_differences(name, data):
    check_first_and_second_derivatives(ALL_OPS[name], data)


@pytest.mark.parametrize("name", sorted(ALL_OPS))
@given(data=st.data())
def test_float32_in_float32_out_forward_and_backward(name, data):
    check_float32_in_float32_out(ALL_OPS[name], data)


# -- the properties can fail: each known-bad op must be caught ------------------

#: Each known-bad op, with the property that must catch it.
KNOWN_BAD = {
    bad_ops.MulWithSwappedBackward: check_first_and_second_derivatives,
    bad_ops.SquareWithDetachedBackward: check_first_and_second_derivatives,
    bad_ops.ExpThatWritesIntoItsInput: check_first_and_second_derivatives,
    bad_ops.AddThatForgetsAnInput: check_first_and_second_derivatives,
    bad_ops.DoubleThatForgetsTheTwo: check_first_and_second_derivatives,
    bad_ops.SquareThatForgetsTheTwo: check_first_and_second_derivatives,
    bad_ops.TransposeWithoutNormalisingAxes: check_first_and_second_derivatives,
    bad_ops.SoftmaxCrossEntropyWithoutTheTargetSum: check_first_and_second_derivatives,
    bad_ops.MulThatFindsItsSavedArraysBySearch: check_first_and_second_derivatives,
    bad_ops.MulWrongWhenOnlyTheSecondNeedsAGradient: check_first_and_second_derivatives,
    bad_ops.MulWrongForOneTensorTwice: check_first_and_second_derivatives,
    bad_ops.PowWithoutTheGuardAtZero: check_first_and_second_derivatives,
    bad_ops.CastThatKeepsTheGraph: check_first_and_second_derivatives,
    bad_ops.MulThatDifferentiatesIntegerOperands: check_integers_never_get_gradients,
    bad_ops.SquareWhoseBackwardUsesData: check_first_and_second_derivatives,
    bad_ops.SigmoidThatSavesAnArrayItComputed: check_first_and_second_derivatives,
    bad_ops.AddWithTheBiasGradientTooSmall: check_first_and_second_derivatives,
    bad_ops.SoftplusThatSaturatesTooEarly: check_first_and_second_derivatives,
    bad_ops.ExpThatUpcasts: check_float32_in_float32_out,
    bad_ops.MulWrongInFloat32Only: check_float32_in_float32_out,
    bad_ops.WhereThatSendsTheGradientToBoth: check_first_and_second_derivatives,
    bad_ops.Col2imThatForgetsOverlappingWindows: check_first_and_second_derivatives,
    bad_ops.Col2imThatReadsChannelsLast: check_first_and_second_derivatives,
}
#: What a failing property raises: a wrong derivative, an assertion, a gradient
#: the engine refuses, NumPy's refusal to write into a read-only input, or a
#: warning (warnings are errors in the tests).
FAILURES = (GradcheckError, AssertionError, GraphError, ValueError, RuntimeWarning)


def search(op, prop):
    """Run a property on ``op`` as Hypothesis would, without shrinking."""

    @settings(max_examples=300, phases=[Phase.generate], database=None)
    @given(data=st.data())
    def property_of(data):
        prop(op, data)

    property_of()


@pytest.mark.parametrize("bad_op", list(KNOWN_BAD), ids=lambda op: op.__name__)
def test_the_properties_catch_each_known_bad_op(bad_op):
    with pytest.raises(FAILURES):
        search(bad_op, KNOWN_BAD[bad_op])


def test_every_known_bad_op_is_used_by_a_test():
    """A known-bad op nobody runs proves nothing: each is listed above, or used
    by the other test modules that import bad_ops."""
    defined = {
        cls
        for _, cls in inspect.getmembers(bad_ops, inspect.isclass)
        if cls.__module__ == bad_ops.__name__
    }
    elsewhere = {
        bad_ops.TanhWhoseBackwardCountsItsCalls,  # test_numerical
        bad_ops.IdentityWithASlightlyWrongGradient,  # test_diagnostics: passes alone
        bad_ops.MaxThatGivesEveryTieTheWholeGradient,  # test_conv, in a max-pool
        bad_ops.MaxThatScalesACopyOfItsShares,  # test_conv, a max-pool's memory
        bad_ops.BatchNorm1dWithDetachedStatistics,  # test_nn
    }
    assert defined - {bad_ops.Cube} == set(KNOWN_BAD) | elsewhere


def test_the_correct_ops_pass_where_their_bad_twins_fail():
    """The same search on the real ops finds nothing: a failure above is the bug's."""
    for bad_op in (
        bad_ops.TransposeWithoutNormalisingAxes,
        bad_ops.SoftmaxCrossEntropyWithoutTheTargetSum,
        bad_ops.PowWithoutTheGuardAtZero,
        bad_ops.CastThatKeepsTheGraph,
    ):
        real = bad_op.__mro__[1]
        search(real, check_first_and_second_derivatives)
    search(ops.Cast, check_integers_never_get_gradients)
    search(ops.Mul, check_integers_never_get_gradients)


# -- fixed examples of what the properties found ----------------------------------


def test_swapped_backward_is_caught_on_a_fixed_example():
    x = Tensor([1.0, 2.0], requires_grad=True, name="x")
    y = Tensor([3.0, -1.0], requires_grad=True, name="y")
    with pytest.raises(GradcheckError, match=r"input 0 'x'"):
        assert_gradients(bad_ops.MulWithSwappedBackward, OpCase([x, y]))


def test_a_wrong_second_derivative_is_caught():
    case = OpCase([Tensor([0.5, -1.5], requires_grad=True)])
    assert_gradients(bad_ops.SquareWithDetachedBackward, case, second_order=False)
    with pytest.raises(GradcheckError):
        assert_gradients(bad_ops.SquareWithDetachedBackward, case)


def test_an_op_that_writes_into_its_input_is_caught():
    case = OpCase([Tensor([0.5, -1.5], requires_grad=True)])
    with pytest.raises(ValueError, match="read-only"):
        assert_gradients(bad_ops.ExpThatWritesIntoItsInput, case)


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
