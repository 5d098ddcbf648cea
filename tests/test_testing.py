"""The public Hypothesis strategies draw what they promise."""

import bad_ops
import numpy as np
import pytest
from bad_ops import DoubleThatForgetsTheTwo, ExpThatUpcasts
from hypothesis import Phase, assume, find, given, settings
from hypothesis import strategies as st

from tinygrad_edu import DomainError, Function, GradcheckError, Tensor
from tinygrad_edu import functional as F
from tinygrad_edu.domains import AWAY_FROM, DISTINCT, NONZERO, POSITIVE, REAL, Param
from tinygrad_edu.ops import REGISTRY
from tinygrad_edu.testing import (
    ELEMENTWISE_UP_TO,
    GRADIENT_SETTINGS,
    UPSTREAM,
    OpCase,
    arrays,
    assert_dtype_kept,
    assert_gradients,
    broadcastable_shapes,
    call,
    gradient_test,
    op_inputs,
    shapes,
    whole_numbers,
)


@given(arrays(shapes(), POSITIVE))
def test_positive_arrays_stay_in_the_domain(x):
    assert np.all(x >= POSITIVE.low) and np.all(x <= POSITIVE.high)


@given(arrays(shapes(), POSITIVE, np.uint8), arrays(shapes(), NONZERO, np.bool_))
def test_integer_and_bool_arrays_hold_the_whole_numbers_of_the_domain(n, b):
    assert n.dtype == np.uint8 and np.isin(n, [1, 2, 3]).all()
    assert b.dtype == np.bool_ and b.all()


def test_whole_numbers_are_those_the_domain_and_the_dtype_hold():
    assert whole_numbers(REAL, np.uint8) == list(range(11))
    assert whole_numbers(NONZERO, np.int64) == [-3, -2, -1, 1, 2, 3]
    assert whole_numbers(POSITIVE, np.bool_) == [1]


@given(op_inputs(REGISTRY["mul"], dtype=st.sampled_from([np.float64, np.int32])))
def test_a_dtype_strategy_draws_one_dtype_per_input(case):
    for t in case.inputs:
        assert t.dtype in (np.float64, np.int32)
        assert t.requires_grad <= (t.dtype == np.float64)  # a detached one: False
    assert any(t.requires_grad for t in case.inputs) or case.inputs[0].dtype != "f8"


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


@settings(max_examples=10)
@given(
    arrays((3, 3, 3, 5), DISTINCT, np.int32), arrays((2, 3, 6, 7), DISTINCT, np.uint8)
)
def test_distinct_integer_arrays_as_large_as_a_pooled_image_are_distinct(a, b):
    """135 and 252 elements: more than the 121 whole numbers once drawn from."""
    assert len(np.unique(a)) == a.size and len(np.unique(b)) == b.size


def test_distinct_integers_a_dtype_cannot_hold_are_refused():
    """257 values 1 apart do not fit in uint8 (op_inputs draws such an input
    as floats instead)."""
    with pytest.raises(DomainError, match="257 distinct whole numbers do not fit"):
        arrays((257,), DISTINCT, np.uint8)


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
        # Class weights are differentiable inputs; one of the two may be frozen.
        assert target.requires_grad or logits.requires_grad


@given(st.sampled_from(sorted(REGISTRY)).flatmap(lambda n: op_inputs(REGISTRY[n])))
def test_drawn_cases_name_their_inputs_and_print_readably(case):
    first = [next(k for k, u in enumerate(case.inputs) if u is t) for t in case.inputs]
    assert [t.name for t in case.inputs] == [f"x{k}" for k in first]
    assert "OpCase(params=" in repr(case)


def test_assert_gradients_reports_the_op_and_the_case():
    case = OpCase([Tensor([1.0, 2.0], requires_grad=True, name="x0")])
    with pytest.raises(
        GradcheckError,
        match=r"(?s)^double_that_forgets_the_two: gradcheck.*with OpCase",
    ):
        assert_gradients(DoubleThatForgetsTheTwo, case)


# -- op_inputs for users' ops: what is missing is said up front ------------------


class CubeWithoutDomain(bad_ops.Cube):
    signature = "()->()"


class CubeWithoutSignature(bad_ops.Cube):
    domain = (REAL,)


class CubeWithTwoDomains(bad_ops.Cube):
    domain = (REAL, REAL)
    signature = "()->()"


class CubeWithAnUnknownParamKind(bad_ops.Cube):
    domain = (REAL,)
    signature = "()->()"
    param_domains = {"k": Param("no_such_kind", "a made-up parameter")}


class CubeWithParamsThatAreNotADict(bad_ops.Cube):
    domain = (REAL,)
    signature = "()->()"
    param_domains = "reduce"


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (CubeWithoutDomain, r"CubeWithoutDomain declares no domain.*domain = \(REAL"),
        (CubeWithoutSignature, r"declares no signature.*signature = \"\(\)->\(\)\""),
        (CubeWithTwoDomains, r"has 1 input\(s\) but domain has 2"),
        (CubeWithAnUnknownParamKind, r"'k' has a Param of unknown kind.*'axes'"),
        (CubeWithParamsThatAreNotADict, r"param_domains must be a dict"),
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
    param_domains = {"k": st.floats(-2.0, 2.0)}  # a parameter of its own: a strategy

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
    find(
        op_inputs(op),
        condition,
        settings=settings(max_examples=3000, database=None, phases=[Phase.generate]),
    )


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
                and np.unique(c.params["index"]).size < c.params["index"].size
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
        ("sum", lambda c: isinstance(c.params["axis"], np.integer)),
        ("sum", lambda c: isinstance(c.params["axis"], list)),
        ("mul", lambda c: c.aliasing == "shared"),
        ("mul", lambda c: c.aliasing == "same tensor"),
        ("mul", lambda c: [t.requires_grad for t in c.inputs] == [False, True]),
        ("matmul", lambda c: [t.requires_grad for t in c.inputs] == [False, True]),
        ("mul", lambda c: c.aliasing == "detached"),
        ("matmul", lambda c: c.aliasing == "detached"),
        ("div", lambda c: c.aliasing == "shared"),
        ("add", lambda c: not c.inputs[0].data.flags.c_contiguous),
        ("exp", lambda c: any(s < 0 for s in c.inputs[0].data.strides)),
        # issue 26: the new kinds of parameter, in every form
        ("clip", lambda c: c.params["min"] is None),
        ("clip", lambda c: c.params["max"] is None),
        ("clip", lambda c: c.params["min"] == c.params["max"]),
        ("var", lambda c: c.params["ddof"] == 1 and isinstance(c.params["axis"], int)),
        ("std", lambda c: c.params["ddof"] == 1 and c.inputs[0].ndim == 3),
        ("leaky_relu", lambda c: c.params["negative_slope"] < 0),
        ("where", lambda c: len(np.unique(c.inputs[0].data)) == 2),
        ("maximum", lambda c: c.inputs[0].shape != c.inputs[1].shape),
    ],
)
def test_op_inputs_draws_every_form_the_op_accepts(name, condition):
    _finds(F.ALL_OPS[name], condition)


def _closest(case):
    """How near the two inputs of a case come to a tie, after broadcasting."""
    x, y = (t.data.astype(np.float64) for t in case.inputs)
    return np.min(np.abs(x - y), initial=np.inf)


@settings(max_examples=150, database=None)
@given(op_inputs(F.maximum))
def test_maximums_inputs_never_tie(case):
    """A tie is a kink: central differences across it give no derivative to
    check against. BETWEEN_DISTINCT keeps the second input off the first's grid."""
    assert _closest(case) >= 0.01 - 1e-12


def test_two_distinct_inputs_would_tie():
    """Why maximum's second input is not DISTINCT too: they would tie."""

    class MaximumOfTwoDistinct(Function):
        domain = (DISTINCT, DISTINCT)
        signature = "(),()->()"

        @staticmethod
        def forward(ctx, x, y):
            return np.maximum(x, y)

    _finds(MaximumOfTwoDistinct, lambda c: _closest(c) == 0)


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


# -- drawn data is varied, and may be empty --------------------------------------


@settings(max_examples=30, database=None)
@given(arrays((10, 784), REAL))
def test_a_big_batch_has_rows_that_differ(batch):
    """Left to itself Hypothesis fills a big array with one value."""
    assert len(np.unique(batch)) > 0.99 * batch.size
    assert np.all((REAL.low <= batch) & (batch <= REAL.high))
    assert len(np.unique(batch, axis=0)) == 10


@settings(max_examples=30, database=None)
@given(arrays((30, 30), AWAY_FROM(0, margin=0.5)))
def test_a_big_array_keeps_its_domain(x):
    assert x.size > ELEMENTWISE_UP_TO and np.all(np.abs(x) >= 0.5)


def test_small_arrays_draw_every_element_on_its_own():
    find(
        arrays((3, 3), REAL),
        lambda x: len(np.unique(x)) == x.size,
        settings=settings(database=None),
    )


def test_shapes_draw_empty_arrays_unless_asked_not_to():
    find(shapes(), lambda s: 0 in s, settings=settings(database=None))
    find(arrays(shapes(min_dims=2), REAL), lambda x: x.size == 0 and x.ndim == 2)

    @settings(max_examples=100, database=None)
    @given(shapes(min_side=1))
    def never_empty(shape):
        assert 0 not in shape

    never_empty()


# -- op_inputs on a plain function, upstream gradients, dtypes ----------------------


def swish(x):
    """x·sigmoid(x), a composite of the library's ops, as a plain function."""
    return x * x.sigmoid()


swish.domain, swish.signature = (REAL,), "()->()"


@given(op_inputs(swish))
def test_a_plain_function_with_a_domain_and_signature_is_drawn_for(case):
    assert case.params == {} and case.inputs[0].requires_grad
    assert_gradients(swish, case)


@given(op_inputs(REGISTRY["sum"]))
def test_the_upstream_gradient_is_drawn_in_the_results_shape(case):
    out = call(REGISTRY["sum"], case.inputs, case.params)
    assert case.upstream.shape == out.shape
    assert np.all(np.abs(case.upstream) >= UPSTREAM.margin)
    assert "upstream:" in repr(case)


def test_the_upstream_gradient_varies_between_cases():
    find(
        op_inputs(REGISTRY["exp"]),
        lambda c: c.upstream.size > 1 and len(np.unique(c.upstream)) > 1,
        settings=settings(database=None),
    )


class SquareDetachedForNegativeUpstreamGradients(Function):
    """y = x², whose rule detaches x where the upstream gradient is negative:
    first derivatives are right, and so are second ones along an upstream
    gradient of ones; along a drawn one with a negative element they are 0."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        negative = Tensor((grad.data < 0).astype(grad.dtype))
        return 2 * grad * (x * (1 - negative) + x.detach() * negative)


def test_the_drawn_upstream_gradient_is_used_by_the_checks():
    x = Tensor([0.5, -1.5], requires_grad=True, name="x0")
    op = SquareDetachedForNegativeUpstreamGradients
    assert_gradients(op, OpCase([x], upstream=np.ones(2)))
    with pytest.raises(GradcheckError, match="second derivative"):
        assert_gradients(op, OpCase([x], upstream=np.array([2.0, -0.5])))


def test_a_float32_case_is_checked_for_keeping_float32():
    """gradcheck works in float64; the dtype check runs on the case as drawn."""
    case = find(
        op_inputs(ExpThatUpcasts, dtype=np.float32),
        lambda c: True,
        settings=settings(database=None),
    )
    assert case.inputs[0].dtype == np.float32
    with pytest.raises(GradcheckError, match="float32 inputs gave a float64 result"):
        assert_dtype_kept(ExpThatUpcasts, case)
    with pytest.raises(GradcheckError, match="float32 inputs gave a float64 result"):
        assert_gradients(ExpThatUpcasts, case)
    assert_dtype_kept(F.ALL_OPS["exp"], case)


# -- the test layer: a settings profile and a ready-made property test -------------


class Cube(bad_ops.Cube):
    domain = (REAL,)
    signature = "()->()"


test_gradient_test_of_a_right_op = gradient_test(Cube)
test_gradient_test_of_a_plain_function = gradient_test(swish)
test_gradient_test_of_an_op_with_params = gradient_test(REGISTRY["sum"])


def test_gradient_test_is_named_after_the_op():
    assert test_gradient_test_of_a_right_op.__name__ == "test_cube"


@pytest.mark.parametrize(
    ("bad_op", "raised", "message"),
    [
        (bad_ops.SquareThatForgetsTheTwo, GradcheckError, "gradcheck: backprop"),
        (bad_ops.SquareWhoseBackwardUsesData, GradcheckError, "second derivative"),
        (bad_ops.MulThatFindsItsSavedArraysBySearch, GradcheckError, "operands"),
        (bad_ops.ExpThatUpcasts, GradcheckError, "float32 inputs gave a float64"),
        (bad_ops.ExpThatWritesIntoItsInput, ValueError, "read-only"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_gradient_test_catches_each_kind_of_bug(bad_op, raised, message):
    """Wrong first and second derivatives, aliasing, dtype, writing into inputs."""
    thorough = settings(GRADIENT_SETTINGS, max_examples=300, database=None)
    with pytest.raises(raised, match=message):
        gradient_test(bad_op, hypothesis_settings=thorough)()


def test_gradient_test_refuses_an_op_without_declarations_at_once():
    with pytest.raises(DomainError, match="declares no domain"):
        gradient_test(CubeWithoutDomain)


def _notes(test):
    with pytest.raises(GradcheckError) as raised:
        test()
    return "\n".join(getattr(raised.value, "__notes__", []))


def test_a_failure_is_not_explained_by_the_librarys_own_lines():
    """Hypothesis' explain phase names the lines only failing examples ran:
    here always the library's, where the failure is raised."""
    op = bad_ops.SquareThatForgetsTheTwo

    @settings(database=None, deadline=None)
    @given(op_inputs(op))
    def by_default(case):
        assert_gradients(op, case)

    assert "tinygrad_edu" in _notes(by_default).partition("Explanation:")[2]
    assert Phase.explain not in GRADIENT_SETTINGS.phases
    notes = _notes(gradient_test(op, hypothesis_settings=settings(GRADIENT_SETTINGS)))
    assert "Explanation" not in notes and "Falsifying example: test_square_" in notes


def test_a_property_of_the_books_784_50_10_net_runs_under_the_profile():
    """Real MNIST batches and the book's init, drawn by Hypothesis; fast_mode
    and sample=k keep each example to a few evaluations of the net (a full
    check takes seconds per example, and is refused for second order)."""
    from models.two_layer_net import TwoLayerNet
    from tinygrad_edu import gradcheck
    from tinygrad_edu.datasets import load_mnist

    (images, labels), _ = load_mnist()
    examples = []

    @settings(GRADIENT_SETTINGS, max_examples=3)
    @given(
        batch=st.lists(st.integers(0, len(images) - 1), min_size=10, max_size=10),
        seed=st.integers(0, 2**32 - 1),
    )
    def the_net_backprops_right(batch, seed):
        net = TwoLayerNet(784, 50, 10, rng=np.random.default_rng(seed))
        params = [Tensor(net.params[k], requires_grad=True) for k in net.params]

        def loss(w1, b1, w2, b2):
            hidden = (Tensor(images[batch]) @ w1 + b1).sigmoid()
            return (hidden @ w2 + b2).softmax_cross_entropy(labels[batch])

        assert gradcheck(loss, params, fast_mode=True, sample=2)
        examples.append(seed)

    the_net_backprops_right()
    assert len(examples) == 3


def test_a_thorough_profile_searches_longer_locally_and_ci_does_not_use_it():
    """Issue 19: more examples come from a profile chosen on the command line
    (--hypothesis-profile=thorough); conftest selects ci or default only."""
    thorough, ci = settings.get_profile("thorough"), settings.get_profile("ci")
    assert thorough.max_examples >= 10 * ci.max_examples
    assert thorough.deadline is None
