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

FILES = {
    1: ("task1_numerical.py", TASK1),
    2: ("task2_elementwise.py", TASK2),
    3: ("task3_broadcasting.py", TASK3),
    4: ("task4_matmul.py", TASK4),
}
