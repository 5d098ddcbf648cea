"""Known-bad ops, shared by the tests: every check must catch at least one of them.

A check that passes on all of these proves nothing; each property test has a
companion that runs the same body on one of them and asserts that it fails.
Each op carries ``domain``/``signature`` so ``testing.op_inputs`` can draw for it.
``Cube`` is the right custom op the tests of the custom-op API start from.
"""

import numpy as np

from tinygrad_edu import Function, Tensor, nn, ops
from tinygrad_edu import functional as F
from tinygrad_edu.domains import REAL
from tinygrad_edu.tensor import as_tensor


class Cube(Function):
    """x ** 3, right: a user's custom op with no declarations (tests add them)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2


class MulWithSwappedBackward(Function):
    """x * y whose backward returns the gradients in the wrong order.

    Invisible only where x == y elementwise (after broadcasting).
    """

    domain = (REAL, REAL)
    signature = "(),()->()"

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * x, grad * y


class SquareWithDetachedBackward(Function):
    """x² whose backward is right in value but detaches x, so d²/dx² comes out 0."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2 * x.detach()


class ExpThatWritesIntoItsInput(Function):
    """exp that reuses its input's memory: wrong whenever the input is needed again."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        np.exp(x, out=x)
        ctx.save_for_backward(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class AddThatForgetsAnInput(Function):
    """x + y whose backward returns no gradient for y."""

    domain = (REAL, REAL)
    signature = "(),()->()"

    @staticmethod
    def forward(ctx, x, y):
        return x + y

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class DoubleThatForgetsTheTwo(Function):
    """y = 2x with a backward that forgets the 2: wrong at every input."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        return 2 * x

    @staticmethod
    def backward(ctx, grad):
        return grad


class ExpThatUpcasts(Function):
    """exp whose forward returns float64 whatever its input: float32 in, float64 out."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x.astype(np.float64))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


class TanhWhoseBackwardCountsItsCalls(Function):
    """tanh whose backward is scaled by how often it ran: right only the first time.

    ``backward()`` and ``grad()`` on the same graph then disagree, which the
    accumulation property must notice. Reset ``calls`` before each use.
    """

    domain = (REAL,)
    signature = "()->()"
    calls = 0

    @staticmethod
    def forward(ctx, x):
        out = np.tanh(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        TanhWhoseBackwardCountsItsCalls.calls += 1
        return grad * (1 - out * out) * TanhWhoseBackwardCountsItsCalls.calls


class SquareThatForgetsTheTwo(Function):
    """y = x², but the rule forgets the factor 2 (d(x²)/dx is 2x, not x)."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * x


# -- the bugs that once reached main: each must be caught by the properties ------


class TransposeWithoutNormalisingAxes(ops.Transpose):
    """transpose whose backward inverts the permutation as given, negative axes
    and all: right for (1, 0), wrong for (-1, 0) or (0, -1, -2)."""

    @staticmethod
    def forward(ctx, x, *, axes=None):
        ctx.axes = None if axes is None else tuple(axes)
        return np.transpose(x, ctx.axes)

    @staticmethod
    def backward(ctx, grad):
        if ctx.axes is None:
            return grad.transpose()
        return grad.transpose(np.argsort(ctx.axes).tolist())


class SoftmaxCrossEntropyWithoutTheTargetSum(ops.SoftmaxCrossEntropy):
    """softmax_cross_entropy whose logits gradient is (p - t)/N: right only when
    each target row sums to 1 (labels, one-hot and probability rows)."""

    @staticmethod
    def backward(ctx, grad):
        x, *t = ctx.saved_tensors
        rows = x.reshape(1, -1) if x.ndim == 1 else x
        n = rows.shape[0]
        t = Tensor(ctx.one_hot) if ctx.one_hot is not None else t[0]
        grad_x = (rows.softmax(axis=-1) - t.reshape(rows.shape)) * (grad / n)
        grad_t = None
        if ctx.needs_input_grad[1]:
            grad_t = (-rows.log_softmax(axis=-1) * (grad / n)).reshape(t.shape)
        return grad_x.reshape(x.shape), grad_t


class MulThatFindsItsSavedArraysBySearch(ops.Mul):
    """mul whose backward finds which input a saved array was by searching for
    one that shares its memory: when both inputs share one array it takes the
    first for both, so the mixed second derivatives come out wrong."""

    @staticmethod
    def backward(ctx, grad):
        x, y = (
            next(t for t in ctx.inputs if np.shares_memory(t.data, saved))
            for saved in ctx.saved_arrays
        )
        need_x, need_y = ctx.needs_input_grad
        return (grad * y if need_x else None), (grad * x if need_y else None)


class MulWrongWhenOnlyTheSecondNeedsAGradient(ops.Mul):
    """mul whose gradient for y is grad * y when x needs none: right for every
    needs_input_grad pattern but (False, True), which was never drawn."""

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        grad_y = grad * x if need_x else grad * y
        return (grad * y if need_x else None), (grad_y if need_y else None)


class MulWrongForOneTensorTwice(ops.Mul):
    """mul that halves its gradients when both operands are one Tensor
    (x * x): right for two Tensors sharing one array, which was all that the
    aliasing cases drew."""

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        half = 0.5 if ctx.inputs[0] is ctx.inputs[1] else 1.0
        return grad * y * half, grad * x * half


class MulWrongInFloat32Only(ops.Mul):
    """mul whose gradients are half in float32: gradcheck works in float64,
    so only a comparison of float32 with float64 gradients sees it."""

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        factor = 0.5 if grad.dtype == np.float32 else 1.0
        return grad * y * factor, grad * x * factor


class PowWithoutTheGuardAtZero(ops.Pow):
    """pow whose derivative in x is y * x**(y-1) everywhere: NaN at x = 0, y = 0
    (0 * inf), and for x**1 the second derivative at 0 is NaN too."""

    @staticmethod
    def backward(ctx, grad):
        x, y, out = ctx.saved_tensors
        need_x, need_y = ctx.needs_input_grad
        grad_x = grad * y * x ** (y - 1) if need_x else None
        grad_y = grad * out * x.log() if need_y else None
        return grad_x, grad_y


class CastThatKeepsTheGraph(ops.Cast):
    """cast whose result stays in the graph even when it is an integer: an
    integer tensor that 'requires grad' and passes gradients through."""

    @classmethod
    def apply(cls, x, **params):
        out = super().apply(x, **params)
        if out.requires_grad or not x.requires_grad:
            return out
        ctx = cls()
        ctx.kwargs, ctx._saved = params, ()
        ctx.input_dtype = x.dtype
        ctx.inputs, ctx._distinct, ctx._holds = (x,), None, None
        ctx.needs_input_grad, ctx.scope, ctx._output = (True,), (), None
        return Tensor._wrap(out.data, ctx)  # the engine's old mistake, by hand


class MulThatDifferentiatesIntegerOperands(ops.Mul):
    """mul that marks every operand as needing a gradient, integers included:
    x * n with an integer n then leaves an integer gradient in n.grad."""

    @classmethod
    def apply(cls, *inputs, **params):
        out = super().apply(*inputs, **params)
        if out._node is not None:
            out._node.needs_input_grad = (True,) * len(inputs)
        return out


# -- the gradient-testing toolkit's own fixtures (issue 27) ----------------------


class SquareWhoseBackwardUsesData(Function):
    """x² whose backward computes on the arrays (``.data``) and returns an
    ndarray: the first derivative is right, but nothing is recorded, so it
    cannot be differentiated again."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.data * 2 * x.data


class SigmoidThatSavesAnArrayItComputed(Function):
    """sigmoid that saves a second copy of its result, not the result itself:
    ``saved_tensors`` gives that array back as a constant, so the first
    derivative is right and the second is 0."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(1 / (1 + np.exp(-x)))
        return 1 / (1 + np.exp(-x))

    @staticmethod
    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        return grad * s * (1 - s)


class IdentityWithASlightlyWrongGradient(Function):
    """y = x whose gradient is 1.0009: within gradcheck's tolerance on its own,
    but wrong enough to fail where a downstream subtraction cancels most of
    the derivative (blame must still point at it)."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, grad):
        return grad * 1.0009


class AddWithTheBiasGradientTooSmall(Function):
    """x + b whose gradient for b (the bias) is 10 times too small."""

    domain = (REAL, REAL)
    signature = "(),()->()"

    @staticmethod
    def forward(ctx, x, b):
        return x + b

    @staticmethod
    def backward(ctx, grad):
        return grad, grad * 0.1


class SoftplusThatSaturatesTooEarly(Function):
    """softplus whose backward treats x > 4 as saturated (slope 1): off by
    1 - sigmoid(x), 1.8% at 4, so only inputs drawn beyond 4 show it."""

    domain = (REAL,)
    signature = "()->()"

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        saturated = Tensor((x.data > 4).astype(x.dtype))
        return grad * (x.sigmoid() * (1 - saturated) + saturated)


class WhereThatSendsTheGradientToBoth(ops.Where):
    """where(c, x, y) whose backward forgets the condition for y: the gradient
    of each element goes to both inputs. Caught only where the drawn
    condition holds somewhere (a condition of all 0 hides it)."""

    @staticmethod
    def backward(ctx, grad):
        return None, grad * Tensor(ctx.mask), grad


# -- convolution and pooling (issue 23) ------------------------------------------


class Col2imThatForgetsOverlappingWindows(ops.Col2im):
    """col2im that writes each window cell instead of adding it: where windows
    overlap (stride < window) the last one wins, so im2col's gradient is wrong."""

    @staticmethod
    def forward(ctx, cols, *, shape, size, stride=1, pad=0):
        n, c, h, wd = shape
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = ops.windows(
            "col2im", shape, size, stride, pad
        )
        windows_ = cols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
        out = np.zeros((n, c, h + 2 * ph, wd + 2 * pw), dtype=cols.dtype)
        for u in range(kh):
            for v in range(kw):
                out[:, :, u : u + sh * oh : sh, v : v + sw * ow : sw] = windows_[
                    :, :, u, v
                ]
        return out[:, :, ph : ph + h, pw : pw + wd]


class Col2imThatReadsChannelsLast(ops.Col2im):
    """col2im that reads each row as (KH, KW, C) where im2col writes (C, KH, KW):
    right only for one channel or a 1x1 window."""

    @staticmethod
    def forward(ctx, cols, *, shape, size, stride=1, pad=0):
        kh, kw = ops.pair("col2im", "the window size", size, 1)
        rows = cols.reshape(len(cols), kh, kw, shape[1]).transpose(0, 3, 1, 2)
        params = {"shape": shape, "size": size, "stride": stride, "pad": pad}
        return ops.Col2im.forward(ctx, rows.reshape(cols.shape), **params)


def _pool_with(max_of, x, size, stride=None, pad=0, pad_value=-np.inf):
    """max_pool2d by im2col, as the library computes windows that do not tile
    x, with its Max op and padding fill replaceable: the pieces the bad pools
    below get wrong."""
    x, w = F._pool("max_pool2d", x, size, stride, pad)
    rows = F._rows(x, w)
    if any(w.pad):
        ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
        real = ops.Im2col.apply(ones, size=w.kernel, stride=w.stride, pad=w.pad).data
        rows = rows + np.where(real == 1, 0, pad_value).astype(x.dtype)[:, None, :]
    return F._pooled(max_of(rows, axis=-1), w)


class MaxThatGivesEveryTieTheWholeGradient(ops.Max):
    """max whose gradient goes in full to each of k tied maxima: k times too much."""

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_arrays
        kept = ops._kept_shape(x.shape, ctx.axes)
        mask = Tensor((x == out).astype(x.dtype))
        return grad.reshape(kept).broadcast_to(x.shape) * mask


def max_pool2d_that_gives_every_tie_the_whole_gradient(x, size, stride=None, pad=0):
    """max_pool2d on a max that hands each tied maximum the whole gradient."""
    return _pool_with(MaxThatGivesEveryTieTheWholeGradient.apply, x, size, stride, pad)


def max_pool2d_whose_padding_wins(x, size, stride=None, pad=0):
    """max_pool2d that pads with zeros as im2col does, so a window of negative
    pixels returns the padding's 0 and its gradient is lost in the padding."""
    return _pool_with(ops.Max.apply, x, size, stride, pad, pad_value=0.0)


def max_pool2d_that_copies_its_windows(x, size, stride=None, pad=0):
    """max_pool2d that copies every window (im2col) even where the windows tile
    x: right, but the graph holds a second copy of x."""
    return _pool_with(ops.Max.apply, x, size, stride, pad)


class MaxThatScalesACopyOfItsShares(ops.Max):
    """max whose backward makes a float array of tie shares and then
    multiplies it by the gradient: right, but two arrays of x's size, not one."""

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_arrays
        is_max = x == out
        share = is_max / np.sum(is_max, axis=ctx.axes, keepdims=True, dtype=x.dtype)
        kept = ops._kept_shape(x.shape, ctx.axes)
        return grad.reshape(kept).broadcast_to(x.shape) * Tensor(share)


def max_pool2d_whose_max_scales_a_copy(x, size):
    """max_pool2d over windows that tile x (the only case it takes), on the
    max above."""
    x, w = F._pool("max_pool2d", x, size, None, 0)
    return MaxThatScalesACopyOfItsShares.apply(F._tiles(x, w), axis=(3, 5))


def conv2d_that_flips_the_filters(x, w, b=None, stride=1, pad=0):
    """A true convolution (filters rotated 180°) where the book and PyTorch
    cross-correlate: consistent gradients, the wrong forward."""
    return F.conv2d(x, as_tensor(w)[:, :, ::-1, ::-1], b, stride=stride, pad=pad)


class BatchNorm1dWithDetachedStatistics(nn.BatchNorm1d):
    """Batch Norm whose batch mean and variance are constants to the gradient:
    the forward is right, the gradient misses the path through the statistics."""

    @staticmethod
    def _batch_statistics(x, axes):
        mean, var = nn.BatchNorm1d._batch_statistics(x, axes)
        return mean.detach(), var.detach()
