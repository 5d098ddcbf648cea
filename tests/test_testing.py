"""The public Hypothesis strategies draw what they promise."""

import numpy as np
import pytest
from bad_ops import DoubleThatForgetsTheTwo
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tinygrad_edu import DomainError, Function, GradcheckError, Tensor
from tinygrad_edu.domains import AWAY_FROM, DISTINCT, NONZERO, POSITIVE, REAL
from tinygrad_edu.ops import REGISTRY
from tinygrad_edu.testing import (
    OpCase,
    arrays,
    assert_gradients,
    broadcastable_shapes,
    op_inputs,
    shapes,
)


@given(arrays(shapes(), POSITIVE))
def test_positive_arrays_stay_in_the_domain(x):
    assert np.all(x >= POSITIVE.low) and np.all(x <= POSITIVE.high)


@given(arrays(shapes(), NONZERO))
def test_nonzero_arrays_keep_the_margin(x):
    assert np.all(np.abs(x) >= NONZERO.margin)


@given(arrays(shapes(), AWAY_FROM(0, margin=0.5)))
def test_away_from_keeps_clear_of_the_kink(x):
    assert np.all(np.abs(x) >= 0.5)


@given(arrays(shapes(min_dims=1), DISTINCT))
def test_distinct_arrays_have_no_near_ties(x):
    values = np.sort(x.reshape(-1))
    assert np.all(np.diff(values) >= 0.05 - 1e-12)


@given(broadcastable_shapes("(),(),()->()"))
def test_broadcastable_shapes_broadcast(input_shapes):
    assert len(input_shapes) == 3
    np.broadcast_shapes(*input_shapes)


@given(broadcastable_shapes("(n?,k),(k,m?)->(n?,m?)", loop_dims=1))
def test_matmul_shapes_fit_matmul(input_shapes):
    a, b = input_shapes
    assert len(a) >= 1 and len(b) >= 1
    k = a[-1]
    assert (b[0] if len(b) == 1 else b[-2]) == k  # the contracted axes agree
    product = np.ones(a) @ np.ones(b)  # every entry sums k ones
    np.testing.assert_array_equal(product, np.full(product.shape, float(k)))


@given(op_inputs(REGISTRY["softmax_cross_entropy"]))
def test_targets_are_valid_labels_or_probability_rows(case):
    logits, target = case.inputs
    n, c = logits.shape
    if target.dtype.kind == "i":
        assert target.shape == (n,) and np.all((0 <= target.data) & (target.data < c))
        assert not target.requires_grad
    else:
        assert target.shape == (n, c)
        np.testing.assert_allclose(target.data.sum(axis=1), 1.0)


@given(st.sampled_from(sorted(REGISTRY)).flatmap(lambda n: op_inputs(REGISTRY[n])))
def test_drawn_cases_name_their_inputs_and_print_readably(case):
    assert [t.name for t in case.inputs] == [f"x{i}" for i in range(len(case.inputs))]
    assert "OpCase(params=" in repr(case)


def test_assert_gradients_reports_the_op_and_the_case():
    case = OpCase([Tensor([1.0, 2.0], requires_grad=True, name="x0")])
    with pytest.raises(
        GradcheckError,
        match=r"(?s)^double_that_forgets_the_two: gradcheck.*with OpCase",
    ):
        assert_gradients(DoubleThatForgetsTheTwo, case)


# -- op_inputs for users' ops: what is missing is said up front ------------------


class _Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class CubeWithoutDomain(_Cube):
    signature = "()->()"


class CubeWithoutSignature(_Cube):
    domain = (REAL,)


class CubeWithTwoDomains(_Cube):
    domain = (REAL, REAL)
    signature = "()->()"


class CubeWithAnUnknownRecipe(_Cube):
    domain = (REAL,)
    params = "no_such_recipe"


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (CubeWithoutDomain, r"CubeWithoutDomain declares no domain.*domain = \(REAL"),
        (CubeWithoutSignature, r"declares no signature.*signature = \"\(\)->\(\)\""),
        (CubeWithTwoDomains, r"has 1 input\(s\) but domain has 2"),
        (CubeWithAnUnknownRecipe, r"'no_such_recipe' names no recipe.*'reduce'"),
    ],
)
def test_op_inputs_says_what_an_op_must_declare(op, message):
    with pytest.raises(
        DomainError, match=f"(?s)^op_inputs\\({op.__name__}\\): .*{message}"
    ):
        op_inputs(op)


def _scale_recipe(draw):
    """A user's params recipe: one input shape and the keyword ``k``."""
    return [draw(shapes())], {"k": draw(st.floats(-2.0, 2.0))}


class ScaleBy(Function):
    """y = k·x for a keyword k: dy/dx = k."""

    domain = (REAL,)
    params = _scale_recipe

    @staticmethod
    def forward(ctx, x, *, k):
        ctx.k = k
        return k * x

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.k


class ScaleByForgettingK(ScaleBy):
    @staticmethod
    def backward(ctx, grad):
        return grad


@given(op_inputs(ScaleBy))
def test_a_users_own_params_recipe_is_used(case):
    assert set(case.params) == {"k"}
    assert_gradients(ScaleBy, case)


@given(op_inputs(ScaleByForgettingK))
def test_a_users_recipe_op_with_a_wrong_backward_fails_the_same_check(case):
    assume(abs(case.params["k"] - 1) > 1e-2)  # k = 1: forgetting k is harmless
    with pytest.raises(GradcheckError, match="scale_by_forgetting_k"):
        assert_gradients(ScaleByForgettingK, case)


def test_floats_stay_in_the_domain_when_an_avoided_point_lies_outside_it():
    from tinygrad_edu.domains import Domain
    from tinygrad_edu.testing import _floats

    domain = Domain("test", low=0.5, high=3.0, avoid=(0.0,), margin=0.1)

    @settings(max_examples=300, database=None, derandomize=True)
    @given(_floats(domain))
    def in_bounds(v):
        assert 0.5 <= v <= 3.0  # the avoided 0 ± 0.1 lies below low

    in_bounds()
