"""The workspace files: stubs with the library's shapes, one file per task."""

TASK1 = '''"""Task 1: numerical differentiation.

Read docs/tutorial/02_numerical_differentiation.md.
"""

import numpy as np


def numerical_diff(f, x, h=1e-4):
    """Central difference of the scalar function f at x."""
    raise NotImplementedError("see docs/tutorial/02_numerical_differentiation.md")


def numerical_gradient(f, x, h=1e-4):
    """Gradient of scalar f at the float64 array x (any ndim); x is restored."""
    raise NotImplementedError("see docs/tutorial/02_numerical_differentiation.md")
'''

TASK2 = '''"""Task 2: elementwise ops and their derivatives.

Read docs/tutorial/04_backprop.md.
"""

from tinygrad_edu import Function


class Mul(Function):
    @staticmethod
    def forward(ctx, x, y):
        raise NotImplementedError("see docs/tutorial/04_backprop.md")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("see docs/tutorial/04_backprop.md")


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        raise NotImplementedError("see docs/tutorial/04_backprop.md")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("see docs/tutorial/04_backprop.md")
'''

TASK3 = '''"""Task 3: broadcasting, summing a gradient back.

Read docs/tutorial/04_backprop.md.
"""

import numpy as np


def sum_to_shape(x, shape):
    """Sum x down to shape, which broadcasts to x.shape."""
    raise NotImplementedError("see docs/tutorial/04_backprop.md")
'''

TASK4 = '''"""Task 4: matmul, any of 1-D, 2-D and batched.

Read docs/tutorial/05_two_layer_net.md.
"""

from tinygrad_edu import Function


class Matmul(Function):
    @staticmethod
    def forward(ctx, x, w):
        raise NotImplementedError("see docs/tutorial/05_two_layer_net.md")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("see docs/tutorial/05_two_layer_net.md")
'''

TASK5 = '''"""Task 5: stable softmax and softmax-cross-entropy.

Read docs/tutorial/01_loss_functions.md.
"""

import numpy as np

from tinygrad_edu import Function


class Softmax(Function):
    """y = e**x / sum(e**x) along axis; vjp: y * (g - sum(g * y)).

    Must not overflow: softmax([1000, 1001]) is [0.27, 0.73].
    """

    @staticmethod
    def forward(ctx, x, *, axis=-1):
        raise NotImplementedError("see docs/tutorial/01_loss_functions.md")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("see docs/tutorial/01_loss_functions.md")


class SoftmaxCrossEntropy(Function):
    """L = -sum(t * log softmax(x)) / N for logits x of shape (N, C) or (C,).

    t: integer labels of shape (N,) (or () for one row), or rows of class
    weights shaped like x, which need not sum to 1. Then
    dL/dx = (softmax(x) * sum_c(t) - t) / N and dL/dt = -log softmax(x) / N
    (None for labels).
    """

    @staticmethod
    def forward(ctx, x, t):
        raise NotImplementedError("see docs/tutorial/01_loss_functions.md")

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("see docs/tutorial/01_loss_functions.md")
'''

TASK6 = '''"""Task 6: the backward walk.

Read docs/tutorial/04_backprop.md ("What the backward walk does").

A tensor t computed by an op has a node, t._node (None for a leaf); the node's
inputs are t._node.inputs. run_rule(t, grad) runs t's backward rule with the
gradient of t and returns (input, gradient) pairs, each gradient already of
its input's shape, for the inputs that need one.
"""

import numpy as np

from tinygrad_edu import Tensor
from tinygrad_edu.exercises import run_rule


def topological_order(root):
    """The computed tensors reachable from root, once each, each after its inputs.

    No recursion: a chain of thousands of ops must work.
    """
    raise NotImplementedError("see docs/tutorial/04_backprop.md")


def backward(root):
    """Add d(root)/d(leaf) to leaf.grad for every leaf that requires grad.

    Start from a gradient of ones for root; run each computed tensor's rule once,
    after all the gradients flowing into it have arrived (a tensor used twice
    gets the sum); then free its node with t._node.release().
    """
    raise NotImplementedError("see docs/tutorial/04_backprop.md")
'''

TASK7 = '''"""Task 7: TwoLayerNet, with your ops and your backward walk.

Read docs/tutorial/05_two_layer_net.md. Train it with the book's loop:
python -m tinygrad_edu.exercises train <this folder>
"""

import numpy as np
from task4_matmul import Matmul
from task5_softmax import SoftmaxCrossEntropy
from task6_walk import backward

from tinygrad_edu import Tensor, no_grad


class TwoLayerNet:
    """input -> affine -> sigmoid -> affine -> softmax, the book's API."""

    def __init__(
        self, input_size, hidden_size, output_size, weight_init_std=0.01, rng=None
    ):
        randn = (rng or np.random).standard_normal
        self.params = {
            "W1": weight_init_std * randn((input_size, hidden_size)),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * randn((hidden_size, output_size)),
            "b2": np.zeros(output_size),
        }

    def tensors(self):
        """The params as Tensors that share their arrays and require grad."""
        return {k: Tensor(a, requires_grad=True) for k, a in self.params.items()}

    def predict(self, x, p):
        """Class scores of the batch x (a Tensor) with parameter Tensors p.

        Affine with your Matmul (Matmul.apply(x, w)) plus the bias, sigmoid
        (Tensor's .sigmoid(), or 1 / (1 + your Exp of -a)), affine again.
        """
        raise NotImplementedError("see docs/tutorial/05_two_layer_net.md")

    def loss(self, x, t):
        """The mean cross entropy of the batch, a float."""
        with no_grad():
            scores = self.predict(Tensor(x), self.tensors())
        return SoftmaxCrossEntropy.apply(scores, Tensor(t)).item()

    def gradient(self, x, t):
        """The loss's gradient for every parameter, by your backward walk.

        Returns {"W1": ndarray, "b1": ..., "W2": ..., "b2": ...}.
        """
        raise NotImplementedError("see docs/tutorial/05_two_layer_net.md")

    def accuracy(self, x, t):
        with no_grad():
            scores = self.predict(Tensor(x), self.tensors())
        return float(np.mean(np.argmax(scores.data, axis=1) == t))
'''

FILES = {
    1: ("task1_numerical.py", TASK1),
    2: ("task2_elementwise.py", TASK2),
    3: ("task3_broadcasting.py", TASK3),
    4: ("task4_matmul.py", TASK4),
    5: ("task5_softmax.py", TASK5),
    6: ("task6_walk.py", TASK6),
    7: ("task7_two_layer_net.py", TASK7),
}
