"""Known-bad ops, shared by the tests: every check must catch at least one of them.

A check that passes on all of these proves nothing; each property test has a
companion that runs the same body on one of them and asserts that it fails.
Each op carries ``domain``/``signature`` so ``testing.op_inputs`` can draw for it.
"""

import numpy as np

from tinygrad_edu import Function
from tinygrad_edu.domains import REAL


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
