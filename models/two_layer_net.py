"""The book's two-layer network (chapter 4.5), with backprop done by autograd.

The API is the book's, so its training loop runs unchanged::

    grad = network.gradient(x_batch, t_batch)
    for key in ('W1', 'b1', 'W2', 'b2'):
        network.params[key] -= learning_rate * grad[key]

``params`` holds plain ndarrays. ``gradient`` wraps them in Tensors (no copy),
records affine → sigmoid → affine → softmax-cross-entropy and calls
``backward()``: chapter 5's hand-derived formulas are not written anywhere here.
The forward pass runs inside name scopes (``TwoLayerNet``, ``Affine(784→50)``,
``Affine(50→10)``), so a drawing of the loss groups the ops as the book's
layers: ``python -m tinygrad_edu.viz models.two_layer_net:example_loss
graph.svg`` draws it from the repository root.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from models.classifier import Classifier
from tinygrad_edu import Tensor
from tinygrad_edu.recording import name_scope


class TwoLayerNet(Classifier):
    """input → affine → sigmoid → affine → softmax, trained on cross entropy.

    >>> net = TwoLayerNet(4, 3, 2, rng=np.random.default_rng(0))
    >>> x, t = np.ones((5, 4)), np.array([0, 1, 1, 0, 1])
    >>> {k: g.shape for k, g in net.gradient(x, t).items()}
    {'W1': (4, 3), 'b1': (3,), 'W2': (3, 2), 'b2': (2,)}
    >>> net
    TwoLayerNet(4, 3, 2, weight_init_std=0.01)
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float = 0.01,
        *,
        dtype: Any = np.float64,
        rng: np.random.Generator | None = None,
    ) -> None:
        # rng=None draws from np.random, so the book's np.random.seed() applies.
        self.weight_init_std = weight_init_std
        randn = (rng or np.random).standard_normal
        w1 = weight_init_std * randn((input_size, hidden_size))
        w2 = weight_init_std * randn((hidden_size, output_size))
        self.params = {
            "W1": w1.astype(dtype),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": w2.astype(dtype),
            "b2": np.zeros(output_size, dtype=dtype),
        }

    def parameter_tensors(self) -> dict[str, Tensor]:
        # Tensors around the arrays of params themselves (no copy), so the book's
        # in-place update of params trains the net.
        return {
            k: Tensor(a, requires_grad=True, name=k) for k, a in self.params.items()
        }

    def scores(self, x: Tensor, p: dict[str, Tensor]) -> Tensor:
        (n_in, n_hidden), n_out = p["W1"].shape, p["W2"].shape[1]
        with name_scope(type(self).__name__):
            with name_scope(f"Affine({n_in}→{n_hidden})"):
                a1 = x @ p["W1"] + p["b1"]
            z1 = a1.sigmoid()
            with name_scope(f"Affine({n_hidden}→{n_out})"):
                return z1 @ p["W2"] + p["b2"]

    def __repr__(self) -> str:
        # The sizes as the arrays in params have them now (they can be replaced).
        (n_in, n_hidden), n_out = self.params["W1"].shape, self.params["W2"].shape[1]
        dtype = self.params["W1"].dtype
        extra = "" if dtype == np.float64 else f", dtype={dtype.name}"
        return (
            f"{type(self).__name__}({n_in}, {n_hidden}, {n_out}, "
            f"weight_init_std={self.weight_init_std:g}{extra})"
        )


def example_loss(batch_size: int = 100, hidden_size: int = 50) -> Tensor:
    """The recorded loss of a new 784-``hidden_size``-10 net on a random batch.

    What the graph pictures show (``docs/graphs.md``, ``python -m
    tinygrad_edu.viz models.two_layer_net:example_loss graph.svg``): a graph
    needs only shapes, so random numbers stand in for the MNIST images.
    """
    rng = np.random.default_rng(0)
    net = TwoLayerNet(784, hidden_size, 10, rng=rng)
    x, t = rng.random((batch_size, 784)), rng.integers(0, 10, batch_size)
    return net.loss_graph(x, t)[0]
