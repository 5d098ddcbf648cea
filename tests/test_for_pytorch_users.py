"""What a PyTorch user reaches for (issue 26): the ops' values, kinks and ties,
the stable losses, and the PyTorch spellings.

The registry-driven property tests (test_ops.py) check every derivative of
these ops against central differences; a consistent but wrong formula passes
them, so here each value is compared with an independent reference (NumPy, a
closed form, or another op of the library), and each check is shown to fail
on a planted bug. Their errors are in the catalogue (test_errors.py).
"""

import warnings

import numpy as np
import pytest

import tinygrad_edu.functional as F
from tinygrad_edu import DTypeError, Tensor

rng = np.random.default_rng(26)
X = rng.standard_normal((4, 5))


def grad_of(fn, *arrays):
    """The gradients of fn(*tensors).sum() with respect to each array."""
    tensors = [Tensor(np.array(a, dtype=float), requires_grad=True) for a in arrays]
    fn(*tensors).sum().backward()
    return [t.grad.numpy() for t in tensors]


# -- kinks and ties follow max and relu ------------------------------------------


def check_ties_share_the_gradient(maximum):
    """Equal inputs share the gradient equally, as max's ties do (and
    PyTorch's maximum); elsewhere it goes to the larger input."""
    gx, gy = grad_of(maximum, [1.0, 2.0, 3.0], [1.0, 5.0, 0.0])
    np.testing.assert_array_equal(gx, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(gy, [0.5, 1.0, 0.0])


def test_maximum_and_minimum_share_ties_as_max_does():
    check_ties_share_the_gradient(F.maximum)
    check_ties_share_the_gradient(lambda x, y: -F.minimum(-x, -y))


def test_the_tie_check_catches_a_maximum_that_gives_ties_to_one_side():
    def maximum_by_where(x, y):  # the natural one-liner: ties all go to x
        return F.where(x.data >= y.data, x, y)

    with pytest.raises(AssertionError):
        check_ties_share_the_gradient(maximum_by_where)


def test_min_is_the_mirror_of_max_values_and_ties():
    np.testing.assert_array_equal(Tensor(X).min(axis=1).numpy(), X.min(axis=1))
    (g,) = grad_of(lambda x: x.min(), [2.0, 1.0, 1.0, 3.0])
    np.testing.assert_array_equal(g, [0, 0.5, 0.5, 0])


def test_kinks_follow_relu_and_ties_follow_max():
    """Where values are cut off, the derivative at the cut is the cut-off
    side's, as relu's 0 at 0: clip(x, 0) is relu, derivative included. abs,
    which is maximum(x, -x), gets 0 at 0, where the two share the gradient."""
    at = [-1.0, 0.0, 1.0, 2.0]
    assert grad_of(F.abs, at)[0].tolist() == [-1, 0, 1, 1]
    relu = grad_of(F.relu, at)[0].tolist()
    assert grad_of(lambda x: x.clip(0), at)[0].tolist() == relu == [0, 0, 1, 1]
    assert grad_of(lambda x: x.clip(0, 1), at)[0].tolist() == [0, 0, 0, 0]
    assert grad_of(lambda x: x.clip(-2, 1.5), at)[0].tolist() == [1, 1, 1, 0]
    slope = grad_of(lambda x: F.leaky_relu(x, 0.1), at)[0]
    np.testing.assert_array_equal(slope, [0.1, 0.1, 1, 1])


def test_clip_values_and_bounds_are_np_clip():
    np.testing.assert_array_equal(F.clip(X, -0.5, 0.5).numpy(), np.clip(X, -0.5, 0.5))
    np.testing.assert_array_equal(Tensor(X).clamp(max=0).numpy(), np.minimum(X, 0))


# -- values against independent references --------------------------------------


def check_logsumexp(logsumexp):
    """log Σ e^x of moderate values is NumPy's formula; at 1000 it is finite
    (1000 + ln n), and its gradient is softmax."""
    np.testing.assert_allclose(
        logsumexp(Tensor(X), axis=1).numpy(), np.log(np.exp(X).sum(axis=1))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        big = logsumexp(Tensor(np.full((2, 3), 1000.0)), axis=1)
    np.testing.assert_allclose(big.numpy(), 1000 + np.log(3))
    (g,) = grad_of(lambda x: logsumexp(x, axis=1), X)
    np.testing.assert_allclose(g, F.softmax(X, axis=1).numpy())


def test_logsumexp_is_exact_stable_and_its_gradient_is_softmax():
    check_logsumexp(F.logsumexp)
    check_logsumexp(lambda x, axis: x.logsumexp(dim=axis))


def test_the_logsumexp_check_catches_the_unshifted_formula():
    def unshifted(x, axis):
        return x.exp().sum(axis=axis).log()

    with pytest.raises(RuntimeWarning, match="overflow"):
        check_logsumexp(unshifted)


def check_var_and_std(var, std):
    for axis in (None, 0, 1, (0, 1)):
        for ddof in (0, 1):
            np.testing.assert_allclose(
                var(Tensor(X), axis=axis, ddof=ddof).numpy(),
                np.var(X, axis=axis, ddof=ddof),
            )
            np.testing.assert_allclose(
                std(Tensor(X), axis=axis, ddof=ddof).numpy(),
                np.std(X, axis=axis, ddof=ddof),
            )


def test_var_and_std_are_numpys_with_ddof():
    check_var_and_std(F.var, F.std)
    check_var_and_std(Tensor.var, Tensor.std)
    unbiased = Tensor(X).var(dim=1, correction=1, keepdim=True)
    np.testing.assert_allclose(unbiased.numpy(), X.var(axis=1, ddof=1, keepdims=True))


def test_the_var_check_catches_a_divisor_that_ignores_ddof():
    def biased_var(x, axis=None, ddof=0):
        return F.var(x, axis=axis)

    with pytest.raises(AssertionError):
        check_var_and_std(biased_var, F.std)


def test_argmax_and_argmin_are_numpys_integers_without_gradient():
    x = Tensor(X, requires_grad=True)
    for axis in (None, 0, 1, -1):
        got = x.argmax(axis=axis)
        assert got.dtype.kind == "i" and not got.requires_grad
        np.testing.assert_array_equal(got.numpy(), X.argmax(axis=axis))
        np.testing.assert_array_equal(x.argmin(axis).numpy(), X.argmin(axis=axis))
    assert x.argmax(dim=1, keepdim=True).shape == (4, 1)


def test_sqrt_softplus_abs_and_where_are_numpys():
    x = np.abs(X) + 0.1
    np.testing.assert_allclose(Tensor(x).sqrt().numpy(), np.sqrt(x))
    np.testing.assert_allclose(F.softplus(X).numpy(), np.log1p(np.exp(X)))
    np.testing.assert_array_equal(Tensor(X).abs().numpy(), np.abs(X))
    np.testing.assert_array_equal(
        F.where(X > 0, X, -1.0).numpy(), np.where(X > 0, X, -1.0)
    )
    np.testing.assert_array_equal(Tensor(X).where(X > 0, 0.0).numpy(), X * (X > 0))


def test_softplus_is_finite_and_exact_far_out():
    x = Tensor([-800.0, -40.0, 40.0, 800.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = F.softplus(x)
        y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [0, np.exp(-40.0), 40, 800], rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), [0, np.exp(-40.0), 1, 1], rtol=1e-15)


def test_clone_owns_its_memory_and_passes_the_gradient():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x.clone()
    y.data[0] = 5.0  # a copy: x keeps its value (detach() would share it)
    assert x.data[0] == 1.0 and y.requires_grad
    (y * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
    assert Tensor(np.array([True])).clone().dtype == bool


# -- the losses -------------------------------------------------------------------


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def check_bce_with_logits(loss):
    """Against the definition where it is exact (moderate z), then finite
    value and gradient at |z| = 800, where the definition is not."""
    z = rng.uniform(-5, 5, (6, 2))
    t = rng.uniform(0, 1, (6, 2))
    p = sigmoid(z)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    np.testing.assert_allclose(loss(Tensor(z), t).item(), expected, rtol=1e-12)
    gz, gt = grad_of(loss, z, t)
    np.testing.assert_allclose(gz, (p - t) / t.size, rtol=1e-10)
    np.testing.assert_allclose(gt, -z / t.size, rtol=1e-10)
    far = Tensor([800.0, -800.0, 800.0], requires_grad=True)
    value = loss(far, np.array([0.0, 1.0, 1.0]))
    value.backward()
    assert value.item() == pytest.approx(1600 / 3)
    np.testing.assert_allclose(far.grad.numpy(), [1 / 3, -1 / 3, 0.0])


def test_binary_cross_entropy_with_logits_is_exact_and_stable():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_bce_with_logits(F.binary_cross_entropy_with_logits)


def test_the_stability_check_catches_the_hand_written_loss():
    """The issue's version: log of sigmoid gives inf (or NaN gradients) at 800."""

    def hand_written(z, t):
        p = z.sigmoid()
        return -F.mean(t * p.log() + (1 - t) * (1 - p).log())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError):
            check_bce_with_logits(hand_written)


def test_binary_cross_entropy_is_the_definition_clamped_as_pytorchs():
    p = rng.uniform(0.01, 0.99, 8)
    t = rng.uniform(0, 1, 8)
    expected = -np.mean(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert F.binary_cross_entropy(p, t).item() == pytest.approx(expected, rel=1e-12)
    gp, _ = grad_of(F.binary_cross_entropy, p, t)
    np.testing.assert_allclose(gp, (p - t) / (p * (1 - p)) / p.size, rtol=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no log(0)
        edge = F.binary_cross_entropy([0.0, 1.0, 1.0], [1.0, 0.0, 1.0])
    assert edge.item() == pytest.approx(200 / 3)  # PyTorch: log clamped at -100


@pytest.mark.parametrize(
    "target",
    [np.array([0, 2, 1, 4]), rng.dirichlet(np.ones(5), 4)],
    ids=["labels", "rows"],
)
def test_nll_of_log_softmax_is_softmax_cross_entropy(target):
    """Labels and rows of class weights; values and gradients."""
    x1, x2 = Tensor(X, requires_grad=True), Tensor(X, requires_grad=True)
    a = F.nll_loss(x1.log_softmax(dim=1), target)
    b = F.softmax_cross_entropy(x2, target)
    assert a.item() == pytest.approx(b.item(), rel=1e-14)
    a.backward()
    b.backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), atol=1e-15)


# -- the spellings ----------------------------------------------------------------

DIM_SPELLINGS = ["sum", "mean", "logsumexp", "var", "std", "argmax"]


@pytest.mark.parametrize("name", [*DIM_SPELLINGS, "argmin"])
def test_dim_and_keepdim_mean_axis_and_keepdims(name):
    x = Tensor(X)
    for spelled in (getattr(x, name), lambda **k: getattr(F, name)(x, **k)):
        torch = spelled(dim=1, keepdim=True).numpy()
        numpy = spelled(axis=1, keepdims=True).numpy()
        np.testing.assert_array_equal(torch, numpy)
        assert torch.shape == (4, 1)
    with pytest.raises(DTypeError, match="both axis= and dim="):
        getattr(x, name)(axis=0, dim=1)


def test_softmax_takes_dim_and_correction_means_ddof():
    np.testing.assert_array_equal(
        F.softmax(X, dim=0).numpy(), Tensor(X).softmax(axis=0).numpy()
    )
    np.testing.assert_array_equal(
        F.log_softmax(X, dim=0).numpy(), Tensor(X).log_softmax(axis=0).numpy()
    )
    assert F.std(X, correction=1).item() == pytest.approx(np.std(X, ddof=1))


def test_view_flatten_squeeze_unsqueeze_tolist():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.view(6, 4).shape == (6, 4) and x.view(-1).shape == (24,)
    assert x.flatten().shape == (24,)  # as ndarray.flatten() and torch.flatten
    assert x.flatten(1).shape == (2, 12) and x.flatten(0, 1).shape == (6, 4)
    assert x.flatten(start_dim=-2).shape == (2, 12)
    np.testing.assert_array_equal(x.flatten(1).numpy(), F.flatten(x).numpy())
    assert Tensor(3.0).flatten().shape == (1,)
    assert x.unsqueeze(0).shape == (1, 2, 3, 4) and x.unsqueeze(dim=-1).shape[-1] == 1
    ones = Tensor(np.zeros((1, 3, 1)))
    assert ones.squeeze().shape == (3,) and ones.squeeze(dim=-1).shape == (1, 3)
    assert Tensor([[1.0, 2.0]]).tolist() == [[1.0, 2.0]] and Tensor(2).tolist() == 2


def test_shape_spellings_carry_the_gradient():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (x.view(3, 2).flatten() * Tensor(np.arange(6.0))).unsqueeze(
        0
    ).squeeze().sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(6.0).reshape(2, 3))


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_refuse_dim_which_pytorch_answers_with_indices_too(name):
    """torch's x.max(dim=1) is (values, indices): ``_, i = x.max(dim=1)`` on
    two rows of ours would unpack the rows, silently."""
    x = Tensor(X[:2])
    for spelled in (getattr(x, name), lambda **k: getattr(F, name)(x, **k)):
        with pytest.raises(DTypeError, match=f"arg{name}\\(axis=...\\)"):
            spelled(dim=1)
        kept = spelled(axis=1, keepdim=True).numpy()  # keepdim= alone is harmless
        np.testing.assert_array_equal(kept, getattr(X[:2], name)(axis=1, keepdims=True))
