"""Tensor construction, operators, dtypes, and each op's special points."""

import operator
import warnings

import numpy as np
import pytest

from tinygrad_edu import (
    DomainError,
    DTypeError,
    GraphError,
    NumPyOnTensorError,
    ShapeError,
    Tensor,
    grad,
    gradcheck,
    gradgradcheck,
    no_grad,
)
from tinygrad_edu import functional as F
from tinygrad_edu.nn import Parameter

# -- construction --------------------------------------------------------------


def test_wraps_an_ndarray_without_copying():
    array = np.ones((2, 3))
    t = Tensor(array)
    assert t.data is array and t.numpy() is array


def test_python_data_gives_numpys_dtypes():
    assert Tensor([1.0, 2.0]).dtype == np.float64
    assert Tensor(3).dtype == np.int64
    assert Tensor(np.ones(2, np.float32)).dtype == np.float32


def test_attributes():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True, name="w")
    assert (t.shape, t.ndim, t.size, t.name) == ((2, 3), 2, 6, "w")
    assert t.is_leaf and t.grad is None
    assert Tensor([[4.0]]).item() == 4.0
    assert "requires_grad=True" in repr(t) and "name='w'" in repr(t)
    assert "op=mul" in repr(t * 2)


def test_constructors():
    assert Tensor.zeros(2, 3).shape == (2, 3)
    assert Tensor.ones((2, 3), dtype=np.float32).dtype == np.float32
    a = Tensor.randn(4, 5, rng=0, requires_grad=True)
    np.testing.assert_array_equal(a.numpy(), Tensor.randn(4, 5, rng=0).numpy())
    assert a.requires_grad and a.dtype == np.float64
    for dtype in (np.float16, np.float32):  # the same samples, in any float dtype
        b = Tensor.randn(4, 5, rng=0, dtype=dtype)
        assert b.dtype == dtype
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-3)


def test_requires_grad_on_integer_data_is_a_clear_error():
    with pytest.raises(
        DTypeError, match=r"floating-point.*int64.*Tensor\(\[1.0, 2.0\]\)"
    ):
        Tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("bad", [["a", "b"], {"x": 1}, [[1.0], [2.0, 3.0]]])
def test_non_numeric_data_is_a_clear_error(bad):
    with pytest.raises(DTypeError, match="Tensor"):
        Tensor(bad)


def test_item_of_a_tensor_with_many_elements():
    with pytest.raises(DTypeError, match=r"shape \(2,\)"):
        Tensor([1.0, 2.0]).item()


# -- operators -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        (lambda t: t + 1, [2.0, 3.0]),
        (lambda t: 1 + t, [2.0, 3.0]),
        (lambda t: t - 1, [0.0, 1.0]),
        (lambda t: 1 - t, [0.0, -1.0]),
        (lambda t: t * 2, [2.0, 4.0]),
        (lambda t: 2 * t, [2.0, 4.0]),
        (lambda t: t / 2, [0.5, 1.0]),
        (lambda t: 2 / t, [2.0, 1.0]),
        (lambda t: t**2, [1.0, 4.0]),
        (lambda t: 2**t, [2.0, 4.0]),
        (lambda t: -t, [-1.0, -2.0]),
        (lambda t: np.array([1.0, 1.0]) + t, [2.0, 3.0]),
        (lambda t: np.array([3.0, 3.0]) - t, [2.0, 1.0]),
        (lambda t: np.array([[1.0, 1.0]]) @ t, [3.0]),
    ],
)
def test_operators_with_scalars_and_arrays_on_either_side(expression, expected):
    t = Tensor([1.0, 2.0], requires_grad=True)
    out = expression(t)
    assert isinstance(out, Tensor) and out.requires_grad
    np.testing.assert_allclose(out.numpy(), expected)


def test_float32_stays_float32_through_a_mixed_expression():
    x = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    w = Tensor(np.ones((3, 4), np.float32), requires_grad=True)
    loss = (1 - (x * 2.0 + 1) @ w / 3).sigmoid().softmax_cross_entropy(np.array([0, 3]))
    loss.backward()
    assert loss.dtype == x.grad.dtype == w.grad.dtype == np.float32


def test_a_tensor_subclass_operand_is_the_graph_input_itself():
    p = Parameter(np.array([1.0, 2.0], np.float32))  # a Module's weights
    for y in (p * 0.5, 0.5 * p, p * p, p.exp(), F.concatenate([p, p], axis=0)):
        assert any(t is p for t in y._node.inputs)
        assert all(t is p for t in y._node.inputs if isinstance(t, Parameter))
        assert y.dtype == np.float32
    (0.5 * p + p * 0.5).sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [1.0, 1.0])


def test_a_signed_zero_operand_keeps_its_sign():
    x = Tensor([1.0, 2.0], requires_grad=True)
    assert np.signbit((x * -0.0).numpy()).all()
    assert not np.signbit((x * 0.0).numpy()).any()


def test_mixing_float32_with_float64_data_follows_numpy_and_grads_keep_input_dtype():
    x = Tensor(np.ones(2, np.float32), requires_grad=True)
    y = x * np.ones(2)  # a float64 array promotes, as in NumPy
    assert y.dtype == np.float64
    y.sum().backward()
    assert x.grad.dtype == np.float32


# -- values and gradients at special points -----------------------------------


def test_forward_of_each_elementwise_op_matches_numpy():
    x = np.array([-2.0, -0.5, 0.5, 2.0])
    t = Tensor(x)
    np.testing.assert_allclose(t.exp().numpy(), np.exp(x))
    np.testing.assert_allclose(Tensor(np.abs(x)).log().numpy(), np.log(np.abs(x)))
    np.testing.assert_allclose(t.sigmoid().numpy(), 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(t.tanh().numpy(), np.tanh(x))
    np.testing.assert_allclose(t.relu().numpy(), np.maximum(x, 0))


def test_sigmoid_of_huge_inputs_is_exact_and_silent():
    x = Tensor([-1000.0, -30.0, 0.0, 30.0, 1000.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.sigmoid()
        y.sum().backward()
    assert y.numpy()[0] == 0.0 and y.numpy()[-1] == 1.0
    np.testing.assert_allclose(
        y.numpy()[1], np.exp(-30) / (1 + np.exp(-30)), rtol=1e-14
    )
    assert np.all(np.isfinite(x.grad.numpy()))


def test_relu_gradient_at_zero_is_zero():
    x = Tensor([-1.0, 0.0, 2.0], requires_grad=True)
    x.relu().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 1.0])


def test_max_splits_the_gradient_equally_between_ties():
    x = Tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0.5, 0.5], [0.5, 0, 0.5]])
    y = Tensor([5.0, 5.0, 5.0], requires_grad=True)
    y.max().backward()
    np.testing.assert_allclose(y.grad.numpy(), [1 / 3] * 3)


def test_getitem_with_repeated_indices_accumulates():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 0.0, 1.0])


def test_getitem_with_a_boolean_mask_and_a_tensor_index():
    x = Tensor([[1.0, -2.0], [-3.0, 4.0]], requires_grad=True)
    (x[x.numpy() > 0] * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 0.0], [0.0, 2.0]])
    assert x[Tensor(np.array([1]))].shape == (1, 2)


@pytest.mark.parametrize(
    ("shape_a", "shape_b"),
    [
        ((3, 4), ()),
        ((3, 4), (4,)),
        ((3, 1), (1, 4)),
        ((2, 3, 4), (3, 1)),
        ((1,), (5, 2, 1)),
    ],
)
def test_broadcast_gradients_are_summed_back_to_each_input(shape_a, shape_b):
    rng = np.random.default_rng(0)
    a = Tensor(rng.standard_normal(shape_a), requires_grad=True)
    b = Tensor(rng.standard_normal(shape_b), requires_grad=True)
    (a * b).sum().backward()
    full = np.broadcast_shapes(shape_a, shape_b)
    expected_a = np.broadcast_to(b.data, full).copy()
    expected_b = np.broadcast_to(a.data, full).copy()
    np.testing.assert_allclose(a.grad.numpy(), F.sum_to(expected_a, shape_a).numpy())
    np.testing.assert_allclose(b.grad.numpy(), F.sum_to(expected_b, shape_b).numpy())
    assert a.grad.shape == shape_a and b.grad.shape == shape_b


def test_dot_follows_np_dot_for_1d_and_2d():
    rng = np.random.default_rng(0)
    v, m = rng.standard_normal(3), rng.standard_normal((3, 2))
    np.testing.assert_allclose(Tensor(v).dot(v).numpy(), np.dot(v, v))
    np.testing.assert_allclose(Tensor(v).dot(m).numpy(), np.dot(v, m))
    np.testing.assert_allclose(Tensor(m.T).dot(v).numpy(), np.dot(m.T, v))
    with pytest.raises(ShapeError, match=r"dot.*matmul"):
        Tensor(np.ones((2, 2, 2))).dot(np.ones((2, 2)))


def test_matmul_batched_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 2, 3)), rng.standard_normal((3, 4))
    np.testing.assert_allclose((Tensor(a) @ b).numpy(), a @ b)


def test_matmul_shape_mismatch_names_both_shapes_and_the_fix():
    with pytest.raises(ShapeError, match=r"\(3, 4\) @ \(5, 2\).*w\.T"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 2)))


def test_broadcast_mismatch_names_the_op_and_shapes():
    with pytest.raises(ShapeError, match=r"add\(\(3,\) float64, \(4,\) float64\)"):
        Tensor(np.ones(3)) + Tensor(np.ones(4))


def test_reductions_match_numpy():
    x = np.arange(24.0).reshape(2, 3, 4)
    t = Tensor(x)
    np.testing.assert_allclose(t.sum(axis=(0, 2)).numpy(), x.sum(axis=(0, 2)))
    np.testing.assert_allclose(
        t.mean(axis=1, keepdims=True).numpy(), x.mean(1, keepdims=True)
    )
    np.testing.assert_allclose(t.max(axis=-1).numpy(), x.max(axis=-1))
    with pytest.raises(DomainError, match="axis 3 is out of range"):
        t.sum(axis=3)


def test_shape_ops_match_numpy():
    x = np.arange(6.0).reshape(2, 3)
    t = Tensor(x)
    assert t.reshape(3, 2).shape == (3, 2) and t.reshape(-1).shape == (6,)
    np.testing.assert_array_equal(t.T.numpy(), x.T)
    np.testing.assert_array_equal(
        t.broadcast_to(4, 2, 3).numpy(), np.broadcast_to(x, (4, 2, 3))
    )
    np.testing.assert_array_equal(
        F.concatenate([t, t], axis=1).numpy(), np.concatenate([x, x], 1)
    )
    np.testing.assert_array_equal(F.stack([t, t], axis=0).numpy(), np.stack([x, x]))
    with pytest.raises(ShapeError, match=r"reshape.*\(2, 3\).*\(4,\)"):
        t.reshape(4)


def test_softmax_and_log_softmax_are_stable_for_huge_logits():
    x = Tensor([[1000.0, 0.0, -1000.0]], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        p = x.softmax(axis=1)
        logp = x.log_softmax(axis=1)
        (logp.sum() + p.sum()).backward()
    np.testing.assert_allclose(p.numpy(), [[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(logp.numpy(), [[0.0, -1000.0, -2000.0]])
    assert np.all(np.isfinite(x.grad.numpy()))


# -- losses ------------------------------------------------------------------------


def test_softmax_cross_entropy_labels_and_one_hot_agree_and_gradient_is_p_minus_t():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    a = Tensor(logits, requires_grad=True)
    b = Tensor(logits, requires_grad=True)
    a.softmax_cross_entropy(labels).backward()
    b.softmax_cross_entropy(np.eye(3)[labels]).backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(a.grad.numpy(), (p - np.eye(3)[labels]) / 4)
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())


def test_softmax_cross_entropy_of_extreme_logits_is_finite():
    x = Tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    loss = x.softmax_cross_entropy(np.array([1, 1]))
    loss.backward()
    np.testing.assert_allclose(loss.item(), 1e4)  # half the batch is off by 2e4
    assert np.all(np.isfinite(x.grad.numpy()))


def test_softmax_cross_entropy_of_one_sample():
    x = Tensor([0.0, 0.0], requires_grad=True)
    x.softmax_cross_entropy(np.array(1)).backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.5, -0.5])


@pytest.mark.parametrize(
    ("target", "error", "pattern"),
    [
        (np.array([0, 3]), DomainError, r"label 3 is out of range for 3 classes"),
        (np.array([0, -1]), DomainError, r"label -1"),
        (np.array([0.0, 1.0]), DTypeError, r"look like class labels.*astype\(int\)"),
        (np.array([0, 1, 2]), ShapeError, r"2 rows.*3 labels"),
        (np.ones((2, 4)), ShapeError, r"\(2, 4\).*\(2, 3\)"),
        (
            np.array(["a", "b"]),
            DTypeError,
            r"softmax_cross_entropy: data of dtype <U1.*not numeric",
        ),
    ],
)
def test_softmax_cross_entropy_bad_targets(target, error, pattern):
    with pytest.raises(error, match=pattern):
        Tensor(np.zeros((2, 3)), requires_grad=True).softmax_cross_entropy(target)


def test_the_books_loss_values():
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=float)
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    np.testing.assert_allclose(F.sum_squared_error(y, t).item(), 0.0975)
    np.testing.assert_allclose(F.cross_entropy_error(y, t).item(), 0.510825457099338)
    y_wrong = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
    np.testing.assert_allclose(F.sum_squared_error(y_wrong, t).item(), 0.5975)
    np.testing.assert_allclose(
        F.cross_entropy_error(y_wrong, t).item(), 2.302584092994546
    )


def test_cross_entropy_error_with_labels_equals_one_hot_and_survives_zero():
    y = np.array([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]])
    labels = np.array([0, 2])
    a = F.cross_entropy_error(y, labels).item()
    b = F.cross_entropy_error(y, np.eye(3)[labels]).item()
    np.testing.assert_allclose(a, b)
    assert np.isfinite(a)  # log(0 + 1e-7), as in the book


def test_integer_one_hot_targets_are_read_as_the_labels_they_encode():
    """The book writes t = [0, 0, 1, ...] as ints; both losses accept it."""
    book_t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    np.testing.assert_allclose(
        F.cross_entropy_error(y, book_t).item(), 0.510825457099338
    )
    logits = Tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    labels = np.array([1, 3, 0])
    by_rows = logits.softmax_cross_entropy(np.eye(4, dtype=np.int64)[labels])
    by_rows.backward()
    from_rows = logits.grad.numpy()
    logits.grad = None
    by_labels = logits.softmax_cross_entropy(labels)
    by_labels.backward()
    assert by_rows.item() == by_labels.item()
    np.testing.assert_array_equal(from_rows, logits.grad.numpy())


def test_mse():
    np.testing.assert_allclose(F.mse([1.0, 2.0], [0.0, 0.0]).item(), 2.5)


# -- the wrong gradients an independent check once found (each pinned) -----------


@pytest.mark.parametrize("spell", ["method", "permute", "functional"])
@pytest.mark.parametrize(
    ("shape", "axes"),
    [
        ((3, 3), (-1, 0)),
        ((2, 3), (-1, 0)),
        ((2, 3, 4), (-1, 0, 1)),
        ((2, 3, 4), (0, -1, -2)),
    ],
)
def test_transpose_with_negative_axes_sends_the_gradient_back(shape, axes, spell):
    x = Tensor(
        np.arange(np.prod(shape), dtype=float).reshape(shape), requires_grad=True
    )
    if spell == "method":
        y = x.transpose(axes)
    else:
        y = x.permute(*axes) if spell == "permute" else F.transpose(x, axes)
    weights = np.random.default_rng(0).standard_normal(y.shape)
    (y * weights).sum().backward()
    expected = np.transpose(weights, np.argsort([a % len(shape) for a in axes]))
    np.testing.assert_array_equal(x.grad.data, expected)


def test_transpose_refuses_axes_that_are_not_a_permutation():
    with pytest.raises(DomainError, match=r"transpose: axes \(0, 0\) are not a perm"):
        Tensor(np.ones((2, 2))).transpose((0, -2))


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_softmax_cross_entropy_with_rows_that_do_not_sum_to_one():
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0]])
    rows = np.array([[0.5, 1.0, 0.0], [0.0, 0.0, 0.0], [0.2, 0.1, 0.1]])
    x = Tensor(logits, requires_grad=True)
    x.softmax_cross_entropy(rows).backward()
    p = _softmax(logits)
    expected = (p * rows.sum(axis=1, keepdims=True) - rows) / 3
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)
    assert np.all(x.grad.data[1] == 0)  # an all-zero (masked) row gives nothing
    assert gradcheck(lambda z: z.softmax_cross_entropy(rows), [Tensor(logits, True)])


def test_softmax_cross_entropy_targets_are_differentiable_to_second_order():
    logits = Tensor(np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), requires_grad=True)
    rows = Tensor(np.array([[0.2, 0.7, 0.1], [0.5, 0.25, 0.25]]), requires_grad=True)
    (grad_x,) = grad(logits.softmax_cross_entropy(rows), [logits], create_graph=True)
    # d/dt of dL/dx = d/dt [(p Σt - t) / N] = (p - δ) / N, for every row.
    (mixed,) = grad(grad_x[0, 1], [rows])
    p = _softmax(logits.data)
    np.testing.assert_allclose(mixed.data[0], (p[0, 1] - np.eye(3)[1]) / 2)
    np.testing.assert_array_equal(mixed.data[1], 0)
    assert gradgradcheck(lambda x, t: x.softmax_cross_entropy(t), [logits, rows])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_softmax_cross_entropy_refuses_non_finite_target_rows(bad):
    rows = np.array([[0.5, bad, 0.5]])
    with pytest.raises(DomainError, match="NaN or inf"):
        Tensor(np.zeros((1, 3))).softmax_cross_entropy(rows)


def test_softmax_cross_entropy_takes_a_python_int_label_for_one_sample():
    loss = Tensor([1.0, 2.0, 3.0]).softmax_cross_entropy(2)
    assert loss.item() == pytest.approx(
        Tensor([1.0, 2.0, 3.0]).softmax_cross_entropy(np.int64(2)).item()
    )


def test_an_empty_index_list_selects_nothing_as_in_numpy():
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x[[]]  # np.asarray([]) is float: the index is made an integer one
    assert y.shape == np.ones(3)[[]].shape == (0,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])


def test_a_maximum_over_non_empty_axes_of_an_empty_batch_is_empty():
    # As NumPy: only a reduction over an empty axis has no maximum.
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    y = x.max(axis=1)
    assert y.shape == (0,) and F.logsumexp(x, axis=1).shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0, 3)
    assert F.max_pool2d(np.zeros((0, 1, 4, 4)), 2).shape == (0, 1, 2, 2)
    with pytest.raises(ShapeError, match=r"max: axis 1 of .*\(2, 0\) is empty"):
        Tensor(np.zeros((2, 0))).max(axis=1)
    with pytest.raises(ShapeError, match=r"max: axis 0 of .*\(0,\) is empty"):
        Tensor(np.zeros(0)).max()


def test_softmax_cross_entropy_refuses_an_empty_batch():
    with pytest.raises(ShapeError, match="empty batch"):
        Tensor(np.zeros((0, 3))).softmax_cross_entropy(np.zeros(0, dtype=int))


def _aliased(make):
    """(first, second) derivatives of f(a, b) with a and b built by ``make`` from
    one array, and the same with separate copies: they must be equal."""
    results = []
    for share in (True, False):
        array = np.array([[0.5, -1.5], [2.0, 0.75]])
        a, b = make(array, array if share else array.copy())
        out = make.op(a, b)
        leaves = [t for t in (a, b) if t.requires_grad]
        firsts = grad(out.sum(), leaves, create_graph=True)
        total = sum((g * (i + 2.0)).sum() for i, g in enumerate(firsts))
        seconds = grad(total, leaves) if total.requires_grad else ()
        results.append([g.data for g in (*firsts, *seconds) if g is not None])
    return results


def _pair(op, detach_second):
    def make(first, second):
        a = Tensor(first, requires_grad=True)
        b = Tensor(second, requires_grad=not detach_second)
        return a, b

    make.op = op
    return make


@pytest.mark.parametrize(
    "make",
    [
        _pair(lambda a, b: a * b, False),
        _pair(lambda a, b: a * b, True),
        _pair(lambda a, b: b / a, True),
        _pair(lambda a, b: a @ b, True),
        _pair(lambda a, b: abs_plus_one(a) ** b, True),
    ],
    ids=["a*b shared", "x*x.detach()", "x.detach()/x", "x@x.detach()", "x**x.detach()"],
)
def test_second_derivatives_are_right_when_operands_share_an_array(make):
    shared, separate = _aliased(make)
    for got, expected in zip(shared, separate, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12)


def abs_plus_one(t):
    return t * t + 1.0  # a positive base for pow, built from t


@pytest.mark.parametrize(
    ("f", "order", "at", "expected"),
    [
        (lambda x: x**0, 1, 0.0, 0.0),
        (lambda x: x**1, 2, 0.0, 0.0),
        (lambda x: x**2, 3, 0.0, 0.0),
        (lambda x: x**2, 2, 0.0, 2.0),
        (lambda x: x**3, 3, 0.0, 6.0),
        (lambda x: x**2, 1, -1.5, -3.0),
    ],
)
def test_pow_at_zero_and_below_has_finite_derivatives(f, order, at, expected):
    x = Tensor(at, requires_grad=True)
    y = f(x)
    for _ in range(order):
        (y,) = grad(y, [x], create_graph=True)
    assert y.item() == expected


def test_the_exponent_derivative_of_pow_at_a_zero_base_is_zero():
    y = Tensor(np.array([0.5, 2.0]), requires_grad=True)
    (Tensor(np.zeros(2)) ** y).sum().backward()
    np.testing.assert_array_equal(y.grad.data, [0.0, 0.0])


def test_the_exponent_derivative_of_pow_needs_a_non_negative_base():
    y = Tensor(2.0, requires_grad=True)
    with pytest.raises(DomainError, match="exponent y needs a base x >= 0"):
        (Tensor(-1.5) ** y).backward()


def test_a_cast_to_an_integer_ends_the_graph():
    x = Tensor([1.5, 2.5], requires_grad=True)
    assert not x.astype(np.int64).requires_grad
    assert not F.cast(x, np.bool_).requires_grad
    assert x.astype(np.float32).requires_grad


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_integer_logits_are_computed_as_floats(dtype):
    """Found by the integer property: uint8 logits minus their maximum wrapped
    around, and the loss was cast back to the logits' integer dtype."""
    logits = np.array([[0, 3, 1], [2, 0, 0]], dtype)
    expected = F.softmax_cross_entropy(logits.astype(np.float64), [1, 0])
    loss = F.softmax_cross_entropy(logits, [1, 0])
    assert loss.dtype.kind == "f"
    # uint8 computes in float16, as NumPy's exp does: about three digits.
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=5e-3)
    for op in (F.softmax, F.log_softmax):
        np.testing.assert_allclose(
            op(logits).numpy(), op(logits.astype(np.float64)).numpy(), rtol=3e-3
        )


def test_requires_grad_cannot_be_switched_on_for_integers():
    t = Tensor([1, 2])
    with pytest.raises(DTypeError, match=r"floating-point.*int64"):
        t.requires_grad = True
    assert not t.requires_grad


def test_requires_grad_of_a_computed_tensor_cannot_be_switched_off():
    y = Tensor([1.0], requires_grad=True) * 2
    with pytest.raises(GraphError, match=r"computed by 'mul'.*detach"):
        y.requires_grad = False


@pytest.mark.parametrize("make", [lambda x: x * x, lambda x: x.exp(), lambda x: x])
def test_the_gradient_of_a_0d_leaf_is_an_ndarray(make):
    x = Tensor(3.0, requires_grad=True)
    make(x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.shape == ()
    x.grad.data[...] = 0  # writable, like every gradient


# -- Python's protocols, as NumPy answers them ------------------------------------


def test_iterating_a_tensor_gives_its_rows_and_stops():
    t = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(t)
    assert len(rows) == 3 and all(r.shape == (2,) for r in rows)
    total = sum(t)  # built-in sum: 0 + t[0] + t[1] + t[2]
    np.testing.assert_array_equal(total.data, [6.0, 9.0])
    total.sum().backward()
    np.testing.assert_array_equal(t.grad.data, np.ones((3, 2)))
    assert [float(a) for a, _ in zip(Tensor([1.0, 2.0]), "ab")] == [1.0, 2.0]
    with pytest.raises(DTypeError, match="0-d"):
        list(Tensor(1.0))


def test_comparisons_are_elementwise_and_have_no_gradient():
    y = Tensor([1, 2, 3, 4])
    t = np.array([1, 0, 3, 0])
    assert np.sum(y == t).item() == 2  # the book's accuracy idiom
    assert np.sum(t == y).item() == 2
    assert np.sum(y == Tensor(t)).item() == 2
    x = Tensor([1.0, -2.0], requires_grad=True)
    for result in (x > 0, x >= 0, x < 0, x <= 0, x == 1.0, x != 1.0):
        assert result.dtype == np.bool_ and not result.requires_grad
    np.testing.assert_array_equal((x > 0).data, [True, False])
    assert {x: 1}[x] == 1  # still hashable, by identity


def test_truth_and_numbers_follow_numpy():
    assert not Tensor([0.0]) and Tensor([2.0]) and float(Tensor([[2.5]])) == 2.5
    assert int(Tensor(3)) == 3 and 2.0 in Tensor([1.0, 2.0])
    with pytest.raises(ShapeError, match=r"bool\(\) of a tensor of shape \(2,\)"):
        bool(Tensor([1.0, 2.0]))


def test_np_mean_and_np_max_of_a_tensor():
    t = Tensor([1.0, 3.0])
    assert np.mean(t).item() == 2.0 and np.max(t).item() == 3.0
    with pytest.raises(DTypeError, match="out="):
        np.sum(t, out=np.zeros(()))


@pytest.mark.parametrize(
    "reduce, expected",
    [
        (np.sum, [1.0, 1.0, 1.0]),
        (np.mean, [1 / 3] * 3),
        (np.max, [0.0, 0.0, 1.0]),
        (np.min, [1.0, 0.0, 0.0]),
        (np.var, [-2 / 3, 0.0, 2 / 3]),  # d/dx of mean((x - 2)**2) at 1, 2, 3
        (np.std, np.array([-1.0, 0.0, 1.0]) / (3 * np.sqrt(2 / 3))),
    ],
)
def test_numpys_reductions_of_a_tensor_stay_in_the_graph(reduce, expected):
    x = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = reduce(x)
    assert isinstance(y, Tensor) and y.requires_grad
    y.backward()
    np.testing.assert_allclose(x.grad.data, expected)


def test_other_numpy_functions_of_a_tensor_give_values_unless_a_gradient_is_lost():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    x = np.ones((4, 3))
    with pytest.raises(NumPyOnTensorError, match=r"np\.dot\(\).*requires grad"):
        np.dot(x, w)  # the graph through w would be dropped without a word
    with no_grad():  # nothing is recorded anyway: the values
        np.testing.assert_array_equal(np.dot(x, w), np.full((4, 2), 3.0))
    np.testing.assert_array_equal(np.dot(x, w.detach()), np.full((4, 2), 3.0))
    # Integer and boolean results have no gradient to lose.
    y = Tensor([[0.1, 0.9], [0.8, 0.2]], requires_grad=True)
    labels = np.array([1, 1])
    assert np.sum(np.argmax(y, axis=1) == labels) == 1  # the book's accuracy
    assert np.allclose(w, 1.0) and np.array_equal(np.asarray(w), np.ones((3, 2)))


def test_a_reflected_operator_is_told_from_a_numpy_call_by_identity():
    # ndarray * Tensor is the Tensor's __rmul__; np.multiply(t, 3.0) is not,
    # even where t == 3.0 (an == test once took it for one, and gave t * t).
    t = Tensor([3.0], requires_grad=True)
    (np.array([3.0]) * t).sum().backward()
    np.testing.assert_array_equal(t.grad.data, [3.0])
    for call in (lambda: np.multiply(t, 3.0), lambda: np.power(t, t.data)):
        with pytest.raises(NumPyOnTensorError, match="was called on a Tensor"):
            call()


def test_a_tensor_shares_memory_with_the_array_it_was_made_from():
    array = np.zeros(2)
    t = Tensor(array)
    array[0] = 5
    assert t.data[0] == 5 and t.detach().data is array


@pytest.mark.parametrize("shape", [(2, 3), (4, 2, 3), (1, 2, 3, 5)])
def test_mT_swaps_the_last_two_axes_and_is_differentiated_as_a_transpose(shape):
    x = Tensor(np.random.default_rng(0).normal(size=shape), requires_grad=True)
    np.testing.assert_array_equal(x.mT.numpy(), np.swapaxes(x.numpy(), -1, -2))
    assert gradcheck(lambda x: (x.mT * x.mT).sum(), [x])


def test_mT_of_a_vector_says_how_to_make_a_matrix():
    with pytest.raises(ShapeError, match=r"mT: .*\(3,\).*reshape\(1, -1\)"):
        _ = Tensor(np.ones(3)).mT


@pytest.mark.parametrize(
    "apply",
    [
        operator.add,
        operator.sub,
        operator.mul,
        operator.truediv,
        operator.pow,
        operator.matmul,
        operator.eq,
        operator.ne,
        operator.lt,
        operator.le,
        operator.gt,
        operator.ge,
    ],
    ids=lambda f: f.__name__,
)
def test_an_array_on_the_left_of_an_operator_gives_the_tensors_result(apply):
    """NumPy hands ``array <op> tensor`` to the Tensor: the reflected operator,
    recorded like ``Tensor(array) <op> tensor``, never an object array."""
    array = np.array([1.0, 3.0])
    t = Tensor([2.0, 3.0], requires_grad=True)
    got, expected = apply(array, t), apply(Tensor(array), t)
    assert type(got) is Tensor and got.dtype == expected.dtype
    np.testing.assert_array_equal(got.data, expected.data)
    assert got.requires_grad == expected.requires_grad
    if got.requires_grad:
        got.sum().backward()
        assert t.grad is not None and t.grad.shape == t.shape
