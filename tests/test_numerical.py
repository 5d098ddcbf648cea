"""numerical_diff, numerical_gradient, gradcheck, gradgradcheck — and that they fail."""

import numpy as np
import pytest
from bad_ops import (
    AddThatForgetsAnInput,
    MulWithSwappedBackward,
    SquareWithDetachedBackward,
)

from tinygrad_edu import (
    DomainError,
    DTypeError,
    GradcheckError,
    Tensor,
    gradcheck,
    gradgradcheck,
    no_grad,
    numerical_diff,
    numerical_gradient,
)


def function_1(x):
    """The book's example: y = 0.01x² + 0.1x, dy/dx = 0.02x + 0.1."""
    return 0.01 * x**2 + 0.1 * x


def test_numerical_diff_is_the_central_difference():
    # The book's values at x = 5 and 10 (0.2 and 0.3, up to O(h²)).
    assert numerical_diff(function_1, 5.0) == pytest.approx(0.2, abs=1e-9)
    assert numerical_diff(function_1, 10.0) == pytest.approx(0.3, abs=1e-9)


def test_the_seed_notes_precedence_bug_against_numerical_diff():
    """A note in ../shared/seeds writes ``(f(x+h) - f(x-h) / (2 * h))``.

    Division binds tighter, so that computes f(x+h) - f(x-h)/2h: about -3749.15
    at x = 5 where the derivative is 0.2. numerical_diff must give the latter.
    """
    h = 1e-4
    x = 5.0
    the_notes_formula = function_1(x + h) - function_1(x - h) / (2 * h)
    assert the_notes_formula == pytest.approx(-3749.1499805, abs=1e-6)
    assert numerical_diff(function_1, x, h) == pytest.approx(0.2, abs=1e-9)
    right = (function_1(x + h) - function_1(x - h)) / (2 * h)
    assert numerical_diff(function_1, x, h) == right


def test_numerical_gradient_matches_the_book_and_handles_any_ndim():
    def function_2(x):
        return np.sum(x**2)

    np.testing.assert_allclose(
        numerical_gradient(function_2, np.array([3.0, 4.0])), [6, 8]
    )
    np.testing.assert_allclose(
        numerical_gradient(function_2, np.array([0.0, 2.0])), [0, 4]
    )
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    np.testing.assert_allclose(numerical_gradient(function_2, x), 2 * x, atol=1e-8)
    scalar = np.array(1.5)
    np.testing.assert_allclose(numerical_gradient(function_2, scalar), 3.0)


def test_numerical_gradient_uses_the_books_convention_of_changing_x_in_place():
    """f ignores its argument and reads the weights it closes over, as net.loss does."""
    weights = np.array([[1.0, 2.0], [3.0, 4.0]])
    grad = numerical_gradient(lambda _: np.sum(weights**3), weights)
    np.testing.assert_allclose(grad, 3 * weights**2, rtol=1e-7)


def test_numerical_gradient_restores_x_even_when_f_raises():
    x = np.array([1.0, 2.0, 3.0])
    calls = []

    def explodes_on_the_third_call(v):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return np.sum(v)

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(explodes_on_the_third_call, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_numerical_gradient_refuses_integer_arrays_with_the_reason():
    # The book's version silently returns 25000 instead of 6 here.
    with pytest.raises(DTypeError, match=r"int64.*truncated.*astype\(float\)"):
        numerical_gradient(lambda x: np.sum(x**2), np.array([3, 4]))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_numerical_gradient_refuses_float_types_narrower_than_float64(dtype):
    """x is perturbed in place, so it cannot be widened; float32 loses the step."""
    x = np.array([1e4], dtype=dtype)
    with pytest.raises(DTypeError, match=r"must be float64.*astype\(np\.float64\)"):
        numerical_gradient(lambda v: np.sum(v.astype(np.float64) ** 2), x)
    np.testing.assert_array_equal(x, [1e4])  # untouched


def test_the_float32_refusal_is_needed_and_the_fix_works():
    x32 = np.array([1e4], dtype=np.float32)
    assert x32[0] + np.float32(1e-4) == x32[0]  # the step is rounded away
    x = x32.astype(np.float64)
    np.testing.assert_allclose(
        numerical_gradient(lambda v: np.sum(v**2), x), [2e4], rtol=1e-6
    )


def test_numerical_gradient_keeps_wider_floats():
    x = np.array([3.0, 4.0], dtype=np.longdouble)
    g = numerical_gradient(lambda v: float(np.sum(v**2)), x)
    assert g.dtype == np.longdouble
    np.testing.assert_allclose(g.astype(np.float64), [6.0, 8.0])


def test_numerical_gradient_other_bad_inputs():
    with pytest.raises(DTypeError, match="ndarray"):
        numerical_gradient(np.sum, [1.0, 2.0])
    frozen = np.ones(2)
    frozen.flags.writeable = False
    with pytest.raises(DomainError, match="read-only"):
        numerical_gradient(np.sum, frozen)
    with pytest.raises(DomainError, match="scalar"):
        numerical_gradient(lambda x: x * 2, np.ones(2))
    with pytest.raises(DomainError, match="positive"):
        numerical_gradient(np.sum, np.ones(2), h=0)


# -- gradcheck ----------------------------------------------------------------------


def _inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]


def test_gradcheck_passes_on_correct_graphs_of_any_output_shape():
    x, w = _inputs((3, 4), (4, 2))
    assert gradcheck(lambda x, w: (x @ w).tanh(), [x, w])
    assert gradcheck(lambda x, w: (x @ w).sigmoid().sum(), [x, w], fast_mode=True)


def test_gradcheck_names_the_input_element_and_both_values():
    x, y = _inputs((2, 3), (2, 3))
    x.name = "x"
    with pytest.raises(
        GradcheckError,
        match=r"input 0 'x' of shape \(2, 3\) at element .*analytic .*numerical",
    ):
        gradcheck(MulWithSwappedBackward.apply, [x, y])


def test_gradcheck_catches_a_missing_gradient():
    x, y = _inputs((3,), (3,))
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(AddThatForgetsAnInput.apply, [x, y])


def test_fast_mode_catches_a_wrong_backward_too():
    x, y = _inputs((2, 3), (2, 3))
    with pytest.raises(GradcheckError, match="fast_mode"):
        gradcheck(MulWithSwappedBackward.apply, [x, y], fast_mode=True)


def test_gradcheck_can_return_false_instead_of_raising():
    x, y = _inputs((2,), (2,))
    swapped = MulWithSwappedBackward.apply
    assert gradcheck(swapped, [x, y], raise_exception=False) is False


def test_gradcheck_works_in_float64_and_leaves_the_callers_arrays_alone():
    data = np.ones((2, 2), np.float32)
    x = Tensor(data, requires_grad=True)
    seen = []
    assert gradcheck(lambda t: (seen.append(t.dtype), (t * t).sum())[1], [x])
    assert set(seen) == {np.dtype(np.float64)}
    np.testing.assert_array_equal(data, np.ones((2, 2)))


def test_gradcheck_needs_an_input_that_requires_grad():
    with pytest.raises(DomainError, match="requires_grad"):
        gradcheck(lambda t: t * 2, [Tensor([1.0])])


def test_gradcheck_of_a_function_that_ignores_its_input():
    (x,) = _inputs((2,))
    assert gradcheck(lambda t: Tensor([1.0, 2.0]), [x])


def test_gradgradcheck_passes_and_catches_a_detached_backward():
    (x,) = _inputs((3,))
    assert gradgradcheck(lambda t: (t**3).sum(), [x])
    assert gradcheck(SquareWithDetachedBackward.apply, [x])
    with pytest.raises(GradcheckError):
        gradgradcheck(SquareWithDetachedBackward.apply, [x])


@pytest.mark.parametrize("fast_mode", [False, True])
def test_gradcheck_inside_no_grad_passes_a_right_op_and_fails_a_wrong_one(fast_mode):
    """Recording is switched on for backprop; without it analytic 0 ≠ numeric 4."""
    x, y = _inputs((2, 3), (2, 3))
    with no_grad():
        assert gradcheck(lambda a: (a * a).sum(), [x], fast_mode=fast_mode)
        assert gradcheck(lambda a, b: a * b, [x, y], fast_mode=fast_mode)
        with pytest.raises(GradcheckError):
            gradcheck(MulWithSwappedBackward.apply, [x, y], fast_mode=fast_mode)
        assert not (x * y).requires_grad  # and no_grad is still in force afterwards


def test_gradgradcheck_inside_no_grad_passes_a_right_op_and_fails_a_wrong_one():
    (x,) = _inputs((3,))
    with no_grad():
        assert gradgradcheck(lambda t: (t**3).sum(), [x])
        assert gradgradcheck(lambda t: t.tanh(), [x], fast_mode=True)
        with pytest.raises(GradcheckError):
            gradgradcheck(SquareWithDetachedBackward.apply, [x])
        with pytest.raises(GradcheckError):
            gradgradcheck(SquareWithDetachedBackward.apply, [x], fast_mode=True)


def test_gradgradcheck_needs_an_input_that_requires_grad_like_gradcheck():
    with pytest.raises(DomainError, match="gradgradcheck: no input requires grad"):
        gradgradcheck(lambda t: t * 2, [Tensor([1.0])])


def test_gradgradcheck_of_a_function_that_ignores_its_input_like_gradcheck():
    (x,) = _inputs((2,))
    constant = Tensor([1.0, 2.0])
    assert gradcheck(lambda t: constant, [x])
    assert gradgradcheck(lambda t: constant, [x])
    assert gradgradcheck(lambda t: constant, [x], fast_mode=True)
    # Linear in x: the first derivative is constant, the second is 0.
    assert gradgradcheck(lambda t: 3 * t, [x])


def test_fast_mode_steps_along_unit_directions():
    """The docs promise random *unit* u: the perturbed input is eps from x."""
    (x,) = _inputs((4, 5))
    seen = []

    def record(t):
        seen.append(t.numpy().copy())
        return t.tanh()

    gradcheck(record, [x], fast_mode=True, directions=2, eps=1e-6)
    steps = [np.linalg.norm(a - seen[0]) for a in seen[1:]]
    perturbed = [s for s in steps if s > 0]
    assert len(perturbed) == 4  # plus and minus per direction
    np.testing.assert_allclose(perturbed, 1e-6, rtol=1e-6)


def test_two_layer_net_backprop_matches_numerical_gradient_like_the_books_check():
    """The book's gradient_check.py: mean |backprop - numerical| per parameter."""
    rng = np.random.default_rng(0)
    x = rng.random((3, 8))
    labels = np.array([1, 0, 2])
    params = {
        "W1": 0.01 * rng.standard_normal((8, 5)),
        "b1": np.zeros(5),
        "W2": 0.01 * rng.standard_normal((5, 3)),
        "b2": np.zeros(3),
    }
    tensors = {k: Tensor(v, requires_grad=True) for k, v in params.items()}

    def loss_value():
        t = {k: Tensor(v) for k, v in params.items()}
        hidden = (Tensor(x) @ t["W1"] + t["b1"]).sigmoid()
        return (hidden @ t["W2"] + t["b2"]).softmax_cross_entropy(labels).item()

    hidden = (Tensor(x) @ tensors["W1"] + tensors["b1"]).sigmoid()
    (hidden @ tensors["W2"] + tensors["b2"]).softmax_cross_entropy(labels).backward()
    for key, value in params.items():
        numerical = numerical_gradient(lambda _: loss_value(), value)
        difference = np.mean(np.abs(tensors[key].grad.numpy() - numerical))
        assert difference < 1e-9, (key, difference)
