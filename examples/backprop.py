"""The README's example: a small graph, backward(), and the gradients.

Run from the repository root: ``python examples/backprop.py``.
"""

import numpy as np

from tinygrad_edu import Tensor

x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True, name="x")
w = Tensor([[0.5], [-1.0]], requires_grad=True, name="w")
b = Tensor([0.1], requires_grad=True, name="b")
loss = ((x @ w + b).sigmoid() ** 2).mean()
loss.backward()
print("loss   ", loss.item())
print("dL/dw\n", w.grad.numpy())
print("dL/db  ", b.grad.numpy())

# The same gradients derived by hand: s = sigmoid(xw + b), L = mean(s²).
s = 1 / (1 + np.exp(-(x.data @ w.data + b.data)))
d_pre = 2 * s * s * (1 - s) / s.size
print(
    "by hand",
    np.allclose(w.grad.numpy(), x.data.T @ d_pre),
    np.allclose(b.grad.numpy(), d_pre.sum(0)),
)
