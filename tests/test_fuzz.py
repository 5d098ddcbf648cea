"""Fuzzing the public ops: every failure is a documented error, valid input is quiet.

Hypothesis throws random arguments (arrays of any dtype and shape, scalars,
lists, None, strings; random keyword values) at every op of the registry and
every composite. Whatever happens, the only exceptions a user may see are
tinygrad_edu's own (``TinygradEduError``), never an IndexError, KeyError or
AttributeError from inside the engine. Inputs drawn from an op's declared
domain must never warn, and extreme but valid inputs stay finite.
"""

import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_edu.functional as F
from tinygrad_edu import Function, Tensor, TinygradEduError
from tinygrad_edu.domains import REAL
from tinygrad_edu.testing import call, op_inputs

OPS = F.ALL_OPS

small_shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)
dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.bool_, np.uint8])
any_array = st.one_of(
    *(hnp.arrays(d, small_shapes) for d in (np.float64, np.float32)),
    dtypes.flatmap(lambda d: hnp.arrays(d, small_shapes)),
)
junk = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.integers(-5, 5),
    st.floats(allow_nan=True, allow_infinity=True),
    st.lists(st.floats(-3, 3), max_size=4),
    st.just(object()),
    st.just({}),
)
argument = st.one_of(
    any_array,
    any_array.map(lambda a: Tensor(a, requires_grad=a.dtype.kind == "f")),
    junk,
)
keyword = st.one_of(
    st.integers(-4, 4),
    st.tuples(st.integers(-4, 4)),
    st.tuples(st.integers(0, 4), st.integers(0, 4)),
    st.none(),
    st.text(max_size=2),
    st.sampled_from([np.float32, np.int64, "float64", slice(0, 2), (1, "a")]),
)
KEYWORDS = ["axis", "keepdims", "shape", "axes", "index", "dtype"]


def check_result_or_documented_error(function, args, kwargs):
    """The fuzz property's body: a Tensor, or only our own documented errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # out-of-domain values may warn in NumPy
        try:
            out = function(*args, **kwargs)
        except TinygradEduError:
            return
        except TypeError as error:
            # Python's own call errors (wrong number of arguments, unknown
            # keyword) are raised before any of our code runs.
            assert "argument" in str(error), (function, error)
            return
        assert isinstance(out, Tensor)
        if out.requires_grad and out.dtype.kind == "f":
            try:
                out.sum().backward()
            except TinygradEduError:
                pass


def check_valid_inputs_do_not_warn(op, data, detectable=None):
    """The no-warning property's body: in-domain inputs, warnings as errors."""
    case = data.draw(
        op_inputs(op, dtype=data.draw(st.sampled_from([np.float64, np.float32])))
    )
    if detectable is not None:
        assume(detectable(case))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = call(op, case.inputs, case.params)
        if out.requires_grad:  # (a cast to int has no gradient)
            out.sum().backward()


@settings(max_examples=300, deadline=None)
@given(
    name=st.sampled_from(sorted(OPS)),
    args=st.lists(argument, min_size=0, max_size=3),
    kwargs=st.dictionaries(st.sampled_from(KEYWORDS), keyword, max_size=2),
)
def test_any_arguments_give_a_result_or_a_documented_error(name, args, kwargs):
    check_result_or_documented_error(getattr(F, name), args, kwargs)


@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_valid_inputs_never_warn(name, data):
    check_valid_inputs_do_not_warn(OPS[name], data)


# -- the same bodies fail on known-bad ops ---------------------------------------


class SumWhoseBackwardIndexesPastTheEnd(Function):
    """sum whose backward reads one element too far: an IndexError from inside."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sum(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return Tensor(np.full(x.shape, x.data.reshape(-1)[x.size]))


class CoshOfAThousandX(Function):
    """cosh(1000 x): overflows (and warns) for |x| > 0.71, inside the REAL domain."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (np.exp(1000 * x) + np.exp(-1000 * x)) / 2

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 500 * ((1000 * x).exp() - (-1000 * x).exp())


@settings(max_examples=20, deadline=None)
@given(hnp.arrays(st.sampled_from([np.float64, np.float32]), small_shapes))
def test_the_fuzz_property_fails_on_an_op_leaking_an_index_error(array):
    x = Tensor(array, requires_grad=True)
    with pytest.raises(IndexError):
        check_result_or_documented_error(
            SumWhoseBackwardIndexesPastTheEnd.apply, [x], {}
        )


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_the_no_warning_property_fails_on_an_op_that_overflows(data):
    def overflows(case):
        return bool(np.any(np.abs(case.inputs[0].data) > 0.75))

    with pytest.raises(RuntimeWarning, match="overflow"):
        check_valid_inputs_do_not_warn(CoshOfAThousandX, data, overflows)


EXTREME_LOGITS = [
    np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]]),
    np.array([[710.0, 0.0, -710.0], [0.0, 0.0, 0.0]]),
]


@pytest.mark.parametrize("logits", EXTREME_LOGITS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_extreme_logits_give_finite_losses_and_gradients(logits, dtype):
    x = Tensor(logits.astype(dtype), requires_grad=True)
    loss = x.softmax_cross_entropy(np.array([1, 2]))
    loss.backward()
    assert np.isfinite(loss.item()) and loss.dtype == dtype
    assert np.all(np.isfinite(x.grad.data))
    shifted = logits - logits.max(axis=1, keepdims=True)
    expected = np.log(np.exp(shifted).sum(axis=1)) - shifted[[0, 1], [1, 2]]
    assert loss.item() == pytest.approx(expected.mean(), rel=1e-6)


def test_probabilities_of_exactly_zero_and_one():
    y = Tensor(np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]), requires_grad=True)
    labels = np.array([0, 0])  # the first row puts probability 0 on its label
    loss = F.cross_entropy_error(y, labels)
    loss.backward()
    assert loss.item() == pytest.approx(-(np.log(1e-7) + np.log(1 + 1e-7)) / 2)
    assert np.all(np.isfinite(y.grad.data))


def test_a_huge_batch_of_one_class():
    n = 200_000
    x = Tensor(np.zeros((n, 10)), requires_grad=True)
    loss = x.softmax_cross_entropy(np.full(n, 3))
    loss.backward()
    assert loss.item() == pytest.approx(np.log(10))
    np.testing.assert_allclose(x.grad.data.sum(), 0.0, atol=1e-9)


def test_sigmoid_and_tanh_saturate_without_warnings():
    x = Tensor(np.array([-1e308, -1000.0, 0.0, 1000.0, 1e308]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x.sigmoid() + x.tanh()).sum().backward()
    np.testing.assert_array_equal(x.sigmoid().data, [0, 0, 0.5, 1, 1])
    assert np.all(np.isfinite(x.grad.data))
