"""The public Hypothesis strategies draw what they promise."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_edu import Function, GradcheckError, Tensor
from tinygrad_edu.domains import AWAY_FROM, DISTINCT, NONZERO, POSITIVE
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
    assert (np.ones(a) @ np.ones(b)).ndim >= 0


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
    class Wrong(Function):
        """y = 2x with a backward that forgets the 2."""

        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, grad):
            return grad

    case = OpCase([Tensor([1.0, 2.0], requires_grad=True, name="x0")])
    with pytest.raises(GradcheckError, match=r"(?s)^wrong: gradcheck.*with OpCase"):
        assert_gradients(Wrong, case)
