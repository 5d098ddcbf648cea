"""numerical_diff, numerical_gradient, gradcheck, gradgradcheck — and that they fail."""

import numpy as np
import pytest
from bad_ops import (
    AddThatForgetsAnInput,
    AddWithTheBiasGradientTooSmall,
    DoubleThatForgetsTheTwo,
    MulWithSwappedBackward,
    SigmoidThatSavesAnArrayItComputed,
    SquareThatForgetsTheTwo,
    SquareWhoseBackwardUsesData,
    SquareWithDetachedBackward,
)

from tinygrad_edu import (
    DomainError,
    DTypeError,
    Function,
    GradcheckError,
    Tensor,
    gradcheck,
    gradgradcheck,
    no_grad,
    numerical_diff,
    numerical_gradient,
)
from tinygrad_edu.datasets import load_mnist
from tinygrad_edu.numerical import KinkError


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
    perturbed = sorted(s for s in steps if s > 0)
    # per direction: ±eps, and ±2·eps for the error estimate
    assert len(perturbed) == 8
    np.testing.assert_allclose(perturbed, [1e-6] * 4 + [2e-6] * 4, rtol=1e-6)


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


# -- kinks: a report, not a false alarm ----------------------------------------


def relu_net(x):
    """A correct MLP with a ReLU, as a function of its parameters."""

    def loss(w1, b1, w2):
        return ((Tensor(x) @ w1 + b1).relu() @ w2).sum()

    return loss


def relu_net_params(seed=0):
    rng = np.random.default_rng(seed)
    return [
        Tensor(rng.standard_normal((3, 4)), requires_grad=True, name="w1"),
        Tensor(np.zeros(4), requires_grad=True, name="b1"),
        Tensor(rng.standard_normal((4, 2)), requires_grad=True, name="w2"),
    ]


@pytest.mark.parametrize(
    "mode", [{}, {"fast_mode": True}, {"sample": 2}], ids=["full", "fast", "sample"]
)
def test_a_correct_relu_model_at_a_kink_gets_a_kink_report_not_a_blame(mode):
    """All-zero data put every hidden unit at relu's kink (Hypothesis shrinks to
    exactly that): the central difference is the mean of the two slopes."""
    with pytest.raises(KinkError) as raised:
        gradcheck(relu_net(np.zeros((2, 3))), relu_net_params(), **mode)
    message = str(raised.value)
    assert "sits at a kink" in message and "is their mean" in message
    assert "The kink: 'relu' (created at" in message and "test_numerical.py" in message
    assert 'kinks="skip"' in message
    assert "The cause" not in message and "is wrong" not in message


def test_kinks_skip_checks_the_rest_and_still_catches_a_wrong_op():
    """One row of zeros puts b1 at the kink; the other row is checked as usual."""
    data = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])  # units 2, 3 active
    with pytest.raises(KinkError):
        gradcheck(relu_net(data), relu_net_params())
    assert gradcheck(relu_net(data), relu_net_params(), kinks="skip")

    def wrong(w1, b1, w2):
        return DoubleThatForgetsTheTwo.apply(relu_net(data)(w1, b1, w2))

    with pytest.raises(GradcheckError) as raised:
        gradcheck(wrong, relu_net_params(), kinks="skip")
    assert not isinstance(raised.value, KinkError)
    assert "'double_that_forgets_the_two'" in str(raised.value)


def test_a_point_where_the_derivative_exists_but_converges_slowly_passes():
    """relu(x)² is differentiable at 0 (derivative 0), but its second derivative
    jumps there, so the central difference is only O(h) accurate; a smaller
    step settles it."""
    x = Tensor([0.0, 0.0], requires_grad=True)
    assert gradcheck(lambda t: (t.relu() * 6.0) ** 2, [x])  # 1.8e-5 off at eps


def test_away_from_the_kink_the_relu_model_passes():
    data = np.random.default_rng(1).standard_normal((2, 3))
    assert gradcheck(relu_net(data), relu_net_params())


class SteepSquareWithAnOffset(Function):
    """y = 10⁴·x², whose rule adds 0.01 to the derivative: wrong, at a point of
    such curvature that the one-sided slopes differ by more than the
    tolerance (a kink test on one step alone would excuse it)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return 1e4 * x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * (2e4 * x + 0.01)


def test_curvature_is_not_mistaken_for_a_kink():
    x = Tensor([1e-4], requires_grad=True)
    with pytest.raises(GradcheckError) as raised:
        gradcheck(SteepSquareWithAnOffset.apply, [x], blame=False)
    assert not isinstance(raised.value, KinkError)


def test_second_order_at_relus_kink_is_a_kink_report():
    x = Tensor([0.0, 1.5], requires_grad=True)
    with pytest.raises(KinkError, match=r"second derivative \(gradgradcheck\).*kink"):
        gradgradcheck(lambda t: (t.relu() * t).sum(), [x])


# -- second order: said so, with the cause --------------------------------------


def test_a_backward_on_data_fails_as_a_second_derivative_that_is_not_recorded():
    x = Tensor([0.5, -1.0], requires_grad=True, name="x")
    assert gradcheck(SquareWhoseBackwardUsesData.apply, [x])
    with pytest.raises(GradcheckError) as raised:
        gradgradcheck(SquareWhoseBackwardUsesData.apply, [x])
    message = str(raised.value)
    assert message.startswith("second derivative (gradgradcheck): ")
    assert "analytic 0," in message and "Backprop gives exactly 0" in message
    assert "twice_differentiable = False" in message
    assert "second_order=False" in message
    assert "The cause: the backward of 'square_whose_backward_uses_data'" in message
    assert "is not recorded" in message and "cannot differentiate it again" in message


@pytest.mark.parametrize(
    "op", [SigmoidThatSavesAnArrayItComputed, SquareWithDetachedBackward]
)
def test_a_first_derivative_right_but_constant_in_x_names_the_likely_causes(op):
    x = Tensor([0.5, -1.0], requires_grad=True)
    assert gradcheck(op.apply, [x])
    with pytest.raises(GradcheckError) as raised:
        gradgradcheck(op.apply, [x])
    message = str(raised.value)
    assert message.startswith("second derivative (gradgradcheck): ")
    assert "with respect to input 0 of shape (2,) at element" in message
    assert "saves an array which is neither an input nor the output" in message
    assert "The cause" not in message  # one op: blame would repeat the message


def test_a_wrong_second_derivative_inside_a_graph_is_blamed_with_its_line():
    def model(x):
        return SquareWithDetachedBackward.apply(x.tanh()).sum() * 2.0

    x = Tensor([0.5, -1.0], requires_grad=True)
    with pytest.raises(GradcheckError) as raised:
        gradgradcheck(model, [x])
    message = str(raised.value)
    assert "second derivative (gradgradcheck)" in message
    assert "The cause: the backward of 'square_with_detached_backward'" in message
    assert "test_numerical.py" in message


def test_a_single_wrong_op_is_not_reported_twice():
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradcheckError) as raised:
        gradcheck(DoubleThatForgetsTheTwo.apply, [x])
    message = str(raised.value)
    assert message.count("analytic") == 1 and "The cause" not in message


# -- messages -------------------------------------------------------------------


def test_the_message_shows_the_inputs_value_at_the_failing_element():
    x = Tensor([[0.25, -1.5]], requires_grad=True, name="x")
    y = Tensor([[2.0, 3.0]], requires_grad=True, name="y")
    with pytest.raises(GradcheckError, match=r"at element \(0, 1\) \(value -1.5\)"):
        gradcheck(MulWithSwappedBackward.apply, [x, y])


def test_fast_mode_prints_its_threshold_and_how_it_was_made():
    x, y = _inputs((2, 3), (2, 3))
    with pytest.raises(GradcheckError) as raised:
        gradcheck(MulWithSwappedBackward.apply, [x, y], fast_mode=True)
    message = str(raised.value)
    assert message.startswith("gradcheck (fast_mode): the directional derivative")
    assert "rtol*max(|analytic|, |numerical|) + the numerical error" in message
    assert "Pass sample=k to name an element" in message


def test_sample_names_an_element_in_a_big_input():
    x = Tensor(np.random.default_rng(0).standard_normal((60, 70)), requires_grad=True)
    with pytest.raises(GradcheckError) as raised:
        gradcheck(SquareThatForgetsTheTwo.apply, [x], sample=3, blame=False)
    assert str(raised.value).startswith("gradcheck (sample=3): backprop and central")
    assert "at element (" in str(raised.value)
    assert gradcheck(lambda t: (t * t).tanh(), [x], sample=3)


# -- tolerances and options are validated -----------------------------------------


class AddWithAFivePercentTooLargeGradientForY(Function):
    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, grad * 1.05


def test_tolerances_per_input_apply_to_their_own_input():
    x, y = _inputs((3,), (3,))
    op = AddWithAFivePercentTooLargeGradientForY.apply
    assert gradcheck(op, [x, y], rtol=(1e-3, 0.1))
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(op, [x, y], rtol=(0.1, 1e-3))


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"atol": (1e-5,)}, r"atol must be a number, or a list of one number per "),
        ({"rtol": [1e-3, 1e-3, 1e-3]}, r"one number per input \(2: input 0"),
        ({"atol": -1e-5}, "atol must not be negative"),
        ({"rtol": True}, "rtol must be a number"),
        ({"sample": 0}, "sample is how many elements"),
        ({"directions": 0}, "directions is how many random directions"),
        ({"kinks": "ignore"}, r"kinks must be one of \('raise', 'skip'\)"),
        ({"eps": 0.0}, "eps must be positive"),
    ],
)
def test_bad_options_are_refused_not_broadcast(keywords, message):
    x, y = _inputs((3,), (3,))
    with pytest.raises(DomainError, match=message):
        gradcheck(lambda a, b: a * b, [x, y], **keywords)


# -- big inputs: refused before allocating, checked by directions ----------------


def test_a_full_second_order_check_of_a_big_layer_is_refused_before_allocating():
    """784×50 weights: the full check would hold ~500 GB of Jacobians."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = Tensor(rng.random((10, 784)))
    w = Tensor(0.01 * rng.standard_normal((784, 50)), requires_grad=True)

    def layer(w):
        return (x @ w).tanh().sum()

    tracemalloc.start()
    try:
        with pytest.raises(DomainError, match=r"refused before allocating.*fast_mode"):
            gradgradcheck(layer, [w])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20
    assert gradgradcheck(layer, [w], fast_mode=True)

    def layer_with_a_detached_rule(w):
        return SquareWithDetachedBackward.apply(x @ w).sum()

    with pytest.raises(GradcheckError, match=r"second derivative \(gradgradcheck, "):
        gradgradcheck(layer_with_a_detached_rule, [w], fast_mode=True)


def test_max_bytes_bounds_the_full_first_order_check_too():
    (x,) = _inputs((40, 40))
    with pytest.raises(DomainError, match="gradcheck: the full check compares"):
        gradcheck(lambda t: t.tanh(), [x], max_bytes=2**20)
    assert gradcheck(lambda t: t.tanh(), [x], fast_mode=True)


# -- fast_mode catches a small bias gradient on the book's network ---------------


def test_fast_mode_catches_a_bias_gradient_10_times_too_small_in_40_of_40_seeds():
    """The book's TwoLayerNet (784-50-10, weights of std 0.01, zero biases) on
    batches of 10 real MNIST images: the bias gradient is tiny, and a fixed
    absolute tolerance let 10× too small through. Each seed draws its own
    weights, batch and directions; the right network passes every time."""
    from models.two_layer_net import TwoLayerNet

    (images, labels), _ = load_mnist()

    def loss(x, t, add):
        def of(w1, b1, w2, b2):
            hidden = add(Tensor(x) @ w1, b1).sigmoid()
            return (hidden @ w2 + b2).softmax_cross_entropy(t)

        return of

    caught = []
    for seed in range(40):
        rng = np.random.default_rng(seed)
        net = TwoLayerNet(784, 50, 10, rng=rng)
        batch = rng.choice(len(images), 10, replace=False)
        x, t = images[batch], labels[batch]
        params = [Tensor(net.params[k], requires_grad=True) for k in net.params]
        right = loss(x, t, lambda a, b: a + b)
        assert gradcheck(right, params, fast_mode=True, seed=seed)
        wrong = loss(x, t, AddWithTheBiasGradientTooSmall.apply)
        caught.append(
            not gradcheck(
                wrong, params, fast_mode=True, seed=seed, raise_exception=False
            )
        )
    assert sum(caught) == 40


def test_a_small_derivative_of_a_big_output_is_held_to_what_rounding_allows():
    """0.2 ** -8 = 390625: the first derivative for the base sums terms of
    ~1e7, so its central difference carries ~1e-3 of rounding, more than
    rtol allows its derivative of 0.44 for the exponent 2. The rounding is
    part of the threshold, and printed; at ordinary sizes it is ~1e-8."""
    exponents = np.zeros((3, 2, 2))
    exponents[2, 1] = [2.0, -8.0]
    inputs = [
        Tensor(np.array(0.2), requires_grad=True),
        Tensor(exponents, requires_grad=True),
    ]
    assert gradgradcheck(lambda b, e: b**e, inputs, -np.ones((3, 2, 2)))
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(GradcheckError, match=r"\+ rounding 4.4e-08 = 0.00201"):
        gradcheck(DoubleThatForgetsTheTwo.apply, [x])


class SigmoidRecomputedWrong(Function):
    """Right when its backward is not recorded; under create_graph=True it
    recomputes tanh for the sigmoid (the recompute given to ctx.reuse)."""

    @staticmethod
    def forward(ctx, x):
        ctx.s = 1 / (1 + np.exp(-x))
        ctx.save_for_backward(x)
        return ctx.s

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        s = ctx.reuse(ctx.s, lambda: x.tanh())
        return grad * s * (1 - s)


@pytest.mark.parametrize("fast_mode", [False, True])
def test_gradgradcheck_compares_the_recorded_first_derivative_with_backward(fast_mode):
    # Only the recorded first derivative was differentiated numerically, so a
    # wrong recompute passed: its second derivative had the wrong sign.
    x = Tensor([0.5, -1.0, 2.0], requires_grad=True)
    assert gradcheck(lambda t: SigmoidRecomputedWrong.apply(t), [x])
    with pytest.raises(GradcheckError, match=r"recorded with create_graph=True is"):
        gradgradcheck(
            lambda t: SigmoidRecomputedWrong.apply(t), [x], fast_mode=fast_mode
        )
    assert gradgradcheck(lambda t: t.sigmoid(), [x], fast_mode=fast_mode)


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck])
def test_a_point_where_fn_or_an_input_is_not_finite_is_refused(check):
    # A NaN made the comparison's threshold NaN, and NaN compared as no failure:
    # a backward that returned 0 passed at log's negative inputs.
    negative = Tensor([-1.5, -0.2], requires_grad=True)
    with pytest.raises(DomainError, match=r"fn's output holds nan.*inside its domain"):
        check(lambda a: a.log().sum(), [negative])
    with pytest.raises(DomainError, match=r"input 0 holds nan at \(0,\)"):
        check(lambda a: a.sum(), [Tensor([np.nan, 1.0], requires_grad=True)])
