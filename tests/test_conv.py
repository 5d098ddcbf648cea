"""Convolution and pooling against direct loops, and the max-pool tie rule.

The registry's property tests check that each op's gradients match its own
forward. These check the forward itself: conv2d, max_pool2d and avg_pool2d
against the definitions written as loops over output positions (PyTorch's
sizes: (H + 2·pad - K) // stride + 1), on small random images whose windows
need not divide evenly. Max-pool's gradient is checked where central
differences cannot arbitrate, at ties and next to padding: each window hands
its upstream gradient to its maxima in equal shares, never to padding.
Each check has a known-bad twin (tests/bad_ops.py) that it must catch.
"""

import tracemalloc

import bad_ops
import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from tinygrad_edu import Tensor, grad
from tinygrad_edu import functional as F

# -- the definitions, as loops ---------------------------------------------------


def _pair(value):
    return tuple(value) if isinstance(value, tuple) else (value, value)


def _positions(image, kernel, stride, pad):
    """Top-left corners (in the padded image) of every window, by output index."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = image, kernel, stride, pad
    oh, ow = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    return [((i, j), (i * sh, j * sw)) for i in range(oh) for j in range(ow)], (oh, ow)


def conv2d_by_loops(x, w, b, stride, pad):
    """out[n, f, i, j] = b[f] + Σ x_pad[n, c, i·sh + u, j·sw + v] · w[f, c, u, v],
    summed over c, u, v."""
    (ph, pw), kernel = _pair(pad), w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    corners, size = _positions(x.shape[2:], kernel, _pair(stride), (ph, pw))
    out = np.empty((x.shape[0], w.shape[0], *size))
    for n in range(x.shape[0]):
        for f in range(w.shape[0]):
            for (i, j), (r, c) in corners:
                window = xp[n, :, r : r + kernel[0], c : c + kernel[1]]
                out[n, f, i, j] = np.sum(window * w[f]) + (0 if b is None else b[f])
    return out


def pool_by_loops(x, size, stride, pad, reduce):
    """``reduce`` of each window of the image padded with NaN (padding marked)."""
    kernel, (ph, pw) = _pair(size), _pair(pad)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=np.nan)
    stride = kernel if stride is None else _pair(stride)
    corners, shape = _positions(x.shape[2:], kernel, stride, (ph, pw))
    out = np.empty((*x.shape[:2], *shape))
    for (i, j), (r, c) in corners:
        out[:, :, i, j] = reduce(xp[:, :, r : r + kernel[0], c : c + kernel[1]])
    return out


def max_of_windows(windows):
    return np.nanmax(windows, axis=(2, 3))  # padded cells never win


def mean_of_windows(windows):
    # PyTorch's default count_include_pad=True: padding counts as zeros.
    return np.nan_to_num(windows).mean(axis=(2, 3))


def max_pool_gradient_by_loops(x, upstream, size, stride, pad):
    """Each window's upstream gradient, in equal shares to its maxima."""
    kernel, (ph, pw) = _pair(size), _pair(pad)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    grad = np.zeros_like(xp)
    stride = kernel if stride is None else _pair(stride)
    corners, _ = _positions(x.shape[2:], kernel, stride, (ph, pw))
    for n in range(x.shape[0]):
        for ch in range(x.shape[1]):
            for (i, j), (r, c) in corners:
                window = xp[n, ch, r : r + kernel[0], c : c + kernel[1]]
                is_max = window == window.max()
                grad[n, ch, r : r + kernel[0], c : c + kernel[1]] += (
                    upstream[n, ch, i, j] * is_max / is_max.sum()
                )
    return grad[:, :, ph : ph + x.shape[2], pw : pw + x.shape[3]]


# -- what is drawn: small images, windows that need not divide evenly ----------


def pairs(low, high):
    return st.one_of(st.integers(low, high), st.tuples(*[st.integers(low, high)] * 2))


@st.composite
def images(draw, kernel, pad, values=None):
    """A batch of images that ``kernel`` fits once padded by ``pad``, with
    every remainder of the windows' division (missed last rows)."""
    sides = [
        draw(st.integers(max(1, k - 2 * p), max(1, k - 2 * p) + 3))
        for k, p in zip(_pair(kernel), _pair(pad))
    ]
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *sides)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if values is None:
        return rng.standard_normal(shape)
    return rng.choice(values, size=shape)


@st.composite
def conv_cases(draw):
    kernel = draw(st.tuples(st.integers(1, 4), st.integers(1, 4)))
    stride, pad = draw(pairs(1, 3)), draw(pairs(0, 2))
    x = draw(images(kernel, pad))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    w = rng.standard_normal((draw(st.integers(1, 3)), x.shape[1], *kernel))
    b = rng.standard_normal(len(w)) if draw(st.booleans()) else None
    return x, w, b, stride, pad


@st.composite
def pool_cases(draw, values=None):
    size = draw(pairs(1, 4))
    pad = tuple(draw(st.integers(0, k // 2)) for k in _pair(size))
    stride = draw(st.one_of(st.none(), pairs(1, 3)))
    return draw(images(size, pad, values)), size, stride, pad


# -- the checks, each run on the library and on its known-bad twin --------------


def check_conv2d(conv2d, case):
    x, w, b, stride, pad = case
    got = conv2d(x, w, b, stride=stride, pad=pad).numpy()
    np.testing.assert_allclose(got, conv2d_by_loops(x, w, b, stride, pad), atol=1e-12)


def check_max_pool2d(max_pool2d, case):
    x, size, stride, pad = case
    got = max_pool2d(x, size, stride, pad).numpy()
    expected = pool_by_loops(x, size, stride, pad, max_of_windows)
    np.testing.assert_allclose(got, expected, atol=0)


def check_avg_pool2d(avg_pool2d, case):
    x, size, stride, pad = case
    got = avg_pool2d(x, size, stride, pad).numpy()
    expected = pool_by_loops(x, size, stride, pad, mean_of_windows)
    np.testing.assert_allclose(got, expected, atol=1e-12)


def check_max_pool2d_gradient(max_pool2d, case):
    x, size, stride, pad = case
    xt = Tensor(x, requires_grad=True)
    out = max_pool2d(xt, size, stride, pad)
    upstream = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(upstream)
    expected = max_pool_gradient_by_loops(x, upstream, size, stride, pad)
    np.testing.assert_allclose(xt.grad.numpy(), expected, atol=1e-12)


#: Pixels of few values, so windows hold ties, some below the padding's 0.
FEW_VALUES = [-2.0, -1.0, 0.0, 1.0]


@given(conv_cases())
def test_conv2d_is_the_loop_definition(case):
    check_conv2d(F.conv2d, case)


@given(pool_cases())
def test_max_pool2d_is_the_loop_definition(case):
    check_max_pool2d(F.max_pool2d, case)


@given(pool_cases())
def test_avg_pool2d_is_the_loop_definition(case):
    check_avg_pool2d(F.avg_pool2d, case)


@given(pool_cases(FEW_VALUES))
def test_max_pool2d_gives_each_window_gradient_to_its_maxima_in_shares(case):
    check_max_pool2d_gradient(F.max_pool2d, case)


def search(check, op, cases):
    """Run a check as Hypothesis would, without shrinking: it must fail."""

    @settings(max_examples=200, phases=[Phase.generate], database=None)
    @given(cases)
    def property_of(case):
        check(op, case)

    with pytest.raises(AssertionError):
        property_of()


KNOWN_BAD = {
    "flipped filters": (check_conv2d, bad_ops.conv2d_that_flips_the_filters, None),
    "padding wins (forward)": (
        check_max_pool2d,
        bad_ops.max_pool2d_whose_padding_wins,
        None,
    ),
    "padding wins (gradient)": (
        check_max_pool2d_gradient,
        bad_ops.max_pool2d_whose_padding_wins,
        FEW_VALUES,
    ),
    "every tie the whole gradient": (
        check_max_pool2d_gradient,
        bad_ops.max_pool2d_that_gives_every_tie_the_whole_gradient,
        FEW_VALUES,
    ),
}


@pytest.mark.parametrize("name", list(KNOWN_BAD))
def test_the_checks_catch_each_known_bad_op(name):
    check, op, values = KNOWN_BAD[name]
    search(check, op, conv_cases() if check is check_conv2d else pool_cases(values))


def test_avg_pool2d_check_catches_padding_left_out_of_the_count():
    """count_include_pad=False would be a different (valid) definition; the
    check pins the documented one."""

    def avg_pool2d_without_padding(x, size, stride=None, pad=0):
        real = F.avg_pool2d(np.ones_like(x), size, stride, pad)
        return F.avg_pool2d(x, size, stride, pad) / real

    with pytest.raises(AssertionError):
        check_avg_pool2d(avg_pool2d_without_padding, (np.ones((1, 1, 2, 2)), 2, 1, 1))


def test_a_tie_shares_the_gradient_on_a_fixed_example():
    x = Tensor([[[[1.0, 1.0], [0.0, 1.0]]]], requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[3.0]]]]))
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1.0, 1.0], [0.0, 1.0]])


@pytest.mark.parametrize("dtype", ["int32", "uint8", "bool"])
def test_max_pool2d_of_integer_images_with_padding_keeps_the_dtype(dtype):
    """No -inf exists in an integer dtype: the padding holds the lowest value."""
    x = np.random.default_rng(0).integers(-60 * (dtype == "int32"), 2, (2, 1, 3, 4))
    x = x.astype(dtype)
    out = F.max_pool2d(x, 2, 1, 1)
    assert out.dtype == dtype and not out.requires_grad
    expected = pool_by_loops(x.astype(float), 2, 1, 1, max_of_windows)
    np.testing.assert_array_equal(out.numpy(), expected)


# -- memory (issue 23): where the windows tile the image, nothing is copied ------


def check_max_pool2d_memory(max_pool2d, dtype):
    """The peak of max_pool2d(x, 2) and its gradient stays under 2.5 times x's
    bytes: the gradient (x's size), the upstream, the output and the tie
    counts (a quarter each) and the maxima's mask. A copy of the windows, or a
    second array of x's size in max's rule, goes over. grad() rather than
    backward(), which would copy the gradient into x.grad (a view of it)."""
    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((4, 8, 64, 64)).astype(dtype), requires_grad=True)
    upstream = np.ones((4, 8, 32, 32), dtype=dtype)
    tracemalloc.start()
    try:
        grad(max_pool2d(x, 2), [x], upstream)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.5 * x.data.nbytes, f"peak {peak / x.data.nbytes:.2f} times x"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_max_pool2d_over_tiling_windows_keeps_no_copy_of_them(dtype):
    check_max_pool2d_memory(F.max_pool2d, dtype)


@pytest.mark.parametrize(
    "bad",
    [
        bad_ops.max_pool2d_that_copies_its_windows,
        bad_ops.max_pool2d_whose_max_scales_a_copy,
    ],
    ids=lambda bad: bad.__name__,
)
def test_the_memory_check_catches_each_copy(bad):
    with pytest.raises(AssertionError):
        check_max_pool2d_memory(bad, "float64")
