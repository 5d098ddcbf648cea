"""Tensor construction, operators, dtypes, and each op's special points."""

import warnings

import numpy as np
import pytest

from tinygrad_edu import DomainError, DTypeError, ShapeError, Tensor
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


def test_a_python_scalar_operand_becomes_one_shared_read_only_constant():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * 0.5 * 0.5
    first, second = y._node.inputs[1], y._node.inputs[0]._node.inputs[1]
    assert first is second and first.dtype == np.float64
    assert not first.data.flags.writeable  # shared, so nobody may change it
    assert (Tensor(np.ones(2, np.float32)) * 0.5).dtype == np.float32
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.25, 0.25])


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
