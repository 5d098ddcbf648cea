"""The public Hypothesis strategies draw what they promise."""

import numpy as np
import pytest
from bad_ops import DoubleThatForgetsTheTwo
from hypothesis import assume, find, given, settings
from hypothesis import strategies as st

from tinygrad_edu import DomainError, Function, GradcheckError, Tensor
from tinygrad_edu import functional as F
from tinygrad_edu.domains import AWAY_FROM, DISTINCT, NONZERO, POSITIVE, REAL, Param
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
def test_targets_are_valid_labels_or_rows_of_class_weights(case):
    logits, target = case.inputs
    n, c = logits.shape
    if target.dtype.kind == "i":
        assert target.shape == (n,) and np.all((0 <= target.data) & (target.data < c))
        assert not target.requires_grad
    elif case.aliasing == "separate":  # (else they are the logits' own array)
        assert target.shape == (n, c) and np.all(target.data >= 0)
        assert target.requires_grad  # class weights are differentiable inputs


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


class CubeWithAnUnknownParamKind(_Cube):
    domain = (REAL,)
    signature = "()->()"
    params = {"k": Param("no_such_kind", "a made-up parameter")}


class CubeWithParamsThatAreNotADict(_Cube):
    domain = (REAL,)
    signature = "()->()"
    params = "reduce"


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (CubeWithoutDomain, r"CubeWithoutDomain declares no domain.*domain = \(REAL"),
        (CubeWithoutSignature, r"declares no signature.*signature = \"\(\)->\(\)\""),
        (CubeWithTwoDomains, r"has 1 input\(s\) but domain has 2"),
        (CubeWithAnUnknownParamKind, r"'k' has a Param of unknown kind.*'axes'"),
        (CubeWithParamsThatAreNotADict, r"params must be a dict"),
    ],
)
def test_op_inputs_says_what_an_op_must_declare(op, message):
    with pytest.raises(
        DomainError, match=f"(?s)^op_inputs\\({op.__name__}\\): .*{message}"
    ):
        op_inputs(op)


class ScaleBy(Function):
    """y = k·x for a keyword k: dy/dx = k."""

    domain = (REAL,)
    signature = "()->()"
    params = {"k": st.floats(-2.0, 2.0)}  # a parameter of its own: a strategy

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
def test_a_users_own_parameter_strategy_is_used(case):
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


# -- the strategies draw every form an op accepts --------------------------------


def _finds(op, condition):
    """A drawn case of ``op`` that meets ``condition`` exists (Hypothesis finds it)."""
    find(op_inputs(op), condition, settings=settings(max_examples=3000, database=None))


def _is_int(a):
    return isinstance(a, (int, np.integer)) and not isinstance(a, bool)


@pytest.mark.parametrize(
    ("name", "condition"),
    [
        ("sum", lambda c: c.params["axis"] is None),
        ("sum", lambda c: _is_int(c.params["axis"]) and c.params["axis"] < 0),
        (
            "sum",
            lambda c: (
                isinstance(c.params["axis"], tuple)
                and len(c.params["axis"]) > 1
                and min(c.params["axis"]) < 0
            ),
        ),
        ("sum", lambda c: c.params["keepdims"]),
        ("max", lambda c: isinstance(c.params["axis"], tuple) and c.params["keepdims"]),
        ("transpose", lambda c: c.params["axes"] is None),
        (
            "transpose",
            lambda c: (
                c.params["axes"]
                and len(c.params["axes"]) == 3
                and min(c.params["axes"]) < 0
            ),
        ),
        ("softmax", lambda c: c.params["axis"] < 0),
        ("getitem", lambda c: _is_int(c.params["index"]) and c.params["index"] < 0),
        (
            "getitem",
            lambda c: (
                isinstance(c.params["index"], slice)
                and (c.params["index"].step or 1) < 0
            ),
        ),
        (
            "getitem",
            lambda c: (
                isinstance(c.params["index"], np.ndarray)
                and c.params["index"].dtype == bool
            ),
        ),
        (
            "getitem",
            lambda c: (
                isinstance(c.params["index"], np.ndarray)
                and len(set(c.params["index"].tolist())) < c.params["index"].size
            ),
        ),
        ("getitem", lambda c: isinstance(c.params["index"], list)),
        (
            "getitem",
            lambda c: (
                isinstance(c.params["index"], tuple)
                and any(i is None for i in c.params["index"])
                and any(i is Ellipsis for i in c.params["index"])
            ),
        ),
        ("reshape", lambda c: -1 in c.params["shape"]),
        ("broadcast_to", lambda c: len(c.params["shape"]) > c.inputs[0].ndim),
        ("cast", lambda c: c.params["dtype"].kind in "iub"),
        ("concatenate", lambda c: c.params["axis"] < 0),
        ("stack", lambda c: c.params["axis"] < 0),
        ("softmax_cross_entropy", lambda c: c.inputs[1].dtype.kind == "i"),
        (
            "softmax_cross_entropy",
            lambda c: (
                c.inputs[1].ndim == 2 and np.any(np.all(c.inputs[1].data == 0, axis=1))
            ),
        ),
        (
            "softmax_cross_entropy",
            lambda c: (
                c.inputs[1].ndim == 2
                and np.all(np.isin(c.inputs[1].data, (0, 1)))
                and c.aliasing == "separate"
            ),
        ),
        (
            "softmax_cross_entropy",
            lambda c: (
                c.inputs[1].ndim == 2
                and not np.allclose(c.inputs[1].data.sum(axis=1), 1)
            ),
        ),
        ("pow", lambda c: np.any((c.inputs[0].data == 0) & (c.inputs[1].data == 0))),
        ("pow", lambda c: np.any(c.inputs[0].data < 0)),
        ("pow", lambda c: all(t.requires_grad for t in c.inputs)),
        ("mul", lambda c: c.aliasing == "shared"),
        ("mul", lambda c: c.aliasing == "detached"),
        ("matmul", lambda c: c.aliasing == "detached"),
        ("div", lambda c: c.aliasing == "shared"),
        ("add", lambda c: not c.inputs[0].data.flags.c_contiguous),
        ("exp", lambda c: any(s < 0 for s in c.inputs[0].data.strides)),
    ],
)
def test_op_inputs_draws_every_form_the_op_accepts(name, condition):
    _finds(F.ALL_OPS[name], condition)


def test_aliased_operands_are_one_array_and_detached_ones_do_not_require_grad():
    shared = find(
        op_inputs(F.ALL_OPS["mul"]),
        lambda c: c.aliasing == "shared",
        settings=settings(max_examples=1000, database=None),
    )
    a, b = shared.inputs
    assert a.data is b.data and a.requires_grad and b.requires_grad
    detached = find(
        op_inputs(F.ALL_OPS["mul"]),
        lambda c: c.aliasing == "detached",
        settings=settings(max_examples=1000, database=None),
    )
    a, b = detached.inputs
    assert a.data is b.data and a.requires_grad and not b.requires_grad


# -- domains: the range drawn reaches where ops saturate ---------------------------


def test_real_reaches_where_sigmoid_and_softplus_saturate():
    assert REAL.low <= -10 and REAL.high >= 10
    find(arrays((), REAL), lambda x: x > 4, settings=settings(database=None))


@given(arrays(shapes(), REAL.between(-50.0, 50.0)))
def test_between_draws_from_the_range_it_names(x):
    assert np.all(np.abs(x) <= 50)


def test_between_keeps_the_domains_other_limits_and_says_its_range():
    far = AWAY_FROM(0, margin=0.5).between(-30, 30)
    assert (far.low, far.high, far.avoid, far.margin) == (-30, 30, (0,), 0.5)
    assert str(far) == "real, away from 0 in [-30, 30]"
    with pytest.raises(DomainError, match=r"low must be below high, got 3 and -3"):
        REAL.between(3, -3)
